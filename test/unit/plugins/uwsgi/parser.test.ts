import assert from 'node:assert/strict';
import { METHODS } from 'node:http';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodePacket, encodeVars, UwsgiCodecError } from '../../../../plugins/uwsgi/codec.js';
import { looksLikeHttp, UwsgiRequestParser } from '../../../../plugins/uwsgi/parser.js';
import { latin1, splitAt } from '../../../helpers/arbitraries.js';

function parseChunks(parser: UwsgiRequestParser, chunks: Buffer[]) {
  for (let i = 0; i < chunks.length; i++) {
    const r = parser.push(chunks[i]!);
    if (r) return { ...r, rest: Buffer.concat([r.rest, ...chunks.slice(i + 1)]) };
  }
  return null;
}

const codeOf = (e: unknown) => (e instanceof UwsgiCodecError ? e.code : String(e));

describe('uwsgi request parser', () => {
  test('however the bytes are split, the head and the body bytes come out whole', () => {
    const pairs = fc.array(
      fc.tuple(
        latin1(16).filter((k) => k !== '' && !k.startsWith('HTTP_')),
        latin1(40),
      ),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(
        pairs,
        fc.uint8Array({ maxLength: 64 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (vars, body, cuts) => {
          const pkt = encodePacket(vars, 0, 0);
          const wire = Buffer.concat([pkt, body]);
          const r = parseChunks(new UwsgiRequestParser(65535), splitAt(wire, cuts));
          assert.ok(r, 'a complete packet parses');
          assert.deepEqual(r.head.vars, new Map(vars));
          assert.equal(r.head.datasize, pkt.length - 4);
          assert.ok(r.rest.equals(Buffer.from(body)));
        },
      ),
    );
  });

  test("buffer-size: a vars block of exactly buffer-size bytes is accepted, one more is refused with uWSGI's message", () => {
    const block = (size: number) => encodePacket([['K', 'v'.repeat(size - 5)]]);
    const ok = new UwsgiRequestParser(4096).push(block(4096));
    assert.equal(ok?.head.datasize, 4096);
    assert.throws(
      () => new UwsgiRequestParser(4096).push(block(4097)),
      (e: unknown) =>
        codeOf(e) === 'TSGI_ERR_UWSGI_BLOCK_TOO_BIG' &&
        (e as Error).message === 'invalid request block size: 4097 (max 4096)...skip',
    );
  });

  test('an oversized block is refused from its 4-byte header, before the vars arrive', () => {
    const hdr = Buffer.from([0, 0x01, 0x20, 0]); // datasize 8193
    assert.throws(
      () => new UwsgiRequestParser(8192).push(hdr),
      (e: unknown) => codeOf(e) === 'TSGI_ERR_UWSGI_BLOCK_TOO_BIG',
    );
  });

  test('an HTTP request line is recognised for every method node knows, whatever buffer-size is', () => {
    for (const m of METHODS) {
      const line = Buffer.from(`${m} / HTTP/1.1\r\nHost: x\r\n\r\n`);
      for (const size of [512, 65535]) {
        assert.throws(
          () => new UwsgiRequestParser(size).push(line),
          (e: unknown) => codeOf(e) === 'TSGI_ERR_UWSGI_HTTP',
          m,
        );
        // one byte at a time too
        const p = new UwsgiRequestParser(size);
        assert.throws(
          () => {
            for (const b of line) p.push(Buffer.from([b]));
          },
          (e: unknown) => codeOf(e) === 'TSGI_ERR_UWSGI_HTTP',
        );
      }
    }
    assert.match(
      (() => {
        try {
          new UwsgiRequestParser(4096).push(Buffer.from('GET / HTTP/1.1\r\n'));
        } catch (e) {
          return (e as Error).message;
        }
        return '';
      })(),
      /block size 21573/,
    );
  });

  test('looksLikeHttp: prefixes wait, lower case and binary do not match', () => {
    assert.equal(looksLikeHttp(Buffer.from('DEL')), 'maybe');
    assert.equal(looksLikeHttp(Buffer.from('DELETE ')), 'yes');
    assert.equal(looksLikeHttp(Buffer.from('get ')), 'no');
    assert.equal(looksLikeHttp(Buffer.from([0, 10, 0, 0])), 'no');
    assert.equal(looksLikeHttp(Buffer.from('GETX')), 'no');
  });

  test('malformed vars and empty keys are refused with their codes', () => {
    const good = encodeVars([['A', 'b']]);
    const bad = Buffer.concat([Buffer.from([0, good.length + 2, 0, 0]), good, Buffer.from([9, 0])]);
    assert.throws(
      () => new UwsgiRequestParser(4096).push(bad),
      (e: unknown) => codeOf(e) === 'TSGI_ERR_UWSGI_VARS',
    );
    const empty = encodePacket([['', 'x']]);
    assert.throws(
      () => new UwsgiRequestParser(4096).push(empty),
      (e: unknown) => codeOf(e) === 'TSGI_ERR_UWSGI_EMPTY_KEY',
    );
  });

  test('repeated HTTP_* vars are joined like HTTP headers; others keep the last value', () => {
    const r = new UwsgiRequestParser(4096).push(
      encodePacket([
        ['HTTP_ACCEPT', 'a'],
        ['HTTP_ACCEPT', 'b'],
        ['HTTP_COOKIE', 'x=1'],
        ['HTTP_COOKIE', 'y=2'],
        ['PATH_INFO', '/a'],
        ['PATH_INFO', '/b'],
      ]),
    );
    assert.equal(r?.head.vars.get('HTTP_ACCEPT'), 'a, b');
    assert.equal(r?.head.vars.get('HTTP_COOKIE'), 'x=1; y=2');
    assert.equal(r?.head.vars.get('PATH_INFO'), '/b');
  });

  test('random bytes either parse, wait for more, or fail with a uwsgi error: nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const p = new UwsgiRequestParser(256);
        try {
          parseChunks(p, splitAt(Buffer.from(bytes), cuts));
        } catch (e) {
          assert.ok(e instanceof UwsgiCodecError, String(e));
        }
      }),
    );
  });
});
