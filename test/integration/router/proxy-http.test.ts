import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { freePort, hasNginx, startNginx } from '../../helpers/peers.js';
import { startUpstream, type TestUpstream, unansweredPort } from '../../helpers/router.js';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  rssBytes,
  startTsgi,
  type TsgiProcess,
  tempDir,
} from '../../helpers/tsgi.js';

/**
 * The `http:` proxy action and upstream pools, against real upstream processes: a Node HTTP /
 * WebSocket server (test/fixtures/router/upstream.mjs) and nginx serving static files.
 */

const UPSTREAM = join(FIXTURES, 'router', 'upstream.mjs');
const ROUTER_ONLY = ['--http-socket', '127.0.0.1:0', '--need-app=false'];

async function json(url: string, init: Parameters<typeof fetchRaw>[1] = {}) {
  const r = await fetchRaw(url, init);
  assert.equal(r.status, 200, r.text);
  return {
    reply: r,
    data: JSON.parse(r.text) as Record<string, unknown> & { headers: Record<string, string> },
  };
}

describe('http proxy action', () => {
  let a: TestUpstream;
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    a = await startUpstream(UPSTREAM, 'a');
    tsgi = await startTsgi([
      ...ROUTER_ONLY,
      '--route-run',
      'addheader:X-Proxied-By: tsgi',
      '--route',
      `^/api/(.*)$ http:${a.address}`,
      '--route',
      `^/vhost/(.*)$ http:${a.address},backend.internal,/echo/$1`,
      '--route',
      '^/dead http:127.0.0.1:1',
    ]);
    base = tsgi.url();
  });
  after(async () => {
    await tsgi?.stop();
    await a?.stop();
  });

  test('request line, headers, Host and X-Forwarded-* reach the upstream; its response comes back', async () => {
    const { reply, data } = await json(`${base}/api/echo?q=1`, {
      headers: { 'X-Custom': 'v', 'X-Forwarded-For': '10.0.0.9', Connection: 'keep-alive, X-Custom' },
    });
    assert.equal(data.method, 'GET');
    assert.equal(data.url, '/api/echo?q=1');
    const h = data.headers;
    assert.equal(h.host, new URL(base).host);
    assert.equal(h['x-forwarded-for'], '10.0.0.9, 127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], new URL(base).host);
    assert.equal(h['x-custom'], 'v');
    assert.equal(reply.headers['x-node'], 'a');
    assert.deepEqual(reply.headers['set-cookie'], ['a=1', 'b=2'], 'repeated headers are kept');
    assert.equal(reply.headers['x-proxied-by'], 'tsgi', 'header rules apply to proxied answers');
  });

  test('http:ADDR,HOST,URI sends another Host and request target', async () => {
    const { data } = await json(`${base}/vhost/page?x=1`);
    assert.equal(data.url, '/echo/page', '$1 is from PATH_INFO, as in uWSGI');
    assert.equal(data.headers.host, 'backend.internal');
  });

  test('bodies stream both ways: a 32 MiB upload (chunked) and a 32 MiB download arrive whole', async () => {
    const size = 32 * 1024 * 1024;
    const piece = Buffer.alloc(256 * 1024, 0x62);
    const hash = createHash('sha256');
    async function* body() {
      for (let sent = 0; sent < size; sent += piece.length) {
        hash.update(piece);
        yield piece;
      }
    }
    const { data } = await json(`${base}/api/echo`, { method: 'POST', body: body() });
    assert.equal(data.length, size);
    assert.equal(data.sha256, hash.digest('hex'));
    const down = await fetchRaw(`${base}/api/big?n=${size}`, { timeoutMs: 60_000 });
    assert.equal(down.status, 200);
    assert.equal(down.body.length, size);
  });

  test('a slow reader holds the upstream back: the master does not buffer the body', async () => {
    const size = 256 * 1024 * 1024;
    const before = rssBytes(tsgi.pid);
    const peak = await new Promise<number>((resolve, reject) => {
      const req = request(`${base}/api/big?n=${size}`, { agent: false }, (res) => {
        res.pause();
        let max = 0;
        setTimeout(() => {
          max = rssBytes(tsgi.pid);
          res.resume();
          res.on('data', () => {});
          res.on('end', () => resolve(Math.max(max, rssBytes(tsgi.pid))));
        }, 1500);
      });
      req.on('error', reject);
      req.end();
    });
    assert.ok(
      peak - before < 64 * 1024 * 1024,
      `master RSS grew by ${((peak - before) / 1048576).toFixed(1)} MiB`,
    );
  });

  test('a refused connection is 502', async () => {
    const r = await fetchRaw(`${base}/dead`);
    assert.equal(r.status, 502);
    assert.match(r.text, /cannot connect to upstream 127\.0\.0\.1:1/);
  });
});

