import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { encodePacket } from '../../../plugins/uwsgi/codec.js';
import {
  addressOf,
  assertIdle,
  exchange,
  headerValues,
  parseRawResponse,
  type RawResponse,
} from '../../helpers/peers.js';
import { FIXTURES, fetchRaw, startTsgi, TsgiProcess, tempDir } from '../../helpers/tsgi.js';

/** nginx's uwsgi_params for a request, plus extra vars. */
function vars(method: string, uri: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  const q = uri.indexOf('?');
  return [
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', uri],
    ['PATH_INFO', q < 0 ? uri : uri.slice(0, q)],
    ['QUERY_STRING', q < 0 ? '' : uri.slice(q + 1)],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['SERVER_NAME', 'example.org'],
    ['SERVER_PORT', '80'],
    ['REMOTE_ADDR', '203.0.113.9'],
    ['REMOTE_PORT', '40000'],
    ['HTTP_HOST', 'example.org'],
    ...extra,
  ];
}

describe('uwsgi edge (socket, uwsgi-socket) with raw packets', () => {
  let tsgi: TsgiProcess;
  let tcp: string;
  let unix: string;
  const tmp = tempDir('tsgi-uwsgi-edge-');
  const statsSock = join(tmp.path, 'stats.sock');

  async function request(
    pairs: Array<[string, string]>,
    body?: Buffer | string,
    modifier1 = 0,
  ): Promise<RawResponse> {
    const pkt = encodePacket(pairs, modifier1, 0);
    const r = await exchange(tcp, body === undefined ? pkt : [pkt, Buffer.from(body)]);
    assert.ok(r.closed, 'a uwsgi response ends with the close');
    return parseRawResponse(r.data);
  }

  async function environ(pairs: Array<[string, string]>, modifier1 = 0): Promise<Record<string, string>> {
    const r = await request(pairs, undefined, modifier1);
    assert.equal(r.status, 200, r.body.toString());
    return JSON.parse(r.body.toString());
  }

  /** The instance still serves, its single worker slot is free and nothing is queued. */
  async function healthy(): Promise<void> {
    const r = await request(vars('GET', '/ok'));
    assert.equal(r.body.toString(), 'hello /ok\n');
    await assertIdle(statsSock, tsgi);
  }

  before(async () => {
    unix = join(tmp.path, 'u.sock');
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--socket',
      '127.0.0.1:0',
      '--uwsgi-socket',
      unix,
      '--chmod-socket=660',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--processes',
      '1',
      '--limit-post',
      '1000',
      '--socket-timeout',
      '2',
      '--stats',
      statsSock,
    ]);
    tcp = addressOf(tsgi.url('uwsgi', 0));
  });

  after(async () => {
    if (tsgi) assert.equal(await tsgi.stop(), 0);
    tmp.cleanup();
  });

  test('a GET: vars become the environ; the response is raw HTTP, then the connection closes', async () => {
    const env = await environ(vars('GET', '/environ?a=1', [['HTTP_X_CUSTOM', 'yes']]));
    assert.equal(env.REQUEST_METHOD, 'GET');
    assert.equal(env.PATH_INFO, '/environ');
    assert.equal(env.QUERY_STRING, 'a=1');
    assert.equal(env.SCRIPT_NAME, '');
    assert.equal(env.REMOTE_ADDR, '203.0.113.9');
    assert.equal(env.SERVER_NAME, 'example.org');
    assert.equal(env.HTTP_X_CUSTOM, 'yes');
    assert.equal(env['wsgi.url_scheme'], 'http');
    const r = await request(vars('GET', '/cookies'));
    assert.equal(r.statusLine, 'HTTP/1.1 200 OK');
    assert.deepEqual(headerValues(r, 'set-cookie'), ['a=1', 'b=2']);
  });

  test('the status line follows SERVER_PROTOCOL; a custom status and reason pass through', async () => {
    const pairs = vars('GET', '/status?418').map(
      ([k, v]) => [k, k === 'SERVER_PROTOCOL' ? 'HTTP/1.0' : v] as [string, string],
    );
    const r = await request(pairs);
    assert.equal(r.statusLine, 'HTTP/1.0 418 Custom Reason');
  });

  test('HTTPS and UWSGI_SCHEME set wsgi.url_scheme', async () => {
    assert.equal((await environ(vars('GET', '/environ', [['HTTPS', 'on']])))['wsgi.url_scheme'], 'https');
    assert.equal(
      (await environ(vars('GET', '/environ', [['UWSGI_SCHEME', 'https']])))['wsgi.url_scheme'],
      'https',
    );
  });

  test('the body follows the vars (CONTENT_LENGTH bytes), in any number of writes', async () => {
    const body = Buffer.alloc(999, 'x');
    const pkt = encodePacket(vars('POST', '/echo', [['CONTENT_LENGTH', '999']]));
    const r = await exchange(tcp, [
      pkt.subarray(0, 3),
      pkt.subarray(3),
      body.subarray(0, 10),
      body.subarray(10),
    ]);
    const res = parseRawResponse(r.data);
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(body));
  });

  test('limit-post: a body of exactly limit-post bytes is served, one byte more gets 413', async () => {
    const ok = await request(vars('POST', '/echo', [['CONTENT_LENGTH', '1000']]), 'y'.repeat(1000));
    assert.equal(ok.status, 200);
    assert.equal(ok.body.length, 1000);
    const over = await request(vars('POST', '/echo', [['CONTENT_LENGTH', '1001']]), 'y'.repeat(1001));
    assert.equal(over.status, 413);
  });

  test('a malformed CONTENT_LENGTH gets 400', async () => {
    assert.equal((await request(vars('POST', '/echo', [['CONTENT_LENGTH', '12abc']]))).status, 400);
  });

  test("buffer-size: a vars block of exactly 4096 bytes is served, 4097 is dropped with uWSGI's message", async () => {
    const fill = (size: number) => {
      const base = vars('GET', '/ok');
      const used = base.reduce((n, [k, v]) => n + 4 + k.length + v.length, 0) + 4 + 'HTTP_X_FILL'.length;
      return [...base, ['HTTP_X_FILL', 'f'.repeat(size - used)]] as Array<[string, string]>;
    };
    assert.equal(encodePacket(fill(4096)).length, 4 + 4096);
    const ok = await request(fill(4096));
    assert.equal(ok.status, 200);
    const over = await exchange(tcp, encodePacket(fill(4097)));
    assert.ok(over.closed);
    assert.equal(over.data.length, 0, 'nothing is sent back: the connection is dropped');
    await tsgi.waitForLine(/invalid request block size: 4097 \(max 4096\)\.\.\.skip/);
  });

  test('an HTTP request on the uwsgi socket gets 400 with a hint to use http-socket', async () => {
    const r = await exchange(tcp, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const res = parseRawResponse(r.data);
    assert.equal(res.status, 400);
    assert.match(res.body.toString(), /uwsgi protocol socket .*http-socket/);
    await tsgi.waitForLine(/HTTP request on a uwsgi socket \(read as block size 21573\).*http-socket/);
    // node's own HTTP client gets the same answer
    const viaHttp = await fetchRaw(`http://${tcp}/`);
    assert.equal(viaHttp.status, 400);
  });

  test("uWSGI's ping (modifier1 100) gets a pong", async () => {
    const r = await exchange(tcp, Buffer.from([100, 0, 0, 0]));
    assert.deepEqual([...r.data], [100, 0, 0, 1]);
  });

  test('an unknown modifier1 is logged as uWSGI logs it and the connection dropped', async () => {
    const r = await exchange(tcp, encodePacket(vars('GET', '/ok'), 111, 0));
    assert.equal(r.data.length, 0);
    await tsgi.waitForLine(/-- unavailable modifier requested: 111 --/);
  });

  test('vars that load apps (UWSGI_FILE, UWSGI_MODULE, ...) are ignored and named once in the log', async () => {
    const env = await environ(
      vars('GET', '/environ', [
        ['UWSGI_FILE', '/tmp/evil.py'],
        ['UWSGI_MODULE', 'evil'],
      ]),
    );
    assert.equal(env.UWSGI_FILE, undefined);
    assert.equal(env.UWSGI_MODULE, undefined);
    await tsgi.waitForLine(/ignoring UWSGI_FILE sent by .*never loads or changes apps/);
  });

  test('modifier1 30 strips SCRIPT_NAME from PATH_INFO', async () => {
    const env = await environ(
      vars('GET', '/mnt/environ')
        .map(([k, v]) => [k, k === 'PATH_INFO' ? '/mnt/environ' : v] as [string, string])
        .concat([['SCRIPT_NAME', '/mnt']]),
      30,
    );
    // the conformance app answers /environ only when PATH_INFO is exactly that
    assert.equal(env.SCRIPT_NAME, '/mnt');
    assert.equal(env.PATH_INFO, '/environ');
  });

  test('unix socket: chmod-socket applies and requests are served', async () => {
    assert.equal(statSync(unix).mode & 0o777, 0o660);
    const r = await exchange(unix, encodePacket(vars('GET', '/ok')));
    assert.equal(parseRawResponse(r.data).body.toString(), 'hello /ok\n');
  });

  test('a connection that stalls before its head is closed after socket-timeout', async () => {
    const r = await exchange(tcp, Buffer.from([0, 100]), 10_000);
    assert.ok(r.closed, 'tsgi closed the stalled connection');
    assert.equal(r.data.length, 0);
  });

  test('a client that half-closes after its request still gets the response', async () => {
    const r = await exchange(tcp, encodePacket(vars('GET', '/half')), 5000, { halfClose: true });
    assert.equal(parseRawResponse(r.data).body.toString(), 'hello /half\n');
  });

  test('a body cut short (client gone) costs nothing: the slot is freed', async () => {
    const pkt = encodePacket(vars('POST', '/digest', [['CONTENT_LENGTH', '900']]));
    await exchange(tcp, [pkt, Buffer.alloc(100)], 5000, { halfClose: true });
    await healthy();
  });

  test('random and truncated byte streams never crash the master nor leak the worker slot', async () => {
    const valid = encodePacket(vars('POST', '/echo', [['CONTENT_LENGTH', '20']]));
    const wire = Buffer.concat([valid, Buffer.alloc(20, 0x41)]);
    const streams = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc.nat(wire.length).map((n) => wire.subarray(0, n)),
      fc
        .tuple(fc.nat(wire.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }))
        .map(([at, junk]) => Buffer.concat([wire.subarray(0, at), Buffer.from(junk), wire.subarray(at)])),
    );
    await fc.assert(
      fc.asyncProperty(streams, async (bytes) => {
        const r = await exchange(tcp, bytes, 5000, { halfClose: true });
        assert.ok(r.closed, 'every connection ends');
        if (r.data.length > 0 && r.data[0] !== 100) {
          const res = parseRawResponse(r.data);
          assert.ok([200, 400, 413].includes(res.status), res.statusLine);
        }
      }),
      { numRuns: 120 },
    );
    await healthy();
  });
});

