import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  encodeSignal,
  encodeStdin,
  encodeWinsize,
  PtyPacketDecoder,
} from '../../../../plugins/pty/framing.js';

// Byte layouts from uWSGI's source: plugins/pty/pty.c (uwsgi_pty_winch writes rows then cols,
// `0 | size u16le | 100` and `0 | size u16le | 101`; stdin is `0 | len u16le | 0` then the bytes)
// and plugins/forkptyrouter/forkptyrouter.c (modifier2 0 stdin, 1-99 signal, 100 rows, 101 cols).
describe("pty framing (uWSGI's forkpty-urouter packets)", () => {
  test('window size is two packets, rows then cols, exactly as uwsgi_pty_winch writes them', () => {
    assert.deepEqual([...encodeWinsize(50, 300)], [0, 50, 0, 100, 0, 300 & 0xff, 300 >> 8, 101]);
  });

  test('stdin is a 4-byte header with modifier2 0 and the bytes', () => {
    assert.deepEqual([...encodeStdin(Buffer.from('ls\r'))], [0, 3, 0, 0, 0x6c, 0x73, 0x0d]);
  });

  test('stdin longer than 65535 bytes is split into packets', () => {
    const big = Buffer.alloc(70_000, 0x61);
    const packets = new PtyPacketDecoder().push(encodeStdin(big));
    assert.deepEqual(
      packets.map((p) => (p.kind === 'stdin' ? p.data.length : -1)),
      [65535, 70_000 - 65535],
    );
  });

  test('decodes what uWSGI sends: the C layout, byte by byte', () => {
    const d = new PtyPacketDecoder();
    const wire = Buffer.from([0, 24, 0, 100, 0, 80, 0, 101, 0, 2, 0, 0, 0x68, 0x69, 0, 0, 0, 2]);
    const got = [...wire].flatMap((b) => d.push(Buffer.from([b])));
    assert.deepEqual(got, [
      { kind: 'rows', rows: 24 },
      { kind: 'cols', cols: 80 },
      { kind: 'stdin', data: Buffer.from('hi') },
      { kind: 'signal', signal: 2 },
    ]);
  });

  test('signal packets carry the number in modifier2 and nothing else', () => {
    assert.deepEqual([...encodeSignal(15)], [0, 0, 0, 15]);
    assert.throws(() => encodeSignal(100), RangeError);
    assert.throws(() => encodeSignal(0), RangeError);
  });

  test('any split of a packet stream decodes to the same packets', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }).map((b) => encodeStdin(Buffer.from(b))),
            fc
              .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 }))
              .map(([r, c]) => encodeWinsize(r, c)),
            fc.integer({ min: 1, max: 99 }).map(encodeSignal),
          ),
          { maxLength: 20 },
        ),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
        (parts, cuts) => {
          const wire = Buffer.concat(parts);
          const whole = new PtyPacketDecoder().push(wire);
          const d = new PtyPacketDecoder();
          const pieces: ReturnType<PtyPacketDecoder['push']> = [];
          let off = 0;
          for (let i = 0; off < wire.length; i++) {
            const n = cuts[i % cuts.length]!;
            pieces.push(...d.push(wire.subarray(off, off + n)));
            off += n;
          }
          assert.deepEqual(pieces, whole);
        },
      ),
    );
  });
});
