import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  decodeHeader,
  decodePairs,
  decodeVars,
  encodePacket,
  encodeVars,
  UWSGI_HEADER_BYTES,
  UwsgiCodecError,
  varsByteLength,
} from '../../../../plugins/uwsgi/codec.js';

const latin1 = fc.string({
  unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)),
  maxLength: 40,
});

test('vars round-trip for any latin-1 keys and values, including __proto__', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.oneof(latin1, fc.constant('__proto__')), latin1), { maxLength: 30 }),
      (pairs) => {
        const expected = new Map<string, string>();
        for (const [k, v] of pairs) expected.set(k, v);
        const block = encodeVars(pairs);
        assert.equal(block.length, varsByteLength(pairs));
        assert.deepEqual(decodeVars(block), expected);
        assert.deepEqual(decodePairs(block), pairs.flat());
      },
    ),
  );
});

test('packet header: modifier1, little-endian datasize, modifier2', () => {
  const pkt = encodePacket([['A', 'bc']], 5, 7);
  assert.deepEqual([...pkt.subarray(0, 4)], [5, 7, 0, 7]);
  assert.deepEqual(decodeHeader(pkt), { modifier1: 5, datasize: 7, modifier2: 7 });
  assert.deepEqual(decodeVars(pkt, UWSGI_HEADER_BYTES), new Map([['A', 'bc']]));
});

test('a vars block of exactly 65535 bytes encodes; one more byte is refused', () => {
  const value = 'x'.repeat(65535 - 4 - 1);
  assert.equal(encodePacket([['K', value]]).length, 4 + 65535);
  assert.throws(
    () => encodePacket([['K', `${value}x`]]),
    (e: unknown) => e instanceof UwsgiCodecError && e.code === 'TSGI_ERR_UWSGI_BLOCK_TOO_BIG',
  );
});

test('every truncation of a valid block is rejected with a codec error, never garbage', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(latin1, latin1), { minLength: 1, maxLength: 8 }),
      fc.nat(),
      (pairs, cut) => {
        const block = encodeVars(pairs);
        const at = cut % block.length;
        if (at === 0) return;
        try {
          const m = decodeVars(block, 0, at);
          // A cut can land exactly on a pair boundary: then the result is a prefix of the pairs.
          assert.ok(m.size < pairs.length || new Set(pairs.map((p) => p[0])).size < pairs.length);
        } catch (e) {
          assert.ok(e instanceof UwsgiCodecError);
          assert.equal((e as UwsgiCodecError).code, 'TSGI_ERR_UWSGI_VARS');
        }
      },
    ),
  );
});

test('a whole packet round-trips: header fields and vars in order, repeats kept', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(latin1, latin1), { maxLength: 20 }),
      fc.nat(255),
      fc.nat(255),
      (pairs, m1, m2) => {
        const pkt = encodePacket(pairs, m1, m2);
        assert.deepEqual(decodeHeader(pkt), { modifier1: m1, datasize: pkt.length - 4, modifier2: m2 });
        assert.deepEqual(decodePairs(pkt, UWSGI_HEADER_BYTES), pairs.flat());
      },
    ),
  );
});

test('a value of 65535 bytes is encodable; 65536 is refused', () => {
  assert.equal(encodeVars([['V', 'x'.repeat(65535)]]).length, 4 + 1 + 65535);
  assert.throws(
    () => encodeVars([['V', 'x'.repeat(65536)]]),
    (e: unknown) => e instanceof UwsgiCodecError && e.code === 'TSGI_ERR_UWSGI_VAR_TOO_LONG',
  );
});
