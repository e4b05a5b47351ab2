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
  /** A streamed frame still receiving pieces. */
  open?: boolean;
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

test('a streamed type arrives in pieces, straight from the chunks, that add up to each frame', () => {
  const typed = fc.record({
    type: fc.constantFrom(Frame.RESP_DATA, Frame.HEAD, Frame.END),
    stream: fc.integer({ min: 1, max: 3 }),
    payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  });
  fc.assert(
    fc.property(
      fc.array(typed, { maxLength: 20 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1 }),
      (frames, cuts) => {
        const bytes = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.stream, f.payload)));
        const got: Got[] = [];
        const r: FrameReader = new FrameReader((type, stream, buf, start, end) => {
          const payload = buf.subarray(start, end);
          const last = got[got.length - 1];
          // Pieces of one streamed frame are glued back together to compare with what was sent.
          if (type === Frame.RESP_DATA && last?.type === type && last.stream === stream && last.open) {
            last.payload = Buffer.concat([last.payload, payload]);
          } else got.push({ type, stream, payload: Buffer.from(payload), open: type === Frame.RESP_DATA });
          if (type === Frame.RESP_DATA) {
            const want = frames.filter((f) => f.type === type)[
              got.filter((g) => g.type === type).length - 1
            ]!;
            if (got[got.length - 1]!.payload.length === want.payload.length)
              got[got.length - 1]!.open = false;
          }
        }, Frame.RESP_DATA);
        let o = 0;
        for (let i = 0; o < bytes.length; i++) {
          const n = cuts[i % cuts.length]!;
          r.push(bytes.subarray(o, o + n));
          o += n;
        }
        assert.deepEqual(
          got.map(({ type, stream, payload }) => ({ type, stream, payload })),
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