describe('upstream pools', () => {
  test('a node killed mid-run is taken out of rotation; no request fails after the first retry', async () => {
    const nodes = await Promise.all(['n1', 'n2', 'n3'].map((n) => startUpstream(UPSTREAM, n)));
    const tsgi = await startTsgi([
      ...ROUTER_ONLY,
      '--upstream',
      `pool ${nodes.map((n) => n.address).join(' ')} gracetime=60`,
      '--route-run',
      'http:pool',
    ]);
    try {
      const base = tsgi.url();
      const seen = new Map<string, number>();
      const round = async (n: number) => {
        const failures: number[] = [];
        for (let i = 0; i < n; i++) {
          const r = await fetchRaw(`${base}/name`);
          if (r.status !== 200) failures.push(r.status);
          else seen.set(r.text, (seen.get(r.text) ?? 0) + 1);
        }
        return failures;
      };
      assert.deepEqual(await round(30), []);
      assert.deepEqual([...seen.keys()].sort(), ['n1', 'n2', 'n3'], 'round robin uses every node');
      await nodes[1]!.stop('SIGKILL');
      seen.clear();
      assert.deepEqual(await round(60), [], 'the dead node costs a retry, never a failed request');
      assert.equal(seen.get('n2'), undefined);
      assert.ok((seen.get('n1') ?? 0) > 20 && (seen.get('n3') ?? 0) > 20, JSON.stringify([...seen]));
      await tsgi.waitForLine(/marking 127\.0\.0\.1:\d+ as failed/); // log lines are written in 20 ms batches
      assert.equal(
        (tsgi.output.match(/marking 127\.0\.0\.1:\d+ as failed/g) ?? []).length,
        1,
        'marked once, then skipped',
      );
      // The node comes back on the same port; after the gracetime it is used again (here: a new pool
      // with a short gracetime is not needed: markOk on success is covered by unit tests).
    } finally {
      await tsgi.stop();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });

  test('timeouts: an upstream that never answers is 504 (a pool timeout= wins over socket-timeout); a connect that never completes is 504', async () => {
    const a = await startUpstream(UPSTREAM, 'slow');
    const blackhole = await unansweredPort();
    const tsgi = await startTsgi([
      ...ROUTER_ONLY,
      '--socket-timeout',
      '1',
      '--upstream',
      `patient ${a.address} timeout=2`,
      '--route',
      `^/silent http:${a.address}`,
      '--route',
      '^/pooled/ http:patient',
      '--route',
      `^/nowhere http:127.0.0.1:${blackhole.port}`,
    ]);
    try {
      const r = await fetchRaw(`${tsgi.url()}/silent`, { timeoutMs: 10_000 });
      assert.equal(r.status, 504);
      assert.match(r.text, /sent nothing for 1000 ms/);
      const p = await fetchRaw(`${tsgi.url()}/pooled/silent`, { timeoutMs: 10_000 });
      assert.equal(p.status, 504);
      assert.match(p.text, /sent nothing for 2000 ms/, "the pool's own timeout");
      const c = await fetchRaw(`${tsgi.url()}/nowhere`, { timeoutMs: 10_000 });
      assert.equal(c.status, 504);
      assert.match(c.text, /timed out connecting/);
    } finally {
      await tsgi.stop();
      await a.stop();
      await blackhole.peer.stop('SIGKILL');
    }
  });
});

test('WebSocket handshakes pass through the http action to a ws upstream', async () => {
  const up = await startUpstream(UPSTREAM, 'wsnode');
  const tsgi = await startTsgi([
    ...ROUTER_ONLY,
    '--route',
    `^/ws http:${up.address}`,
    '--route',
    '^/nows return:404',
    // Header rules wrap the sink; the handshake must still reach the upstream untouched.
    '--add-header',
    'X-Front: tsgi',
  ]);
  try {
    const url = tsgi.url().replace('http:', 'ws:');
    const ws = new WebSocket(`${url}/ws`);
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (m, binary) => {
        got.push(binary ? `binary:${(m as Buffer).length}` : m.toString());
        if (got.length === 1) {
          ws.send('ping');
          ws.send(Buffer.alloc(100_000, 1));
        }
        if (got.length === 3) resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    assert.match(got[0]!, /^hello from wsnode 127\.0\.0\.1$/);
    assert.equal(got[1], 'wsnode: ping');
    assert.equal(got[2], 'binary:100000');
    const refused = new WebSocket(`${url}/nows`);
    const status = await new Promise<number>((resolve) => {
      refused.on('unexpected-response', (_req, res) => {
        assert.equal(res.headers['x-front'], 'tsgi', 'a refusal goes through the header rules');
        resolve(res.statusCode ?? 0);
      });
      refused.on('error', () => resolve(-1));
    });
    assert.equal(status, 404, 'a rule can still answer an upgrade request');
  } finally {
    await tsgi.stop();
    await up.stop();
  }
});

describe('proxy to nginx', () => {
  const skip = requireTool(hasNginx, 'nginx');
  test('static files from a test-started nginx, through the http action and a pool', { skip }, async () => {
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 0x7a);
    writeFileSync(join(dir.path, 'big.bin'), big);
    writeFileSync(join(dir.path, 'hello.txt'), 'hello from nginx\n');
    const port = await freePort();
    const nginx = await startNginx(
      join(dir.path, 'nginx'),
      `server { listen 127.0.0.1:${port}; root ${dir.path}; }`,
      [port],
    );
    const tsgi = await startTsgi([
      ...ROUTER_ONLY,
      '--upstream',
      `ng 127.0.0.1:${port}`,
      '--route',
      '^/static/(.*)$ http:ng,,/$1',
    ]);
    try {
      const hello = await fetchRaw(`${tsgi.url()}/static/hello.txt`);
      assert.equal(hello.status, 200);
      assert.equal(hello.text, 'hello from nginx\n');
      assert.match(String(hello.headers.server), /nginx/);
      const b = await fetchRaw(`${tsgi.url()}/static/big.bin`);
      assert.equal(b.body.length, big.length);
      const range = await fetchRaw(`${tsgi.url()}/static/big.bin`, { headers: { Range: 'bytes=10-19' } });
      assert.equal(range.status, 206);
      assert.equal(range.body.length, 10);
      assert.equal((await fetchRaw(`${tsgi.url()}/static/missing`)).status, 404);
    } finally {
      await tsgi.stop();
      await nginx.stop();
      dir.cleanup();
    }
  });
});

test('a graceful reload does not cut a proxied download in flight', async () => {
  const up = await startUpstream(UPSTREAM, 'reload');
  const tsgi = await startTsgi([...ROUTER_ONLY, '--route', `^/ http:${up.address}`]);
  try {
    const size = 16 * 1024 * 1024;
    const got = await new Promise<number>((resolve, reject) => {
      const req = request(`${tsgi.url()}/big?n=${size}`, { agent: false }, (res) => {
        let n = 0;
        res.pause();
        tsgi.signal('SIGHUP');
        void tsgi.waitForLine(/reload done/).then(() => {
          res.on('data', (c: Buffer) => {
            n += c.length;
          });
          res.on('end', () => resolve(n));
          res.on('error', reject);
          res.resume();
        }, reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(got, size);
  } finally {
    await tsgi.stop();
    await up.stop();
  }
});
