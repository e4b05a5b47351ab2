import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { TsgiRequest } from '../../../core/request/request.js';
import type { ForwardOptions, ForwardResult } from '../../../core/request/upstream.js';
import { FastcgiUpstreamClient } from '../../../plugins/fastcgi/client.js';
import { RecordReader } from '../../../plugins/fastcgi/parser.js';
import {
  encodeEndRequest,
  encodeStream,
  ProtocolStatus,
  RecordType,
} from '../../../plugins/fastcgi/record.js';
import { assertHeldBack, type Front, startFront } from '../../helpers/front.js';
import { addressOf, establishedTo, freePort, type Peer, startPeer } from '../../helpers/peers.js';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  startTsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const skip = requireTool(() => runs('php-cgi', ['-v']), 'php-cgi');
const SCRIPT = `${FIXTURES}/php/index.php`;

/** Point a request at the PHP fixture as a router would: SCRIPT_FILENAME, SCRIPT_NAME, PATH_INFO. */
function toPhp(req: TsgiRequest): void {
  const path = req.var('PATH_INFO');
  req.vars.set('SCRIPT_FILENAME', SCRIPT);
  req.vars.set('SCRIPT_NAME', '/index.php');
  req.vars.set('PATH_INFO', path.replace(/^\/index\.php/, ''));
}

/**
 * A scripted FastCGI server: for each request on a connection, `answer(n, socket, id)` writes the
 * reply (n counts requests on that connection, from 1) once the `answerOn` stream has ended
 * (STDIN; PARAMS to answer before the body).
 */
function scriptedFcgi(
  answer: (n: number, s: Socket, id: number) => void,
  answerOn: number = RecordType.STDIN,
): Promise<{ address: string; server: Server }> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.on('error', () => {});
      let n = 0;
      const reader = new RecordReader((type, id, _b, start, end) => {
        if (type === answerOn && end === start) answer(++n, s, id);
      });
      s.on('data', (d: Buffer) => reader.push(d));
    });
    server.listen(0, '127.0.0.1', () =>
      resolve({ address: `127.0.0.1:${(server.address() as { port: number }).port}`, server }),
    );
  });
}

/** A whole successful FastCGI answer with `stdout`. */
function reply(s: Socket, id: number, stdout: string): void {
  s.write(
    Buffer.concat([
      encodeStream(RecordType.STDOUT, id, Buffer.from(stdout), true),
      encodeEndRequest(id, 0, ProtocolStatus.REQUEST_COMPLETE),
    ]),
  );
}

