import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { RequestError } from '../../../core/errors.js';
import type { ForwardResult } from '../../../core/request/upstream.js';
import { UwsgiUpstreamClient } from '../../../plugins/uwsgi/client.js';
import type { UwsgiForwardOptions } from '../../../plugins/uwsgi/contract.js';
import { assertHeldBack, type Front, startFront } from '../../helpers/front.js';
import { addressOf, freePort, type Peer, startPeer } from '../../helpers/peers.js';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  SYSTEM_PYTHON,
  startTsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const skip = requireTool(() => runs('uwsgi', ['--version']), 'uwsgi (uwsgi-core, uwsgi-plugin-python3)');

/** A scripted upstream: a TCP server whose connections are handled by `onConn`. */
function scripted(onConn: (s: Socket) => void): Promise<{ address: string; server: Server }> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.on('error', () => {});
      onConn(s);
    });
    server.listen(0, '127.0.0.1', () =>
      resolve({ address: `127.0.0.1:${(server.address() as { port: number }).port}`, server }),
    );
  });
}

describe('uwsgi client', { skip }, () => {
  const tmp = tempDir('tsgi-uwsgi-client-');
  const client = new UwsgiUpstreamClient({
    connectTimeoutMs: 2000,
    readTimeoutMs: 10_000,
    maxHeadBytes: 65536,
  });
  let uwsgi: Peer;
  let uwsgiAddr: string;
  let front: Front;
  /** The upstream and options the front forwards to, per test. */
  let target = '';
  let options: UwsgiForwardOptions = {};
  const results: ForwardResult[] = [];

  before(async () => {
    const port = await freePort();
    uwsgiAddr = `127.0.0.1:${port}`;
    uwsgi = await startPeer(
      'uwsgi',
      [
        '--plugin',
        'python3',
        '--plugin',
        'ping',
        '--socket',
        uwsgiAddr,
        '--wsgi-file',
        `${FIXTURES}/apps/conformance.py`,
        '--master',
        '--processes',
        '2',
        '--die-on-term',
        '--buffer-size',
        '32768',
      ],
      port,
    );
    front = await startFront(tmp.path, (req, sink) => {
      void client.forward(req, sink, target, options).then((r) => results.push(r));
    });
  });

  after(async () => {
    await front?.close();
    await uwsgi?.stop();
    tmp.cleanup();
  });

  const via = (address: string, opts: UwsgiForwardOptions = {}) => {
    target = address;
    options = opts;
    return front.url;
  };

  describe('against a real uWSGI (--socket, --plugin python3)', () => {
    test('GET: the request vars reach the app; status, headers and body come back', async () => {
      const r = await fetchRaw(`${via(uwsgiAddr)}/environ?a=1`, { headers: { 'X-Custom': 'yes' } });
      assert.equal(r.status, 200, r.text);
      const env = JSON.parse(r.text) as Record<string, string>;
      assert.equal(env.REQUEST_METHOD, 'GET');
      assert.equal(env.PATH_INFO, '/environ');
      assert.equal(env.QUERY_STRING, 'a=1');
      assert.equal(env.HTTP_X_CUSTOM, 'yes');
      assert.equal(env.CONTENT_LENGTH, undefined);
    });

    test('repeated Set-Cookie, custom status and 404 pass through', async () => {
      assert.deepEqual((await fetchRaw(`${via(uwsgiAddr)}/cookies`)).headers['set-cookie'], ['a=1', 'b=2']);
      const s = await fetchRaw(`${via(uwsgiAddr)}/status?404`);
      assert.equal(s.status, 404);
      assert.equal(s.text, 'status 404\n');
    });

    test('an app exception (uWSGI closes without answering) is a 502, as nginx reports it', async () => {
      results.length = 0;
      assert.equal((await fetchRaw(`${via(uwsgiAddr)}/error`)).status, 502);
      assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_CLOSED');
    });

    test('HEAD', async () => {
      const r = await fetchRaw(`${via(uwsgiAddr)}/cookies`, { method: 'HEAD' });
      assert.equal(r.status, 200);
      assert.equal(r.body.length, 0);
    });

    test('a 5 MB POST streams to the app; a chunked POST is spooled so uWSGI gets its CONTENT_LENGTH', async () => {
      const body = randomBytes(5 * 1024 * 1024);
      const digest = createHash('sha256').update(body).digest('hex');
      const r = await fetchRaw(`${via(uwsgiAddr)}/digest`, { method: 'POST', body, timeoutMs: 30_000 });
      assert.deepEqual(JSON.parse(r.text), { bytes: body.length, sha256: digest });
      async function* chunks() {
        for (let o = 0; o < body.length; o += 256 * 1024) yield body.subarray(o, o + 256 * 1024);
      }
      const c = await fetchRaw(`${via(uwsgiAddr)}/digest`, {
        method: 'POST',
        body: chunks(),
        timeoutMs: 30_000,
      });
      assert.deepEqual(JSON.parse(c.text), { bytes: body.length, sha256: digest });
    });

    test('a large response streams back whole', async () => {
      const r = await fetchRaw(`${via(uwsgiAddr)}/big?${8 * 1024 * 1024}`, { timeoutMs: 30_000 });
      assert.equal(r.body.length, 8 * 1024 * 1024);
    });

    test("uWSGI's ping", async () => {
      assert.equal(await client.ping(uwsgiAddr, 2000), true);
      assert.equal(await client.ping(`127.0.0.1:${await freePort()}`, 2000), false);
    });
  });

  describe('against another tsgi (its socket)', () => {
    let other: TsgiProcess;
    before(async () => {
      other = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--socket',
        '127.0.0.1:0',
        '--wsgi-file',
        `${FIXTURES}/apps/conformance.py`,
      ]);
    });
    after(async () => {
      if (other) assert.equal(await other.stop(), 0);
    });

    test('GET, POST and ping', async () => {
      const addr = addressOf(other.url('uwsgi'));
      assert.equal((await fetchRaw(`${via(addr)}/hi`)).text, 'hello /hi\n');
      const r = await fetchRaw(`${via(addr)}/echo`, { method: 'POST', body: 'abc' });
      assert.equal(r.text, 'abc');
      assert.equal(await client.ping(addr, 2000), true);
    });

    test('modifier1 30 is sent when asked (SCRIPT_NAME stripped by the server)', async () => {
      const addr = addressOf(other.url('uwsgi'));
      const r = await fetchRaw(`${via(addr, { modifier1: 30 })}/environ`);
      assert.equal(r.status, 200);
    });
  });

  describe('errors', () => {
    test('connection refused: 502 with TSGI_ERR_UPSTREAM_CONNECT', async () => {
      results.length = 0;
      const r = await fetchRaw(`${via(`127.0.0.1:${await freePort()}`)}/x`);
      assert.equal(r.status, 502);
      assert.match(r.text, /cannot connect to upstream/);
      assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_CONNECT');
    });

    test('connect timeout: 504 with TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT', async () => {
      // A listener that never accepts: once its backlog is full, new SYNs are dropped.
      const py = spawn(SYSTEM_PYTHON, [
        '-c',
        'import socket,time\ns=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)',
      ]);
      try {
        let out = '';
        py.stdout.on('data', (d: Buffer) => {
          out += d.toString();
        });
        await waitFor(() => out.includes('\n'), 5000, 'python listener');
        const port = Number(out.trim());
        const fill = connect(port, '127.0.0.1');
        fill.on('error', () => {});
        await new Promise((r) => fill.once('connect', r));
        results.length = 0;
        const r = await fetchRaw(`${via(`127.0.0.1:${port}`, { connectTimeoutMs: 300 })}/x`);
        assert.equal(r.status, 504);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT');
        fill.destroy();
      } finally {
        py.kill('SIGKILL');
      }
    });

    test('read timeout: 504 with TSGI_ERR_UPSTREAM_TIMEOUT', async () => {
      const up = await scripted(() => {});
      try {
        results.length = 0;
        const r = await fetchRaw(`${via(up.address, { readTimeoutMs: 300 })}/x`);
        assert.equal(r.status, 504);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_TIMEOUT');
      } finally {
        up.server.close();
      }
    });

    test('an upstream that closes without answering, or answers garbage: 502', async () => {
      const closer = await scripted((s) => s.once('data', () => s.end()));
      const garbage = await scripted((s) => s.once('data', () => s.end('HTTP/1.1 xyz\r\n\r\n')));
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(closer.address)}/x`)).status, 502);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_CLOSED');
        assert.equal((await fetchRaw(`${via(garbage.address)}/x`)).status, 502);
        assert.equal(results[1]?.error?.code, 'TSGI_ERR_UPSTREAM_PROTOCOL');
      } finally {
        closer.server.close();
        garbage.server.close();
      }
    });

    test('a response head over maxHeadBytes: 502', async () => {
      const big = await scripted((s) =>
        s.once('data', () => s.end(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(2000)}\r\n\r\nbody`)),
      );
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(big.address, { maxHeadBytes: 1024 })}/x`)).status, 502);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_PROTOCOL');
      } finally {
        big.server.close();
      }
    });

    test('an abort signal (harakiri, router timeout) answers with its reason and closes the upstream', async () => {
      const abort = new AbortController();
      let upstreamClosed = false;
      const up = await scripted((s) => {
        s.resume();
        s.on('close', () => {
          upstreamClosed = true;
        });
        // abort once the request reached the upstream
        s.once('data', () => abort.abort(new RequestError('TSGI_ERR_HARAKIRI', 504, 'harakiri')));
      });
      try {
        results.length = 0;
        const r = await fetchRaw(`${via(up.address, { signal: abort.signal })}/x`);
        assert.equal(r.status, 504);
        assert.match(r.text, /harakiri/);
        await waitFor(() => results.length > 0, 5000, 'the forward to settle');
        assert.equal(results[0]?.outcome, 'aborted');
        await waitFor(() => upstreamClosed, 5000, 'the upstream connection to close');
      } finally {
        up.server.close();
      }
    });

    test('vars over the 65535-byte packet: 431 without connecting', async () => {
      results.length = 0;
      const r = await fetchRaw(`${via(uwsgiAddr)}/x`, {
        headers: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`X-Big-${i}`, 'b'.repeat(8000)])),
      });
      assert.equal(r.status, 431);
      assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_REQUEST');
    });
  });

  describe('backpressure', () => {
    test('a client that stops reading holds the upstream back (no whole-body buffering), then gets the whole body', async () => {
      const total = 160 * 1024 * 1024;
      let written = 0;
      const up = await scripted((s) =>
        s.once('data', () => {
          s.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
          const block = Buffer.alloc(64 * 1024, 0x62);
          const pump = () => {
            while (written < total) {
              written += block.length;
              if (!s.write(block)) {
                s.once('drain', pump);
                return;
              }
            }
            s.end();
          };
          pump();
        }),
      );
      try {
        await assertHeldBack(via(up.address), total, () => written);
      } finally {
        up.server.close();
      }
    });

    test('a client that goes away mid-response closes the upstream connection', async () => {
      let upstreamClosed = false;
      const up = await scripted((s) => {
        s.once('data', () => s.write('HTTP/1.1 200 OK\r\n\r\npartial'));
        s.on('close', () => {
          upstreamClosed = true;
        });
      });
      try {
        results.length = 0;
        const { port } = new URL(via(up.address));
        const sock = connect(Number(port), '127.0.0.1');
        sock.on('error', () => {});
        sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
        await new Promise((r) => sock.once('data', r));
        sock.destroy();
        await waitFor(() => upstreamClosed, 5000, 'the upstream connection to close');
        await waitFor(() => results.length > 0, 5000, 'the forward to settle');
        assert.equal(results[0]?.outcome, 'client-gone');
      } finally {
        up.server.close();
      }
    });
  });
});