describe('socket follows protocol', () => {
  test('protocol = http makes socket an HTTP listener; protocol = fastcgi a FastCGI one', async () => {
    const app = `${FIXTURES}/apps/conformance.py`;
    const h = await startTsgi(['--socket', '127.0.0.1:0', '--protocol', 'http', '--wsgi-file', app]);
    try {
      assert.equal((await fetchRaw(`${h.url('http')}/x`)).text, 'hello /x\n');
    } finally {
      assert.equal(await h.stop(), 0);
    }
    const f = new TsgiProcess([
      '--socket',
      '127.0.0.1:0',
      '--socket-protocol',
      'fastcgi',
      '--wsgi-file',
      app,
    ]);
    try {
      await f.waitForLine(/tsgi: ready/);
      assert.match(f.output, /tsgi: listening on fastcgi:\/\/127\.0\.0\.1:\d+/);
    } finally {
      assert.equal(await f.stop(), 0);
    }
  });

  test('a protocol tsgi does not speak is a config error naming the option', async () => {
    const p = new TsgiProcess([
      '--socket',
      '127.0.0.1:0',
      '--protocol',
      'scgi',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
    ]);
    assert.equal(await p.wait(), 1);
    assert.match(p.output, /option 'protocol': protocol 'scgi' is not supported/);
  });
});
