import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodePairs, encodePairs, pairsByteLength } from '../../../../plugins/fastcgi/pairs.js';
import { RecordReader } from '../../../../plugins/fastcgi/parser.js';
import {
  decodeBeginRequest,
  decodeEndRequest,
  decodeRecordHeader,
  encodeBeginRequest,
  encodeEndRequest,
  encodeRecord,
  encodeStream,
  encodeUnknownType,
  FastcgiProtocolError,
  FCGI_HEADER_BYTES,
  FCGI_MAX_CONTENT,
  RecordType,
  writeRecordHeader,
} from '../../../../plugins/fastcgi/record.js';
import { latin1, splitAt, varPairs } from '../../../helpers/arbitraries.js';

interface Rec {
  type: number;
  id: number;
  content: Buffer;
}

function readAll(chunks: Buffer[]): Rec[] {
  const out: Rec[] = [];
  const r = new RecordReader((type, id, buf, s, e) =>
    out.push({ type, id, content: Buffer.from(buf.subarray(s, e)) }),
  );
  for (const c of chunks) r.push(c);
  return out;
}

const record = fc.record({
  type: fc.integer({ min: 1, max: 255 }),
  id: fc.integer({ min: 0, max: 65535 }),
  content: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  padding: fc.integer({ min: 0, max: 255 }),
});

describe('FastCGI records', () => {
  test('records (with any padding) round-trip through the reader however the bytes are split', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 8 }), (recs, cuts) => {
        const wire = Buffer.concat(
          recs.map((r) => {
            const b = Buffer.alloc(FCGI_HEADER_BYTES + r.content.length + r.padding, 0xee);
            writeRecordHeader(b, 0, r.type, r.id, r.content.length, r.padding);
            r.content.copy(b, FCGI_HEADER_BYTES);
            return b;
          }),
        );
        const got = readAll(splitAt(wire, cuts));
        assert.deepEqual(
          got,
          recs.map(({ type, id, content }) => ({ type, id, content })),
        );
      }),
    );
  });

  test('header fields round-trip', () => {
    fc.assert(
      fc.property(record, (r) => {
        const b = encodeRecord(r.type, r.id, r.content);
        assert.deepEqual(decodeRecordHeader(b), {
          version: 1,
          type: r.type,
          requestId: r.id,
          contentLength: r.content.length,
          paddingLength: 0,
        });
      }),
    );
  });

  test('streams: 65535 bytes make one record, 65536 make two; the end record is empty', () => {
    const one = encodeStream(RecordType.STDOUT, 7, Buffer.alloc(FCGI_MAX_CONTENT, 1));
    assert.deepEqual(
      readAll([one]).map((r) => r.content.length),
      [65535],
    );
    const two = encodeStream(RecordType.STDOUT, 7, Buffer.alloc(FCGI_MAX_CONTENT + 1, 1), true);
    assert.deepEqual(
      readAll([two]).map((r) => r.content.length),
      [65535, 1, 0],
    );
    assert.equal(encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)).length, 0);
    assert.throws(() => encodeRecord(RecordType.STDOUT, 1, Buffer.alloc(FCGI_MAX_CONTENT + 1)), RangeError);
  });

  test('a stream of any size reassembles to its data', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 1, max: 65535 }), (size, id) => {
        const data = Buffer.alloc(size, size % 251);
        const recs = readAll([encodeStream(RecordType.STDIN, id, data, true)]);
        assert.ok(Buffer.concat(recs.map((r) => r.content)).equals(data));
        assert.equal(recs.at(-1)!.content.length, 0);
        assert.ok(recs.every((r) => r.id === id && r.type === RecordType.STDIN));
      }),
      { numRuns: 30 },
    );
  });

  test('BEGIN_REQUEST, END_REQUEST and UNKNOWN_TYPE bodies', () => {
    fc.assert(
      fc.property(fc.nat(65535), fc.nat(65535), fc.nat(255), fc.nat(0xffffffff), (id, role, flags, app) => {
        const [b] = readAll([encodeBeginRequest(id, role, flags)]);
        assert.deepEqual(decodeBeginRequest(b!.content, 0, 8), { role, flags });
        const [e] = readAll([encodeEndRequest(id, app, flags)]);
        assert.deepEqual(decodeEndRequest(e!.content, 0, 8), { appStatus: app, protocolStatus: flags });
      }),
    );
    const [u] = readAll([encodeUnknownType(42)]);
    assert.equal(u!.type, RecordType.UNKNOWN_TYPE);
    assert.equal(u!.content[0], 42);
    assert.throws(() => decodeBeginRequest(Buffer.alloc(7), 0, 7), FastcgiProtocolError);
  });

  test('a record with a version other than 1 is refused', () => {
    const b = encodeRecord(RecordType.STDIN, 1, Buffer.from('x'));
    b[0] = 2;
    assert.throws(
      () => readAll([b]),
      (e: unknown) => e instanceof FastcgiProtocolError && e.code === 'TSGI_ERR_FASTCGI_VERSION',
    );
  });
});

describe('FastCGI name-value pairs', () => {
  test('round-trip (order, repeats, __proto__, latin-1)', () => {
    fc.assert(
      fc.property(varPairs(), (pairs) => {
        const enc = encodePairs(pairs);
        assert.equal(enc.length, pairsByteLength(pairs));
        assert.deepEqual(decodePairs(enc), pairs.flat());
      }),
    );
  });

  test('lengths: 127 takes one byte, 128 takes four with the high bit set', () => {
    for (const [n, bytes] of [
      [0, 1],
      [127, 1],
      [128, 4],
      [70000, 4],
    ] as const) {
      const enc = encodePairs([['x'.repeat(n), '']]);
      assert.equal(enc.length, bytes + 1 + n, `name of ${n}`);
      if (bytes === 4) assert.equal(enc[0]! & 0x80, 0x80);
      assert.deepEqual(decodePairs(enc), ['x'.repeat(n), '']);
    }
  });

  test('every truncation of a non-empty pair list is refused (or is a shorter whole list)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(latin1(200), latin1(200)), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        (pairs, cut) => {
          const enc = encodePairs(pairs);
          const end = cut % enc.length;
          const bounds = new Set<number>([0]);
          let o = 0;
          for (const p of pairs) {
            o += pairsByteLength([p]);
            bounds.add(o);
          }
          if (bounds.has(end)) assert.doesNotThrow(() => decodePairs(enc, 0, end));
          else
            assert.throws(
              () => decodePairs(enc, 0, end),
              (e: unknown) => e instanceof FastcgiProtocolError && e.code === 'TSGI_ERR_FASTCGI_PAIRS',
            );
        },
      ),
    );
  });
});
