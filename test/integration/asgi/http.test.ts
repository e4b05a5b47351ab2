import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ASGI_FIXTURES,
  closed,
  events,
  nextMessage,
  openWs,
  startAsgi,
  waitForEvent,
  wsUrl,
} from '../../helpers/asgi.js';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  SYSTEM_PYTHON,
  startTsgi,
  TsgiProcess,
  tempDir,
} from '../../helpers/tsgi.js';

const noPython = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import asyncio']), 'python3');

describe('a plain ASGI app on two workers', { skip: noPython }, () => {
  const dir = tempDir('tsgi-asgi-');
  const ev = join(dir.path, 'events');
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startAsgi('plain:app', ['--processes', '2'], ev);
    base = tsgi.url();
  });
  after(async () => {
    const pids = tsgi.workerPids();
    assert.equal(await tsgi.stop(), 0);
    // lifespan shutdown ran in every worker when the master stopped it
    for (const pid of pids)
      assert.ok(events(ev).includes(`shutdown ${pid}`), `shutdown ${pid} in ${events(ev)}`);
    dir.cleanup();
  });

  test('lifespan startup ran in each worker before it served', () => {
    const started = events(ev)
      .filter((l) => l.startsWith('startup '))
      .map((l) => Number(l.split(' ')[1]))
      .sort();
    assert.deepEqual(started, tsgi.workerPids().sort());
  });

  test('the http scope carries what the ASGI spec lists', async () => {
    const r = await fetchRaw(`${base}/scope?a=1&b=%20x`, { headers: { 'X-Custom': 'Value', Cookie: 'k=v' } });
    assert.equal(r.status, 200);
    const s = JSON.parse(r.text);
    assert.equal(s.type, 'http');
    assert.equal(s.asgi.version, '3.0');
    assert.equal(s.asgi.spec_version, '2.5');
    assert.equal(s.http_version, '1.1');
    assert.equal(s.method, 'GET');
    assert.equal(s.scheme, 'http');
    assert.equal(s.path, '/scope');
    assert.equal(s.raw_path, '/scope');
    assert.equal(s.query_string, 'a=1&b=%20x');
    assert.equal(s.root_path, '');
    assert.deepEqual(
      s.headers.find((h: string[]) => h[0] === 'x-custom'),
      ['x-custom', 'Value'],
    );
    assert.deepEqual(
      s.headers.find((h: string[]) => h[0] === 'cookie'),
      ['cookie', 'k=v'],
    );
    assert.equal(s.client[0], '127.0.0.1');
    assert.equal(typeof s.client[1], 'number');
    assert.equal(s.server[1], Number(new URL(base).port));
    // lifespan state: a copy of what the worker's startup put there
    assert.ok(tsgi.workerPids().includes(s.state.booted_by), JSON.stringify(s.state));
  });

  test('path is decoded UTF-8, raw_path keeps the bytes as sent', async () => {
    const r = await fetchRaw(`${base}/scope/caf%C3%A9%20x`);
    const s = JSON.parse(r.text);
    assert.equal(s.path, '/scope/café x');
    assert.equal(s.raw_path, '/scope/caf%C3%A9%20x');
  });

  test('a request body arrives in http.request events as it streams', async () => {
    const chunk = Buffer.alloc(256 * 1024, 'a');
    async function* body() {
      for (let i = 0; i < 8; i++) yield chunk;
    }
    const r = await fetchRaw(`${base}/echo`, { method: 'POST', body: body() });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 8 * chunk.length);
    assert.ok(r.body.equals(Buffer.concat(Array(8).fill(chunk))));
    assert.ok(Number(r.headers['x-events']) >= 2, `x-events ${r.headers['x-events']}`);
  });

  test('a response sent in several http.response.body messages arrives whole', async () => {
    const r = await fetchRaw(`${base}/stream?n=50`);
    assert.equal(r.status, 200);
    const lines = r.text.trim().split('\n');
    assert.equal(lines.length, 50);
    assert.equal(lines[49], 'chunk 49');
  });

  test('an exception gives 500 and its traceback in the log', async () => {
    const r = await fetchRaw(`${base}/boom`);
    assert.equal(r.status, 500);
    await tsgi.waitForLine(
      /exception in ASGI app while serving GET \/boom:[\s\S]*ValueError: boom on purpose/,
    );
  });

  test('an exception after the head cuts the response short', async () => {
    await assert.rejects(fetchRaw(`${base}/boom-late`));
    await tsgi.waitForLine(/ValueError: late boom on purpose/);
  });

  test('a response streams, and a client that leaves mid-stream is seen by the app', async () => {
    // The first chunk of an endless response reaches the client: the body is not buffered whole.
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}/forever`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.setTimeout(10_000, () => reject(new Error('no first chunk')));
      req.end();
    });
    await waitForEvent(ev, /^disconnect \/forever$/);
  });

  test('a WebSocket handshake with a bad version gets 426 naming version 13', async () => {
    const r = await fetchRaw(`${base}/ws/echo`, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version': '8',
      },
    });
    assert.equal(r.status, 426);
    assert.equal(r.headers['sec-websocket-version'], '13');
  });

  test('a WebSocket handshake without a valid key gets 400', async () => {
    const r = await fetchRaw(`${base}/ws/echo`, {
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13' },
    });
    assert.equal(r.status, 400);
    assert.match(r.text, /Sec-WebSocket-Key/);
  });
});

describe('one ASGI worker and asgi-concurrency', { skip: noPython }, () => {
  test('one worker serves many requests at once, its concurrency is its slot count', async () => {
    const tsgi = await startAsgi('plain:app', ['--processes', '1', '--asgi-concurrency', '40']);
    try {
      await tsgi.waitForLine(/serving python asgi plain:app with 1 worker\(s\) × 40 slot\(s\)/);
      const base = tsgi.url();
      // 30 requests wait at one barrier until all 30 are there: only one worker, so it runs them at once.
      const replies = await Promise.all(Array.from({ length: 30 }, () => fetchRaw(`${base}/barrier?n=30`)));
      assert.deepEqual(
        replies.map((r) => r.status),
        Array(30).fill(200),
      );
      assert.equal(new Set(replies.map((r) => r.text)).size, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('the master dispatches no more than asgi-concurrency to a worker', async () => {
    const tsgi = await startAsgi('plain:app', ['--processes', '1', '--asgi-concurrency', '2']);
    try {
      const base = tsgi.url();
      // Two endless streams take both slots.
      const open = () =>
        new Promise<ReturnType<typeof request>>((resolve, reject) => {
          const req = request(`${base}/forever`, (res) => res.once('data', () => resolve(req)));
          req.on('error', () => {});
          req.setTimeout(10_000, () => reject(new Error('no first chunk')));
          req.end();
        });
      const a = await open();
      const b = await open();
      let answered = false;
      const third = fetchRaw(`${base}/scope`).then((r) => {
        answered = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(answered, false, 'a third request ran while both slots were busy');
      a.destroy();
      assert.equal((await third).status, 200);
      b.destroy();
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('lifespan edge cases', { skip: noPython }, () => {
  test('an app that raises on the lifespan scope is served without lifespan, said once', async () => {
    const tsgi = await startAsgi('nolifespan:app', ['--processes', '3']);
    try {
      const r = await fetchRaw(tsgi.url());
      assert.equal(r.status, 200);
      assert.equal(r.text, 'no lifespan here\n');
      const said = tsgi.output.match(/does not support the lifespan protocol/g) ?? [];
      assert.equal(said.length, 1, tsgi.output);
      assert.match(tsgi.output, /ValueError: this app only handles http, not lifespan/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('lifespan.startup.failed is a failed boot, with the message in the log', async () => {
    const p = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--python-bin',
      SYSTEM_PYTHON,
      '--chdir',
      ASGI_FIXTURES,
      '--asgi',
      'failstart:app',
    ]);
    try {
      assert.equal(await p.wait(), 1);
      assert.match(p.output, /ASGI lifespan startup failed:\s+the database is not there \(on purpose\)/);
      assert.match(p.output, /the app could not be loaded/);
    } finally {
      p.kill();
    }
  });
});

describe('ASGI config and WSGI workers', { skip: noPython }, () => {
  test('asgi with module is a config error naming both', async () => {
    const p = new TsgiProcess(['--http-socket', '127.0.0.1:0', '--asgi', 'plain:app', '--module', 'x:app']);
    assert.equal(await p.wait(), 1);
    assert.match(p.output, /give either asgi or module/);
  });

  test('a WebSocket to a WSGI app gets a clear 400, not a hang', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--python-bin',
      SYSTEM_PYTHON,
      '--wsgi-file',
      join(FIXTURES, 'apps', 'counter.py'),
    ]);
    try {
      await assert.rejects(
        openWs(wsUrl(tsgi.url(), '/ws')),
        (err: Error & { status?: number; body?: string }) => {
          assert.equal(err.status, 400);
          assert.match(err.body ?? '', /does not serve WebSockets/);
          return true;
        },
      );
      // The instance still serves HTTP.
      assert.equal((await fetchRaw(tsgi.url())).status, 200);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('ASGI with lazy-apps', { skip: noPython }, () => {
  test('each worker imports the app itself and serves HTTP, WebSockets and the lifespan', async () => {
    const dir = tempDir('tsgi-asgi-lazy-');
    const ev = join(dir.path, 'events');
    const tsgi = await startAsgi('plain:app', ['--lazy-apps', '--processes', '2'], ev);
    try {
      assert.equal((await fetchRaw(`${tsgi.url()}/scope`)).status, 200);
      const ws = await openWs(wsUrl(tsgi.url(), '/ws/echo'));
      ws.send('lazy');
      assert.equal((await nextMessage(ws))[0].toString(), 'lazy');
      ws.close(1000);
      await closed(ws);
      for (const pid of tsgi.workerPids()) await waitForEvent(ev, new RegExp(`^startup ${pid}$`));
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });
});
