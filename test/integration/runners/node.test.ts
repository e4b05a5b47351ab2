import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { metricsUrl, scrapeUntil } from '../../helpers/observe.js';
import { addressOf, freePort, hasNginx, type Nginx, startNginx } from '../../helpers/peers.js';
import { sampleValue } from '../../helpers/prometheus.js';
import { assertGracefulReload } from '../../helpers/reload.js';
import { readStats } from '../../helpers/stats.js';
import {
  alive,
  FIXTURES,
  fetchRaw,
  requireTool,
  startTsgi,
  TsgiProcess as Tsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const NODE = `${FIXTURES}/node`;
const EXPRESS = `${NODE}/express-app.cjs`;

function start(app: string, extra: string[] = []): Promise<TsgiProcess> {
  return startTsgi(['--http-socket', '127.0.0.1:0', '--node-app', app, ...extra]);
}

/** Resolves with the time each body chunk arrived, ms since the request started, and the text. */
function timedChunks(url: string): Promise<{ at: number[]; text: string; status: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    request(url, (res) => {
      const at: number[] = [];
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        at.push(Date.now() - t0);
        text += d;
      });
      res.on('end', () => resolve({ at, text, status: res.statusCode! }));
    })
      .on('error', reject)
      .end();
  });
}

describe('node runner: a real Express app', () => {
  test('routing, params and query, JSON body, error handler, cookies, proxy headers', async () => {
    const tsgi = await start(EXPRESS, ['--processes', '2']);
    try {
      const base = tsgi.url();
      const home = await fetchRaw(`${base}/`);
      assert.equal(home.status, 200);
      assert.match(home.text, /^hello from express, pid \d+$/);
      assert.equal(home.headers['x-powered-by'], 'Express');

      const user = await fetchRaw(`${base}/users/42?tab=a&tab=b`, {
        headers: { 'X-Forwarded-For': '203.0.113.9' },
      });
      assert.equal(user.status, 200);
      assert.deepEqual(JSON.parse(user.text), {
        id: '42',
        q: { tab: ['a', 'b'] },
        proto: 'http',
        host: '127.0.0.1',
      });

      const echo = await fetchRaw(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'tsgi', n: [1, 2, 3], nested: { ok: true } }),
      });
      assert.equal(echo.status, 201);
      assert.deepEqual(JSON.parse(echo.text), {
        got: { name: 'tsgi', n: [1, 2, 3], nested: { ok: true } },
        type: 'application/json',
        length: '48',
      });

      const boom = await fetchRaw(`${base}/boom`);
      assert.equal(boom.status, 500);
      assert.deepEqual(JSON.parse(boom.text), {
        error: 'boom in a route',
        handledBy: 'express error handler',
      });

      const missing = await fetchRaw(`${base}/nope`);
      assert.equal(missing.status, 404);
      assert.match(missing.text, /Cannot GET \/nope/);

      const cookie = await fetchRaw(`${base}/cookie`);
      assert.deepEqual(cookie.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
      // hop-by-hop headers of the master↔worker connection do not leak to the client
      assert.equal(cookie.headers['keep-alive'], undefined);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('streaming both ways: chunks arrive as written, 8 MiB down, a chunked upload counted', async () => {
    const tsgi = await start(EXPRESS);
    try {
      const base = tsgi.url();
      const s = await timedChunks(`${base}/stream?n=20`);
      assert.equal(s.status, 200);
      assert.equal(s.text, `${[...Array(20).keys()].map((i) => `chunk ${i}\n`).join('')}done\n`);
      assert.ok(s.at.length > 1, 'the body came in more than one piece');

      const big = await fetchRaw(`${base}/big?mb=8`);
      assert.equal(big.status, 200);
      assert.equal(big.body.length, 8 * 1024 * 1024);

      async function* upload() {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(32 * 1024, i);
      }
      const up = await fetchRaw(`${base}/count`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        body: upload(),
      });
      assert.equal(up.status, 200);
      assert.deepEqual(JSON.parse(up.text), { bytes: 64 * 32 * 1024 });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a crash costs its request a 502; the worker is respawned and serves again', async () => {
    const tsgi = await start(EXPRESS);
    try {
      const base = tsgi.url();
      const before = Number((await fetchRaw(`${base}/pid`)).text);
      const r = await fetchRaw(`${base}/crash`);
      assert.equal(r.status, 502);
      await tsgi.waitForLine(/Error: uncaught: the worker dies/);
      await tsgi.waitForLine(new RegExp(`worker 1 \\(pid ${before}\\) died \\(exit code 1\\)`));
      await waitFor(
        async () => (await fetchRaw(`${base}/pid`).catch(() => ({ status: 0 }))).status === 200,
        10_000,
        'the respawned worker',
      );
      const after = Number((await fetchRaw(`${base}/pid`)).text);
      assert.notEqual(after, before);
      assert.ok(!alive(before));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('node runner: app shapes', () => {
  test('an unmodified ESM script that calls listen(3000) itself is captured', async () => {
    const tsgi = await start(`${NODE}/listen-app.mjs`);
    try {
      const r = await fetchRaw(`${tsgi.url()}/x/y?z=1`);
      assert.equal(r.status, 200);
      const j = JSON.parse(r.text);
      assert.deepEqual(j, {
        listened: true,
        url: '/x/y?z=1',
        method: 'GET',
        forwardedFor: '127.0.0.1',
        argv1: `${NODE}/listen-app.mjs`,
        esm: true,
      });
      const post = await fetchRaw(`${tsgi.url()}/post`, { method: 'POST', body: 'x'.repeat(1000) });
      assert.equal(post.text, 'posted 1000 bytes');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a CommonJS request listener and a Koa-style callback() export', async () => {
    const plain = await start(`${NODE}/plain-handler.cjs`);
    try {
      assert.equal((await fetchRaw(`${plain.url()}/a?b`)).text, 'plain GET /a?b cjs=true');
    } finally {
      assert.equal(await plain.stop(), 0);
    }
    const koa = await start(`${NODE}/koa-style.mjs`);
    try {
      assert.equal((await fetchRaw(`${koa.url()}/`)).text, 'served through callback()');
    } finally {
      assert.equal(await koa.stop(), 0);
    }
  });

  test("a Fetch-style app (Hono's shape): Request in with its body, Response out streamed, cookies kept", async () => {
    const tsgi = await start(`${NODE}/fetch-app.mjs`);
    try {
      const base = tsgi.url();
      const echo = await fetchRaw(`${base}/echo?x=1`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ pad: 'z'.repeat(100_000) }),
      });
      assert.equal(echo.status, 200);
      assert.deepEqual(JSON.parse(echo.text), {
        method: 'POST',
        url: `http://${new URL(base).host}/echo?x=1`,
        length: 100_010,
        type: 'application/json',
        forwardedFor: '127.0.0.1',
      });
      const made = await fetchRaw(`${base}/`);
      assert.equal(made.status, 201);
      assert.equal(made.text, 'created\n');
      assert.deepEqual(made.headers['set-cookie'], ['a=1', 'b=2; Path=/']);
      const streamed = await timedChunks(`${base}/stream`);
      assert.equal(streamed.text, 'part 0\npart 1\npart 2\npart 3\npart 4\n');
      assert.ok(streamed.at.length >= 3, `the parts arrived as written (${streamed.at.length} chunks)`);
      assert.equal((await fetchRaw(`${base}/throw`)).status, 500);
      await tsgi.waitForLine(/Error: fetch handler failed/);
      assert.equal((await fetchRaw(`${base}/`)).status, 201);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a TypeScript app through node-loader', async () => {
    const tsgi = new Tsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--node-app',
      `${NODE}/ts-app.ts`,
      '--node-loader',
      `${NODE}/ts-loader.mjs`,
    ]);
    try {
      // each worker loads the typescript package (9 MB of JavaScript) before the app: slow on a busy machine
      await tsgi.ready(45_000);
      assert.deepEqual(JSON.parse((await fetchRaw(`${tsgi.url()}/fr`)).text), {
        text: 'bonjour',
        lang: 'fr',
        typescript: true,
      });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('an app that cannot load, or serves nothing: a clear error and exit 1, no respawn loop', async () => {
    const broken = new Tsgi(['--http-socket', '127.0.0.1:0', '--node-app', `${NODE}/broken.mjs`]);
    assert.equal(await broken.wait(15_000), 1);
    assert.match(broken.output, /cannot load .*broken\.mjs:\nError \[ERR_MODULE_NOT_FOUND\]/);
    assert.match(broken.output, /the app could not be loaded/);
    assert.equal((broken.output.match(/spawned worker 1/g) ?? []).length, 1);

    const nothing = new Tsgi(['--http-socket', '127.0.0.1:0', '--node-app', `${NODE}/no-listener.cjs`]);
    assert.equal(await nothing.wait(15_000), 1);
    assert.match(
      nothing.output,
      /no-listener\.cjs neither exports a request listener nor called listen\(\) on an http\.Server/,
    );
  });
});

describe('node runner: supervised like every worker', () => {
  test('harakiri: a blocked event loop gets 504 and the worker is killed and replaced', async () => {
    const tsgi = await start(EXPRESS, [
      '--harakiri',
      '1',
      '--stats',
      '127.0.0.1:0',
      '--prometheus',
      '127.0.0.1:0',
    ]);
    try {
      const base = tsgi.url();
      const before = Number((await fetchRaw(`${base}/pid`)).text);
      const r = await fetchRaw(`${base}/spin?ms=60000`);
      assert.equal(r.status, 504);
      await tsgi.waitForLine(new RegExp(`HARAKIRI ON WORKER 1 \\(pid: ${before}, try: 1\\)`));
      await tsgi.waitForLine(/worker 1 \(pid \d+\) exited \(harakiri, killed by SIGKILL\)/);
      await waitFor(() => !alive(before), 5000, 'the stuck worker to die');
      const after = await fetchRaw(`${base}/pid`);
      assert.equal(after.status, 200);
      assert.notEqual(Number(after.text), before);
      const stats = await readStats(tsgi);
      assert.equal(stats.workers.find((w) => w.id === 1)?.harakiri_count, 1);
      const metrics = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_harakiri_total') === 1,
        'the harakiri counted',
      );
      assert.equal(sampleValue(metrics, 'tsgi_worker_respawns_total', { reason: 'harakiri' }), 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('max-requests recycles a Node worker without failing a request', async () => {
    const tsgi = await start(EXPRESS, ['--max-requests', '3', '--min-worker-lifetime', '0']);
    try {
      const base = tsgi.url();
      const first = Number((await fetchRaw(`${base}/pid`)).text);
      for (let i = 0; i < 2; i++) assert.equal((await fetchRaw(`${base}/pid`)).status, 200);
      await tsgi.waitForLine(/recycling worker 1 \(pid \d+\): max-requests reached \(3 >= 3\)/);
      // the old worker serves until its successor is ready, then finishes and exits
      await tsgi.waitForLine(/worker 1 \(pid \d+\) exited \(max-requests, exit code 0\)/);
      const next = await fetchRaw(`${base}/pid`);
      assert.equal(next.status, 200);
      assert.notEqual(Number(next.text), first);
      assert.ok(!alive(first));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('SIGHUP: in-flight requests finish on the old workers, new workers take over', async () => {
    const tsgi = await start(EXPRESS, ['--processes', '2']);
    try {
      await assertGracefulReload(tsgi, '/sleep?ms=1500', 'slept', '/pid');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('the client leaving mid-response frees the slot; the worker keeps serving', async () => {
    const tsgi = await start(EXPRESS, ['--node-concurrency', '1']);
    try {
      const base = tsgi.url();
      await new Promise<void>((resolve, reject) => {
        const req = request(`${base}/big?mb=64`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', (err) => (req.destroyed ? resolve() : reject(err)));
        req.end();
      });
      // with one slot, the next request is served only if the abandoned one let go of it
      const r = await fetchRaw(`${base}/`, { timeoutMs: 5000 });
      assert.equal(r.status, 200);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

/** A connected WebSocket client and the messages it receives, in order. */
async function wsConnect(url: string): Promise<{ ws: WebSocket; next: () => Promise<Buffer | string> }> {
  const ws = new WebSocket(url);
  const queue: (Buffer | string)[] = [];
  const waiting: ((m: Buffer | string) => void)[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    const m = binary ? data : data.toString();
    const w = waiting.shift();
    if (w) w(m);
    else queue.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const next = () =>
    new Promise<Buffer | string>((resolve, reject) => {
      const m = queue.shift();
      if (m !== undefined) return resolve(m);
      waiting.push(resolve);
      ws.once('close', () => reject(new Error('closed')));
    });
  return { ws, next };
}

function closed(ws: WebSocket): Promise<void> {
  return ws.readyState === WebSocket.CLOSED
    ? Promise.resolve()
    : new Promise((r) => ws.once('close', () => r()));
}

/** A Node app in a temp dir whose answers carry `version.txt` (read at load) and the worker's pid. */
const VERSIONED_APP = `const fs = require('node:fs');
const version = fs.readFileSync(__dirname + '/version.txt', 'utf8');
const kept = [];
module.exports = (req, res) => {
  const mb = Number(new URL(req.url, 'http://x').searchParams.get('leak') ?? 0);
  if (mb) kept.push(Buffer.alloc(mb << 20, 1));
  res.end(version + ' ' + process.pid);
};
`;

describe('node runner: deploys and memory, like every worker', () => {
  test('a reload whose new code does not load is abandoned; a chain reload brings the fixed code in', async () => {
    const dir = tempDir();
    const app = join(dir.path, 'app.cjs');
    const chain = join(dir.path, 'chain.touch');
    writeFileSync(app, VERSIONED_APP);
    writeFileSync(join(dir.path, 'version.txt'), 'v1');
    writeFileSync(chain, '');
    const tsgi = await start(app, ['--processes', '2', '--touch-chain-reload', chain]);
    try {
      const base = tsgi.url();
      writeFileSync(app, 'throw new Error("broken deploy");\n');
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload abandoned/);
      assert.match(tsgi.output, /Error: broken deploy/);
      for (let i = 0; i < 4; i++) assert.match((await fetchRaw(`${base}/`)).text, /^v1 /);

      writeFileSync(app, VERSIONED_APP);
      writeFileSync(join(dir.path, 'version.txt'), 'v2');
      const later = new Date(Date.now() + 2000);
      utimesSync(chain, later, later);
      await tsgi.waitForLine(/chain reload done \(generation \d+, 2 worker\(s\) replaced\)/, 30_000);
      const seen = new Set<string>();
      for (let i = 0; i < 6; i++) seen.add((await fetchRaw(`${base}/`)).text.split(' ')[0]!);
      assert.deepEqual([...seen], ['v2']);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test('reload-on-rss: a Node worker that grew too big is recycled after its request', async () => {
    const dir = tempDir();
    const app = join(dir.path, 'app.cjs');
    writeFileSync(app, VERSIONED_APP);
    writeFileSync(join(dir.path, 'version.txt'), 'v1');
    const tsgi = await start(app, ['--reload-on-rss', '160', '--min-worker-lifetime', '0']);
    try {
      const base = tsgi.url();
      const first = (await fetchRaw(`${base}/`)).text.split(' ')[1];
      let replaced = false;
      for (let i = 0; i < 20 && !replaced; i++) {
        const r = await fetchRaw(`${base}/?leak=20`);
        assert.equal(r.status, 200);
        replaced = r.text.split(' ')[1] !== first;
      }
      assert.ok(replaced, 'the leaking worker was replaced');
      assert.match(
        tsgi.output,
        /recycling worker 1 \(pid \d+\): reload-on-rss limit reached \(\d+ >= 167772160\)/,
      );
      await tsgi.waitForLine(/exited \(rss, exit code 0\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });
});

describe('node runner: WebSockets (the ws package) through the master', () => {
  test("handshake, text and 4 MiB binary echo; the tunnel holds no slot and is out of harakiri's reach", async () => {
    const tsgi = await start(`${NODE}/ws-app.mjs`, [
      '--node-concurrency',
      '1',
      '--harakiri',
      '1',
      '--prometheus',
      '127.0.0.1:0',
    ]);
    try {
      const base = tsgi.url();
      const wsUrl = `${base.replace('http:', 'ws:')}/chat?room=1`;
      const { ws, next } = await wsConnect(wsUrl);
      const pid = Number((await fetchRaw(`${base}/`)).text);
      assert.equal(await next(), `hello /chat?room=1 from ${pid} for 127.0.0.1`);
      ws.send('hi');
      assert.equal(await next(), 'echo hi');
      const big = Buffer.alloc(4 << 20, 7);
      big.writeUInt32BE(0xdeadbeef, 1000);
      ws.send(big);
      assert.ok(big.equals((await next()) as Buffer));
      await tsgi.waitForLine(/GET \/chat\?room=1 => generated .*\(HTTP\/1\.1 101\)/);
      // one slot, harakiri 1 s: an open WebSocket neither blocks HTTP requests nor gets killed
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal((await fetchRaw(`${base}/`)).status, 200);
      ws.send('still there');
      assert.equal(await next(), 'echo still there');
      assert.doesNotMatch(tsgi.output, /HARAKIRI/);
      const second = await wsConnect(wsUrl);
      assert.match(String(await second.next()), /^hello /);
      const both = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_websocket_connections') === 2,
        'two WebSockets open',
      );
      assert.equal(sampleValue(both, 'tsgi_websocket_connections_total'), 2);
      second.ws.close();
      ws.close();
      await Promise.all([closed(ws), closed(second.ws)]);
      await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_websocket_connections') === 0,
        'the WebSockets closed',
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test("a reload closes the old worker's WebSockets; new ones reach the new worker", async () => {
    const tsgi = await start(`${NODE}/ws-app.mjs`);
    try {
      const base = tsgi.url();
      const wsUrl = `${base.replace('http:', 'ws:')}/`;
      const old = Number((await fetchRaw(`${base}/`)).text);
      const { ws, next } = await wsConnect(wsUrl);
      assert.match(String(await next()), new RegExp(`from ${old} `));
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload done/);
      await closed(ws);
      await tsgi.waitForLine(/exited \(reload, exit code 0\)/);
      assert.ok(!alive(old));
      const fresh = await wsConnect(wsUrl);
      const hello = String(await fresh.next());
      assert.match(hello, /^hello \/ from \d+ /);
      assert.doesNotMatch(hello, new RegExp(`from ${old} `));
      fresh.ws.close();
      await closed(fresh.ws);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('an app without a WebSocket server refuses the handshake; plain requests go on', async () => {
    const tsgi = await start(EXPRESS);
    try {
      const base = tsgi.url();
      const ws = new WebSocket(`${base.replace('http:', 'ws:')}/`);
      const refused = await new Promise<string>((resolve) => {
        ws.once('unexpected-response', (_req, res) => resolve(`status ${res.statusCode}`));
        ws.once('error', (err) => resolve(`error ${err.message}`));
        ws.once('open', () => resolve('open'));
      });
      assert.equal(refused, 'status 200', 'the app answered the request as a plain GET');
      assert.equal((await fetchRaw(`${base}/pid`)).status, 200);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('node runner behind nginx (uwsgi_pass)', { skip: requireTool(hasNginx, 'nginx') }, () => {
  test('the headers rebuilt from nginx uwsgi vars reach Express: Host, X-Forwarded-For, a JSON body', async () => {
    const tmp = tempDir('tsgi-node-nginx-');
    const tsgi = await start(EXPRESS, ['--socket', '127.0.0.1:0']);
    let nginx: Nginx | null = null;
    try {
      const port = await freePort();
      nginx = await startNginx(
        join(tmp.path, 'nginx'),
        `server { listen 127.0.0.1:${port}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass ${addressOf(tsgi.url('uwsgi'))}; } }`,
        [port],
      );
      const base = `http://127.0.0.1:${port}`;
      const user = await fetchRaw(`${base}/users/5?a=b`, { headers: { host: 'shop.example' } });
      assert.equal(user.status, 200);
      assert.deepEqual(JSON.parse(user.text), {
        id: '5',
        q: { a: 'b' },
        proto: 'http',
        host: 'shop.example',
      });
      const echo = await fetchRaw(`${base}/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"via":"nginx"}',
      });
      assert.equal(echo.status, 201);
      assert.deepEqual(JSON.parse(echo.text), {
        got: { via: 'nginx' },
        type: 'application/json',
        length: '15',
      });
      const big = await fetchRaw(`${base}/big?mb=4`);
      assert.equal(big.body.length, 4 * 1024 * 1024);
    } finally {
      await nginx?.stop();
      assert.equal(await tsgi.stop(), 0);
      tmp.cleanup();
    }
  });
});
