import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  CgiHeadError,
  CgiHeadReader,
  decodeCgiHead,
  encodeCgiHead,
} from '../../../../core/request/cgi-head.js';
import { splitAt } from '../../../helpers/arbitraries.js';

const token = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/)
  .filter((n) => !/^(status|content-length|transfer-encoding)$/i.test(n));
const value = fc.stringMatching(/^[ -~\x80-\xff]{0,40}$/).map((v) => v.trim());

describe('CGI response heads', () => {
  test('encode → read round-trips status, reason and headers, however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 599 }),
        fc.stringMatching(/^[A-Za-z][A-Za-z ]{0,20}$/).map((r) => r.trim()),
        fc.array(fc.tuple(token, value), { maxLength: 10 }),
        fc.uint8Array({ maxLength: 50 }),
        fc.array(fc.nat(), { maxLength: 5 }),
        (status, reason, pairs, body, cuts) => {
          const headers = pairs.flat();
          const wire = Buffer.concat([encodeCgiHead(status, reason, headers), body]);
          const reader = new CgiHeadReader(65536);
          let got: ReturnType<CgiHeadReader['push']> = null;
          const chunks = splitAt(wire, cuts);
          let i = 0;
          for (; i < chunks.length && !got; i++) got = reader.push(chunks[i]!);
          assert.ok(got);
          assert.equal(got.head.status, status);
          if (reason) assert.equal(got.head.reason, reason);
          assert.deepEqual(got.head.headers, headers);
          assert.ok(Buffer.concat([got.rest, ...chunks.slice(i)]).equals(Buffer.from(body)));
        },
      ),
    );
  });

  test('defaults: 200 OK; Location alone is 302; LF line ends; Content-Length added when the length is known', () => {
    assert.deepEqual(decodeCgiHead('Content-Type: text/html'), {
      status: 200,
      reason: 'OK',
      headers: ['Content-Type', 'text/html'],
    });
    assert.equal(decodeCgiHead('Location: /x').status, 302);
    assert.equal(decodeCgiHead('Status: 301 Moved\nLocation: /x').status, 301);
    const r = new CgiHeadReader(100).push(Buffer.from('Status: 404\nA: b\n\nbody'));
    assert.deepEqual(r?.head, { status: 404, reason: 'Not Found', headers: ['A', 'b'] });
    assert.equal(r?.rest.toString(), 'body');
    assert.equal(new CgiHeadReader(100).push(Buffer.from('\r\nbody'))?.rest.toString(), 'body');
    assert.match(encodeCgiHead(200, 'OK', [], 12).toString(), /Content-Length: 12\r\n\r\n$/);
    assert.doesNotMatch(
      encodeCgiHead(200, 'OK', ['content-length', '3'], 12).toString(),
      /Content-Length: 12/,
    );
  });

  test('malformed heads are refused; headers with CR/LF are never encoded', () => {
    for (const bad of ['no colon', 'Status: abc', ': empty name', ' folded: x', 'Bad Name: x'])
      assert.throws(() => decodeCgiHead(bad), CgiHeadError, bad);
    assert.throws(() => encodeCgiHead(200, 'OK', ['X', 'a\r\nInjected: 1']));
    assert.throws(() => encodeCgiHead(200, 'OK', ['X Y', 'a']));
  });

  test('the head limit: exactly maxBytes (blank line included) passes, one more byte is refused', () => {
    const head = (size: number) => Buffer.from(`X: ${'a'.repeat(size - 7)}\r\n\r\n`);
    assert.equal(head(200).length, 200);
    assert.ok(new CgiHeadReader(200).push(head(200)));
    assert.throws(
      () => new CgiHeadReader(200).push(head(201)),
      (e: unknown) => e instanceof CgiHeadError && e.code === 'TSGI_ERR_CGI_HEAD_TOO_BIG',
    );
    const r = new CgiHeadReader(200);
    assert.equal(r.push(Buffer.alloc(200, 0x61)), null);
    assert.throws(() => r.push(Buffer.from('a')), CgiHeadError);
  });
});