describe('FastCGI client', { skip }, () => {
  const tmp = tempDir('tsgi-fcgi-client-');
  let client: FastcgiUpstreamClient;
  let php: Peer;
  let phpAddr: string;
  let phpPort: number;
  let front: Front;
  let target = '';
  let options: ForwardOptions = {};
  let routeToPhpScript = true;
  const results: ForwardResult[] = [];

  before(async () => {
    phpPort = await freePort();
    phpAddr = `127.0.0.1:${phpPort}`;
    php = await startPeer('php-cgi', ['-b', phpAddr], phpPort, { env: { PHP_FCGI_CHILDREN: '2' } });
    front = await startFront(tmp.path, (req, sink) => {
      if (routeToPhpScript) toPhp(req);
      void client.forward(req, sink, target, options).then((r) => results.push(r));
    });
    client = new FastcgiUpstreamClient(
      { connectTimeoutMs: 2000, readTimeoutMs: 10_000, maxHeadBytes: 65536 },
      { maxIdlePerAddress: 4, idleTimeoutMs: 30_000 },
      front.log,
    );
  });

  after(async () => {
    client?.closeIdle();
    await front?.close();
    await php?.stop();
    tmp.cleanup();
  });

  const via = (address: string, opts: ForwardOptions = {}, routeToPhp = true) => {
    target = address;
    options = opts;
    routeToPhpScript = routeToPhp;
    return front.url;
  };

  describe('against php-cgi -b', () => {
    test('GET with PATH_INFO and a query', async () => {
      const r = await fetchRaw(`${via(phpAddr)}/index.php/a/b?x=1`, { headers: { 'X-Custom': 'yes' } });
      assert.equal(r.status, 200, r.text);
      const j = JSON.parse(r.text) as Record<string, unknown>;
      assert.equal(j.method, 'GET');
      assert.equal(j.path_info, '/a/b');
      assert.equal(j.script_name, '/index.php');
      assert.equal(j.query, 'x=1');
      assert.equal(j.x_custom, 'yes');
    });

    test('POST: a form, a 3 MB body, and a chunked body (spooled, so php gets CONTENT_LENGTH)', async () => {
      const form = await fetchRaw(`${via(phpAddr)}/index.php/form`, {
        method: 'POST',
        body: 'a=1&b=2',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      assert.deepEqual((JSON.parse(form.text) as { post: unknown }).post, { a: '1', b: '2' });
      const body = randomBytes(3 * 1024 * 1024);
      const expect = {
        bytes: body.length,
        sha256: createHash('sha256').update(body).digest('hex'),
        content_length: String(body.length),
      };
      const r = await fetchRaw(`${via(phpAddr)}/index.php/digest`, {
        method: 'POST',
        body,
        timeoutMs: 30_000,
      });
      assert.deepEqual(JSON.parse(r.text), expect);
      async function* chunks() {
        for (let o = 0; o < body.length; o += 200_000) yield body.subarray(o, o + 200_000);
      }
      const c = await fetchRaw(`${via(phpAddr)}/index.php/digest`, {
        method: 'POST',
        body: chunks(),
        timeoutMs: 30_000,
      });
      assert.deepEqual(JSON.parse(c.text), expect);
    });

    test('Status, Location and repeated Set-Cookie from the CGI head', async () => {
      assert.equal((await fetchRaw(`${via(phpAddr)}/index.php/missing`)).status, 404);
      const redirect = await fetchRaw(`${via(phpAddr)}/index.php/redirect`);
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.location, '/elsewhere');
      assert.deepEqual((await fetchRaw(`${via(phpAddr)}/index.php/cookies`)).headers['set-cookie'], [
        'a=1',
        'b=2',
      ]);
    });

    test('HEAD and a large streamed response', async () => {
      const h = await fetchRaw(`${via(phpAddr)}/index.php/cookies`, { method: 'HEAD' });
      assert.equal(h.status, 200);
      assert.equal(h.body.length, 0);
      const big = await fetchRaw(`${via(phpAddr)}/index.php/big?${4 * 1024 * 1024}`, { timeoutMs: 30_000 });
      assert.equal(big.body.length, 4 * 1024 * 1024);
    });

    test('STDERR records go to the log', async () => {
      await fetchRaw(`${via(phpAddr)}/index.php/stderr`);
      await waitFor(
        () => /fastcgi 127\.0\.0\.1:\d+ stderr: .*hello from php stderr/.test(front.logText()),
        5000,
        'the stderr line',
      ).catch((err) => assert.fail(`${(err as Error).message}\n${front.logText()}\n${php.output}`));
    });

    test('the pool keeps one idle keep-alive connection for sequential requests', async () => {
      for (let i = 0; i < 5; i++) assert.equal((await fetchRaw(`${via(phpAddr)}/index.php/x`)).status, 200);
      assert.equal(establishedTo(phpPort), 1);
    });

    test('a dedicated connection: several requests (FCGI_KEEP_CONN) and GET_VALUES', async () => {
      const conn = await client.connect(phpAddr);
      try {
        const values = await conn.getValues(['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS'], 2000);
        assert.equal(values.get('FCGI_MPXS_CONNS'), '0');
        const pids = new Set<unknown>();
        const dedicated = await startFront(tmp.path, (req, sink) => {
          toPhp(req);
          void conn.forward(req, sink);
        });
        try {
          for (let i = 0; i < 3; i++) {
            const r = await fetchRaw(`${dedicated.url}/index.php/k${i}`);
            pids.add((JSON.parse(r.text) as { pid: number }).pid);
            assert.equal(conn.closed, false);
          }
        } finally {
          await dedicated.close();
        }
        assert.equal(pids.size, 1, 'one php-cgi process served the connection');
      } finally {
        conn.close();
      }
    });
  });

  test('php-cgi exiting after PHP_FCGI_MAX_REQUESTS closes the connection: onClose fires', async () => {
    const port = await freePort();
    const lone = await startPeer('php-cgi', ['-b', `127.0.0.1:${port}`], port, {
      env: { PHP_FCGI_MAX_REQUESTS: '2', PHP_FCGI_CHILDREN: '0' },
    });
    try {
      const conn = await client.connect(`127.0.0.1:${port}`);
      let closed = false;
      conn.onClose(() => {
        closed = true;
      });
      const f = await startFront(tmp.path, (req, sink) => {
        toPhp(req);
        void conn.forward(req, sink).then((r) => results.push(r));
      });
      try {
        assert.equal((await fetchRaw(`${f.url}/index.php/one`)).status, 200);
        assert.equal((await fetchRaw(`${f.url}/index.php/two`)).status, 200);
        await waitFor(() => closed, 10_000, 'the connection to close');
        assert.equal(conn.closed, true);
        await assert.rejects(conn.forward({} as TsgiRequest, {} as never), /busy or closed/);
      } finally {
        await f.close();
      }
    } finally {
      await lone.stop();
    }
  });

  describe('against tsgi (fastcgi-socket)', () => {
    let other: TsgiProcess;
    before(async () => {
      other = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--fastcgi-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        `${FIXTURES}/apps/conformance.py`,
      ]);
    });
    after(async () => {
      if (other) assert.equal(await other.stop(), 0);
    });

    test('GET, POST, Set-Cookie, 500', async () => {
      const addr = addressOf(other.url('fastcgi'));
      assert.equal((await fetchRaw(`${via(addr, {}, false)}/hi`)).text, 'hello /hi\n');
      assert.equal(
        (await fetchRaw(`${via(addr, {}, false)}/echo`, { method: 'POST', body: 'abc' })).text,
        'abc',
      );
      assert.deepEqual((await fetchRaw(`${via(addr, {}, false)}/cookies`)).headers['set-cookie'], [
        'a=1',
        'b=2',
      ]);
      assert.equal((await fetchRaw(`${via(addr, {}, false)}/error`)).status, 500);
    });
  });

  describe('errors and the pool', () => {
    test('connection refused: 502', async () => {
      results.length = 0;
      assert.equal((await fetchRaw(`${via(`127.0.0.1:${await freePort()}`, {}, false)}/x`)).status, 502);
      assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_CONNECT');
    });

    test('FCGI_OVERLOADED: 503', async () => {
      const up = await scriptedFcgi((_n, s, id) =>
        s.write(encodeEndRequest(id, 0, ProtocolStatus.OVERLOADED)),
      );
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/x`)).status, 503);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_OVERLOADED');
      } finally {
        up.server.close();
      }
    });

    test('a malformed head, or END_REQUEST without any head: 502', async () => {
      const up = await scriptedFcgi((n, s, id) => reply(s, id, n === 1 ? 'not a header\r\n\r\n' : ''));
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/x`)).status, 502);
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/x`)).status, 502);
        assert.deepEqual(
          results.map((r) => r.error?.code),
          ['TSGI_ERR_UPSTREAM_PROTOCOL', 'TSGI_ERR_UPSTREAM_PROTOCOL'],
        );
      } finally {
        up.server.close();
      }
    });

    test('read timeout: 504', async () => {
      const up = await scriptedFcgi(() => {});
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(up.address, { readTimeoutMs: 300 }, false)}/x`)).status, 504);
        assert.equal(results[0]?.error?.code, 'TSGI_ERR_UPSTREAM_TIMEOUT');
      } finally {
        up.server.close();
      }
    });

    test('an idle pooled connection the server dropped is retried once on a fresh one', async () => {
      let connections = 0;
      const up = await scriptedFcgi((n, s, id) => {
        if (n === 1) reply(s, id, 'Status: 200 OK\r\n\r\nfirst');
        else s.destroy(); // the server "closed it while idle": the request dies unanswered
      });
      up.server.on('connection', () => connections++);
      try {
        results.length = 0;
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/a`)).text, 'first');
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/b`)).text, 'first');
        assert.equal(connections, 2);
        assert.deepEqual(
          results.map((r) => r.outcome),
          ['complete', 'complete'],
        );
      } finally {
        up.server.close();
      }
    });

    test('a response that comes before the whole body went out retires the connection (its STDIN is unfinished)', async () => {
      let connections = 0;
      const up = await scriptedFcgi(
        (_n, s, id) => reply(s, id, 'Status: 200 OK\r\n\r\nearly'),
        RecordType.PARAMS,
      );
      up.server.on('connection', () => connections++);
      try {
        async function* slow() {
          yield Buffer.alloc(1000, 1);
          await new Promise((r) => setTimeout(r, 300));
          yield Buffer.alloc(1000, 2);
        }
        const first = await fetchRaw(`${via(up.address, {}, false)}/post`, {
          method: 'POST',
          body: slow(),
          headers: { 'Content-Length': '2000' },
        });
        assert.equal(first.text, 'early');
        assert.equal((await fetchRaw(`${via(up.address, {}, false)}/next`)).text, 'early');
        assert.equal(connections, 2, 'the second request did not reuse the half-sent connection');
      } finally {
        up.server.close();
      }
    });

    test('a client that stops reading holds the upstream back, then gets the whole body', async () => {
      const total = 160 * 1024 * 1024;
      let written = 0;
      const up = await scriptedFcgi((_n, s, id) => {
        s.write(encodeStream(RecordType.STDOUT, id, Buffer.from('Status: 200 OK\r\n\r\n')));
        const block = encodeStream(RecordType.STDOUT, id, Buffer.alloc(65535, 0x63));
        const pump = () => {
          while (written < total) {
            written += 65535;
            if (!s.write(block)) {
              s.once('drain', pump);
              return;
            }
          }
          s.write(
            Buffer.concat([
              encodeStream(RecordType.STDOUT, id, Buffer.alloc(0), true),
              encodeEndRequest(id, 0, 0),
            ]),
          );
        };
        pump();
      });
      try {
        await assertHeldBack(via(up.address, {}, false), total, () => written);
      } finally {
        up.server.close();
      }
    });
  });
});
