import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  decodeHeader,
  decodePairs,
  decodeVars,
  encodePacket,
  encodeVars,
  UWSGI_MAX_DATASIZE,
  UwsgiCodecError,
} from '../../../../plugins/uwsgi/codec.js';
import { latin1, varPairs } from '../../../helpers/arbitraries.js';

describe('uwsgi codec', () => {
  test('vars round-trip as pairs (order and repeats kept) and as a Map (last value wins)', () => {
    fc.assert(
      fc.property(varPairs(), (pairs) => {
        const block = encodeVars(pairs);
        assert.deepEqual(decodePairs(block), pairs.flat());
        const map = decodeVars(block);
        assert.deepEqual(map, new Map(pairs));
        assert.ok(!Object.hasOwn(Object.prototype, 'polluted'));
      }),
    );
  });

  test('a whole packet round-trips: header fields and vars', () => {
    fc.assert(
      fc.property(varPairs(), fc.nat(255), fc.nat(255), (pairs, m1, m2) => {
        const pkt = encodePacket(pairs, m1, m2);
        const h = decodeHeader(pkt);
        assert.deepEqual(h, { modifier1: m1, datasize: pkt.length - 4, modifier2: m2 });
        assert.deepEqual(decodePairs(pkt, 4), pairs.flat());
      }),
    );
  });

  test('every truncation of a vars block is rejected with TSGI_ERR_UWSGI_VARS', () => {
    fc.assert(
      fc.property(
        varPairs(5).filter((p) => p.length > 0),
        fc.nat(),
        (pairs, cut) => {
          const block = encodeVars(pairs);
          const end = cut % block.length;
          // A cut on a pair boundary is a valid (shorter) block; any other cut must throw.
          let boundary = 0;
          const bounds = new Set([0]);
          for (const [k, v] of pairs) {
            boundary += 4 + k.length + v.length;
            bounds.add(boundary);
          }
          if (bounds.has(end)) assert.doesNotThrow(() => decodeVars(block, 0, end));
          else
            assert.throws(
              () => decodeVars(block, 0, end),
              (e: unknown) => e instanceof UwsgiCodecError && e.code === 'TSGI_ERR_UWSGI_VARS',
            );
        },
      ),
    );
  });

  test('a packet of exactly 65535 bytes of vars is encoded; one byte more is refused', () => {
    const at = [['K', 'v'.repeat(UWSGI_MAX_DATASIZE - 5)]] as const;
    assert.equal(encodePacket(at).readUInt16LE(1), UWSGI_MAX_DATASIZE);
    assert.throws(
      () => encodePacket([['K', 'v'.repeat(UWSGI_MAX_DATASIZE - 4)]]),
      (e: unknown) => e instanceof UwsgiCodecError && e.code === 'TSGI_ERR_UWSGI_BLOCK_TOO_BIG',
    );
  });

  test('a value of 65535 bytes is encodable; 65536 is refused', () => {
    assert.equal(encodeVars([['V', 'x'.repeat(65535)]]).length, 4 + 1 + 65535);
    assert.throws(
      () => encodeVars([['V', 'x'.repeat(65536)]]),
      (e: unknown) => e instanceof UwsgiCodecError && e.code === 'TSGI_ERR_UWSGI_VAR_TOO_LONG',
    );
  });

  test('latin-1 strings map byte for byte', () => {
    fc.assert(
      fc.property(latin1(100), (s) => {
        const block = encodeVars([['X', s]]);
        assert.equal(block.length, 4 + 1 + s.length);
        assert.equal(decodeVars(block).get('X'), s);
      }),
    );
  });
});
