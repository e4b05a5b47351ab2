import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { decodePairs, encodePairs } from '../../../plugins/fastcgi/pairs.js';
import {
  encodeBeginRequest,
  encodeRecord,
  encodeStream,
  FCGI_KEEP_CONN,
  ProtocolStatus,
  RecordType,
  Role,
} from '../../../plugins/fastcgi/record.js';
import { answer, FcgiConn, fcgiRequest, records } from '../../helpers/fcgi.js';
import { addressOf, assertIdle, exchange, stats } from '../../helpers/peers.js';
import {
  FIXTURES,
  requireTool,
  runs,
  startTsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

/** Params as nginx's stock fastcgi_params send them: no PATH_INFO, SCRIPT_NAME is the path. */
function params(method: string, uri: string, extra: Array<[string, string]> = []): Array<[string, string]> {
  const q = uri.indexOf('?');
  const path = q < 0 ? uri : uri.slice(0, q);
  const base: Array<[string, string]> = [
    ['QUERY_STRING', q < 0 ? '' : uri.slice(q + 1)],
    ['REQUEST_METHOD', method],
    ['CONTENT_TYPE', ''],
    ['CONTENT_LENGTH', ''],
    ['SCRIPT_NAME', path],
    ['REQUEST_URI', uri],
    ['DOCUMENT_URI', path],
    ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_SCHEME', 'http'],
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'nginx/1.22.1'],
    ['REMOTE_ADDR', '198.51.100.7'],
    ['REMOTE_PORT', '51000'],
    ['SERVER_ADDR', '127.0.0.1'],
    ['SERVER_PORT', '80'],
    ['SERVER_NAME', 'example.org'],
    ['HTTP_HOST', 'example.org'],
  ];
  const given = new Map(extra);
  return [
    ...base.map(([k, v]) => [k, given.get(k) ?? v] as [string, string]),
    ...extra.filter(([k]) => !base.some(([b]) => b === k)),
  ];
}

