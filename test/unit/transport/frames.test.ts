import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  encodeCredit,
  encodeFrame,
  FRAME_HEADER_BYTES,
  Frame,
  FrameError,
  FrameReader,
  MAX_FRAME_PAYLOAD,
} from '../../../core/transport/frames.js';

interface Got {
  type: number;
  stream: number;
  payload: Buffer;
}

function reader(out: Got[]): FrameReader {
  const r: FrameReader = new FrameReader((type, stream, buf, start, end) => {
    const payload = buf.subarray(start, end);
    out.push({ type, stream, payload: r.stable ? payload : Buffer.from(payload) });
  });
  return r;
}

const frameArb = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  stream: fc.integer({ min: 0, max: 0xffffffff }),
  payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
});

test('frames survive any split of the byte stream into chunks', () => {
  fc.assert(
    fc.property(
      fc.array(frameArb, { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
      (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.stream, f.payload)));
        const got: Got[] = [];
        const r = reader(got);
        let o = 0;
        for (let i = 0; o < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          r.push(bytes.subarray(o, o + n));
          o += n;
        }
        assert.deepEqual(
          got,
          frames.map((f) => ({ type: f.type, stream: f.stream, payload: f.payload })),
        );
      },
    ),
  );
});

test('header layout: type u8, stream u32le, length u32le', () => {
  const f = encodeFrame(Frame.DATA, 0x01020304, Buffer.from('ab'));
  assert.deepEqual([...f], [2, 4, 3, 2, 1, 2, 0, 0, 0, 97, 98]);
  const c = encodeCredit(Frame.CREDIT, 9, 65536);
  assert.equal(c.length, FRAME_HEADER_BYTES + 4);
  assert.equal(c.readUInt32LE(FRAME_HEADER_BYTES), 65536);
});

test('a frame larger than the limit is a protocol error', () => {
  const hdr = Buffer.alloc(FRAME_HEADER_BYTES);
  hdr[0] = Frame.DATA;
  hdr.writeUInt32LE(1, 1);
  hdr.writeUInt32LE(MAX_FRAME_PAYLOAD + 1, 5);
  assert.throws(() => reader([]).push(hdr), FrameError);
});
