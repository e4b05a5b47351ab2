import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { endToEndHeaders } from '../../../../core/request/headers.js';
import { UwsgiResponseReader } from '../../../../plugins/uwsgi/response.js';
import { splitAt } from '../../../helpers/arbitraries.js';

interface Got {
  status?: number;
  reason?: string;
  headers?: string[];
  length?: number;
  body: Buffer[];
  end: boolean;
  error?: string;
}

/** Feed `chunks` then end of stream; resolves with what the reader reported. */
function read(chunks: Buffer[], method = 'GET', maxHead = 65536): Promise<Got> {
  return new Promise((resolve) => {
    const got: Got = { body: [], end: false };
    const r = new UwsgiResponseReader(method, maxHead, {
      head: (s, reason, h, l) => Object.assign(got, { status: s, reason, headers: h, length: l }),
      data: (c) => {
        got.body.push(Buffer.from(c));
        return true;
      },
      end: () => {
        got.end = true;
        resolve(got);
      },
      error: (code) => {
        got.error = code;
        resolve(got);
      },
    });
    let i = 0;
    const next = () => {
      if (i < chunks.length) {
        r.push(chunks[i++]!);
        setImmediate(next);
      } else r.finish();
    };
    next();
  });
}

const text = (g: Got) => Buffer.concat(g.body).toString('latin1');

describe('uwsgi response reader (llhttp and CGI heads)', () => {
  test('HTTP/1.1 with Content-Length, repeated Set-Cookie, latin-1 values', async () => {
    const g = await read([
      Buffer.from(
        'HTTP/1.1 201 Made\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX: caf\xe9\r\nContent-Length: 5\r\n\r\nhello',
        'latin1',
      ),
    ]);
    assert.equal(g.status, 201);
    assert.equal(g.reason, 'Made');
    assert.deepEqual(g.headers, [
      'Set-Cookie',
      'a=1',
      'Set-Cookie',
      'b=2',
      'X',
      'caf\xe9',
      'Content-Length',
      '5',
    ]);
    assert.equal(g.length, 5);
    assert.equal(text(g), 'hello');
    assert.ok(g.end);
  });

  test('a body delimited by the close, split anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        async (body, cuts) => {
          const wire = Buffer.concat([Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: x/y\r\n\r\n'), body]);
          const g = await read(splitAt(wire, cuts));
          assert.ok(g.end, g.error);
          assert.equal(g.length, -1);
          assert.ok(Buffer.concat(g.body).equals(Buffer.from(body)));
        },
      ),
      { numRuns: 50 },
    );
  });

  test('chunked coding is decoded and Transfer-Encoding and Connection headers are dropped', async () => {
    const g = await read([
      Buffer.from(
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nX-Keep: 2\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
      ),
    ]);
    assert.deepEqual(g.headers, ['X-Keep', '2']);
    assert.equal(text(g), 'hello');
  });

  test('HEAD: no body is expected, trailing bytes are ignored', async () => {
    const g = await read([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')], 'HEAD');
    assert.ok(g.end);
    assert.equal(g.length, -1);
    assert.equal(text(g), '');
  });

  test('a CGI Status head (uWSGI CGI-style answers) with its body until the close', async () => {
    const g = await read([Buffer.from('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope')]);
    assert.equal(g.status, 404);
    assert.equal(g.reason, 'Not Found');
    assert.equal(text(g), 'nope');
  });

  test('truncated responses are errors: no head, or a body shorter than its Content-Length', async () => {
    assert.equal((await read([])).error, 'TSGI_ERR_UPSTREAM_CLOSED');
    assert.equal(
      (await read([Buffer.from('HTTP/1.1 200 OK\r\nX: 1\r\n')])).error,
      'TSGI_ERR_UPSTREAM_CLOSED',
    );
    assert.equal(
      (await read([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc')])).error,
      'TSGI_ERR_UPSTREAM_CLOSED',
    );
    assert.equal((await read([Buffer.from('Status: 200 OK\r\n')])).error, 'TSGI_ERR_UPSTREAM_CLOSED');
  });

  test('garbage is a protocol error', async () => {
    assert.equal((await read([Buffer.from('HTTP/1.1 abc\r\n\r\n')])).error, 'TSGI_ERR_UPSTREAM_PROTOCOL');
    assert.equal((await read([Buffer.from('no colon here\r\n\r\n')])).error, 'TSGI_ERR_UPSTREAM_PROTOCOL');
  });

  test('the head limit: a head of exactly maxHeadBytes (blank line included) passes, one byte more is refused', async () => {
    const limit = 1024;
    for (const prefix of ['HTTP/1.1 200 OK\r\nX: ', 'Status: 200 OK\r\nX: ']) {
      const head = (size: number) => Buffer.from(`${prefix}${'a'.repeat(size - prefix.length - 4)}\r\n\r\n`);
      assert.equal(head(limit).length, limit);
      const ok = await read([head(limit), Buffer.from('x')], 'GET', limit);
      assert.equal(ok.status, 200, `${prefix} at the limit`);
      assert.equal(text(ok), 'x');
      const over = await read([head(limit + 1), Buffer.from('x')], 'GET', limit);
      assert.equal(over.error, 'TSGI_ERR_UPSTREAM_PROTOCOL', `${prefix} one past the limit`);
      const split = await read(splitAt(head(limit + 1), [100, 700]), 'GET', limit);
      assert.equal(split.error, 'TSGI_ERR_UPSTREAM_PROTOCOL', `${prefix} one past the limit, split`);
    }
  });

  test('endToEndHeaders keeps order and repeats', () => {
    assert.deepEqual(endToEndHeaders(['A', '1', 'Keep-Alive', 'x', 'A', '2']), ['A', '1', 'A', '2']);
  });
});