describe('FastCGI edge (fastcgi-socket) with raw records', () => {
  let tsgi: TsgiProcess;
  let addr: string;
  const tmp = tempDir('tsgi-fcgi-edge-');
  const statsSock = join(tmp.path, 'stats.sock');

  async function one(req: Buffer): Promise<ReturnType<typeof answer> & { closed: boolean }> {
    const r = await exchange(addr, req);
    return { ...answer(records(r.data), 1), closed: r.closed };
  }

  async function healthy(): Promise<void> {
    const a = await one(fcgiRequest(1, params('GET', '/ok')));
    assert.equal(a.body.toString(), 'hello /ok\n');
    await assertIdle(statsSock, tsgi);
  }

  before(async () => {
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--fastcgi-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--processes',
      '2',
      '--limit-post',
      '1000',
      '--socket-timeout',
      '2',
      '--stats',
      statsSock,
    ]);
    addr = addressOf(tsgi.url('fastcgi'));
  });

  after(async () => {
    if (tsgi) assert.equal(await tsgi.stop(), 0);
    tmp.cleanup();
  });

  test("stock fastcgi_params: SCRIPT_NAME is '' and PATH_INFO the path; CGI head with Status; END_REQUEST appStatus 0", async () => {
    const a = await one(fcgiRequest(1, params('GET', '/environ?x=1', [['HTTP_X_CUSTOM', 'yes']])));
    assert.equal(a.status, 200);
    const env = JSON.parse(a.body.toString()) as Record<string, string>;
    assert.equal(env.SCRIPT_NAME, '');
    assert.equal(env.PATH_INFO, '/environ');
    assert.equal(env.QUERY_STRING, 'x=1');
    assert.equal(env.REMOTE_ADDR, '198.51.100.7');
    assert.equal(env.HTTP_X_CUSTOM, 'yes');
    assert.equal(env.CONTENT_LENGTH, undefined, 'an empty CONTENT_LENGTH is dropped');
    assert.deepEqual(a.end, { appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
    assert.ok(a.closed, 'without FCGI_KEEP_CONN the connection is closed');
    const nf = await one(fcgiRequest(1, params('GET', '/status?404')));
    assert.match(nf.stdout.toString(), /^Status: 404 Custom Reason\r\n/);
    const c = await one(fcgiRequest(1, params('GET', '/cookies')));
    assert.deepEqual(
      c.headers.filter(([n]) => n === 'set-cookie').map(([, v]) => v),
      ['a=1', 'b=2'],
    );
  });

  test('POST body in STDIN records', async () => {
    const body = 'p'.repeat(700);
    const a = await one(fcgiRequest(1, params('POST', '/echo', [['CONTENT_LENGTH', '700']]), body));
    assert.equal(a.status, 200);
    assert.equal(a.body.toString(), body);
  });

  test('a body without CONTENT_LENGTH streams until the empty STDIN record', async () => {
    const a = await one(fcgiRequest(1, params('POST', '/lines'), 'a\nb\n'));
    assert.deepEqual(JSON.parse(a.body.toString()), ['a\n', 'b\n']);
  });

  test('FCGI_KEEP_CONN: several requests one after the other on one connection', async () => {
    const c = new FcgiConn(addr);
    try {
      for (const id of [1, 2, 3]) {
        c.send(fcgiRequest(id, params('GET', `/n${id}`), '', FCGI_KEEP_CONN));
        const a = await c.answer(id);
        assert.equal(a.body.toString(), `hello /n${id}\n`);
        assert.equal(c.closed, false, 'the connection stays open');
      }
    } finally {
      c.close();
    }
  });

  test('multiplexing: two requests interleaved on one connection are answered independently', async () => {
    const c = new FcgiConn(addr);
    try {
      const slow = params('GET', '/sleep?0.5');
      const fast = params('GET', '/pid');
      c.send(
        Buffer.concat([
          encodeBeginRequest(1, Role.RESPONDER, FCGI_KEEP_CONN),
          encodeBeginRequest(2, Role.RESPONDER, FCGI_KEEP_CONN),
        ]),
      );
      c.send(encodeStream(RecordType.PARAMS, 1, encodePairs(slow), true));
      c.send(encodeStream(RecordType.PARAMS, 2, encodePairs(fast), true));
      c.send(
        Buffer.concat([
          encodeStream(RecordType.STDIN, 2, Buffer.alloc(0), true),
          encodeStream(RecordType.STDIN, 1, Buffer.alloc(0), true),
        ]),
      );
      const fastAnswer = await c.answer(2);
      assert.match(fastAnswer.body.toString(), /^\d+$/);
      assert.equal(answer(c.records(), 1).end, null, 'the slow request is still running');
      const slowAnswer = await c.answer(1);
      assert.equal(slowAnswer.body.toString(), 'slept\n');
    } finally {
      c.close();
    }
  });

  test('GET_VALUES is answered; unknown management records get UNKNOWN_TYPE', async () => {
    const r = await exchange(
      addr,
      Buffer.concat([
        encodeRecord(
          RecordType.GET_VALUES,
          0,
          encodePairs([
            ['FCGI_MPXS_CONNS', ''],
            ['FCGI_MAX_REQS', ''],
            ['NOPE', ''],
          ]),
        ),
        encodeRecord(42, 0, Buffer.alloc(8)),
      ]),
      1500,
    );
    const recs = records(r.data);
    const values = recs.find((x) => x.type === RecordType.GET_VALUES_RESULT)!;
    const pairs = decodePairs(values.content);
    assert.deepEqual(pairs, ['FCGI_MPXS_CONNS', '1', 'FCGI_MAX_REQS', '1024']);
    const unknown = recs.find((x) => x.type === RecordType.UNKNOWN_TYPE)!;
    assert.equal(unknown.content[0], 42);
  });

  test('a role other than responder gets END_REQUEST with FCGI_UNKNOWN_ROLE', async () => {
    const a = await one(fcgiRequest(1, params('GET', '/ok'), '', 0, Role.AUTHORIZER));
    assert.deepEqual(a.end, { appStatus: 0, protocolStatus: ProtocolStatus.UNKNOWN_ROLE });
  });

  test('ABORT_REQUEST ends the request at once (END_REQUEST, no response) and frees its slot', async () => {
    const c = new FcgiConn(addr);
    try {
      c.send(fcgiRequest(1, params('GET', '/sleep?1'), '', FCGI_KEEP_CONN));
      await waitFor(async () => (await stats(statsSock)).load > 0, 5000, 'the request to reach a worker');
      c.send(encodeRecord(RecordType.ABORT_REQUEST, 1));
      const a = await c.answer(1);
      assert.deepEqual(a.end, { appStatus: 0, protocolStatus: ProtocolStatus.REQUEST_COMPLETE });
      assert.equal(a.stdout.length, 0, 'no response for an aborted request');
      // the connection goes on serving
      c.send(fcgiRequest(2, params('GET', '/after'), '', FCGI_KEEP_CONN));
      assert.equal((await c.answer(2)).body.toString(), 'hello /after\n');
    } finally {
      c.close();
    }
    await healthy();
  });

  test('buffer-size: params of exactly 4096 bytes (as uwsgi vars) are served, 4097 get 431', async () => {
    const fill = (size: number) => {
      const base = params('GET', '/ok');
      const used = base.reduce((n, [k, v]) => n + 4 + k.length + v.length, 0) + 4 + 'HTTP_X_FILL'.length;
      return [...base, ['HTTP_X_FILL', 'f'.repeat(size - used)]] as Array<[string, string]>;
    };
    assert.equal((await one(fcgiRequest(1, fill(4096)))).status, 200);
    const over = await one(fcgiRequest(1, fill(4097)));
    assert.equal(over.status, 431);
    assert.equal(over.end?.protocolStatus, ProtocolStatus.REQUEST_COMPLETE);
  });

  test('limit-post: exactly limit-post bytes are served, one more gets 413 (declared or streamed)', async () => {
    const ok = await one(
      fcgiRequest(1, params('POST', '/echo', [['CONTENT_LENGTH', '1000']]), 'z'.repeat(1000)),
    );
    assert.equal(ok.status, 200);
    const declared = await one(
      fcgiRequest(1, params('POST', '/echo', [['CONTENT_LENGTH', '1001']]), 'z'.repeat(1001)),
    );
    assert.equal(declared.status, 413);
    const streamed = await one(fcgiRequest(1, params('POST', '/echo'), 'z'.repeat(1001)));
    assert.equal(streamed.status, 413);
  });

  test('STDIN shorter than CONTENT_LENGTH gets 400', async () => {
    const a = await one(fcgiRequest(1, params('POST', '/echo', [['CONTENT_LENGTH', '10']]), 'short'));
    assert.equal(a.status, 400);
  });

  test('a record with a bad version closes the connection and is logged', async () => {
    const bad = encodeRecord(RecordType.BEGIN_REQUEST, 1, Buffer.alloc(8));
    bad[0] = 9;
    const r = await exchange(addr, bad);
    assert.ok(r.closed);
    assert.equal(r.data.length, 0);
    await tsgi.waitForLine(/fastcgi: FastCGI record with version 9/);
  });

  test('random and truncated record streams never crash the master nor leak a worker slot', async () => {
    const valid = fcgiRequest(
      1,
      params('POST', '/echo', [['CONTENT_LENGTH', '20']]),
      'q'.repeat(20),
      FCGI_KEEP_CONN,
    );
    const recordish = fc
      .tuple(
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 0, max: 3 }),
        fc.uint8Array({ maxLength: 40 }),
      )
      .map(([type, id, content]) => encodeRecord(type, id, Buffer.from(content)));
    const streams = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a)),
      fc.nat(valid.length).map((n) => valid.subarray(0, n)),
      fc.array(recordish, { maxLength: 8 }).map((rs) => Buffer.concat(rs)),
      fc
        .tuple(fc.nat(valid.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }))
        .map(([at, junk]) => Buffer.concat([valid.subarray(0, at), Buffer.from(junk), valid.subarray(at)])),
    );
    await fc.assert(
      fc.asyncProperty(streams, async (bytes) => {
        const r = await exchange(addr, bytes, 5000, { halfClose: true });
        assert.ok(r.closed, 'every connection ends');
        for (const rec of records(r.data))
          assert.ok(rec.type >= 3 && rec.type <= 11, `record type ${rec.type}`);
      }),
      { numRuns: 120 },
    );
    await healthy();
  });

  describe('cgi-fcgi (libfcgi) as a client', {
    skip: requireTool(() => runs('sh', ['-c', 'command -v cgi-fcgi']), 'cgi-fcgi'),
  }, () => {
    const env = (method: string, uri: string, extra: Record<string, string> = {}) => ({
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...Object.fromEntries(params(method, uri).filter(([, v]) => v !== '')),
      ...extra,
    });

    test('GET', () => {
      const out = execFileSync('cgi-fcgi', ['-bind', '-connect', addr], {
        env: env('GET', '/environ?via=cgi-fcgi'),
        timeout: 10_000,
      });
      const text = out.toString('latin1');
      assert.match(text, /^Status: 200 OK\r\n/);
      const env2 = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, string>;
      assert.equal(env2.QUERY_STRING, 'via=cgi-fcgi');
      assert.equal(env2.PATH_INFO, '/environ');
    });

    test('POST with a body on stdin', () => {
      const out = execFileSync('cgi-fcgi', ['-bind', '-connect', addr], {
        env: env('POST', '/echo', { CONTENT_LENGTH: '11', CONTENT_TYPE: 'text/plain' }),
        input: 'hello world',
        timeout: 10_000,
      });
      assert.match(out.toString(), /\r\n\r\nhello world$/);
    });
  });

  test('FCGI_MAX_REQS (listen): that many requests multiplexed on one connection are served, one more is FCGI_OVERLOADED', async () => {
    const small = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--fastcgi-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--threads',
      '2',
      '--listen',
      '2',
    ]);
    const c = new FcgiConn(addressOf(small.url('fastcgi')));
    try {
      for (const id of [1, 2, 3]) c.send(fcgiRequest(id, params('GET', '/sleep?0.3'), '', FCGI_KEEP_CONN));
      const third = await c.answer(3);
      assert.deepEqual(third.end, { appStatus: 0, protocolStatus: ProtocolStatus.OVERLOADED });
      assert.equal((await c.answer(1)).body.toString(), 'slept\n');
      assert.equal((await c.answer(2)).body.toString(), 'slept\n');
    } finally {
      c.close();
      assert.equal(await small.stop(), 0);
    }
  });
});
