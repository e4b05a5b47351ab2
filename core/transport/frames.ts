import { CarryOver } from '../net/carry-over.js';
/**
 * The worker transport's frame codec (docs/transport.md): `type u8 | stream u32le | length u32le |
 * payload`. Pure functions over bytes plus an incremental reader that reuses one buffer.
 */

/** Frame header size, bytes. */
export const FRAME_HEADER_BYTES = 9;
/** Largest payload accepted, bytes; more is a protocol error. */
export const MAX_FRAME_PAYLOAD = 16 * 1024 * 1024;
/** Initial per-stream window in each direction, bytes. */
export const INITIAL_WINDOW = 256 * 1024;

/**
 * Frame types. 0x0_/0x1_ travel master → worker, 0x8_/0x9_ worker → master. The `WS_*` types carry
 * an accepted WebSocket (docs/transport.md, "WebSockets"): `WS_OPEN` starts a stream as `REQUEST`
 * does, `WS_MESSAGE` is one whole message (a kind byte, then the bytes), `WS_CLOSE` a close code and
 * reason.
 */
export const Frame = {
  REQUEST: 0x01,
  DATA: 0x02,
  DATA_END: 0x03,
  ABORT: 0x04,
  CREDIT: 0x05,
  WS_OPEN: 0x06,
  WS_MESSAGE: 0x07,
  WS_CLOSE: 0x08,
  CONTROL: 0x10,
  HEAD: 0x81,
  RESP_DATA: 0x82,
  END: 0x83,
  RESP_ABORT: 0x84,
  RESP_CREDIT: 0x85,
  RESP_WS_MESSAGE: 0x86,
  RESP_WS_CLOSE: 0x87,
  RESP_CONTROL: 0x90,
} as const;

/** The kind byte that starts a `WS_MESSAGE` payload: RFC 6455's opcodes for text and binary. */
export const WsKind = { TEXT: 0x01, BINARY: 0x02 } as const;

/** Reasons carried by a master → worker ABORT. */
export const AbortReason = { CLIENT_GONE: 1, HARAKIRI: 2, SHUTDOWN: 3 } as const;

/** Write a frame header into `buf` at `offset`. */
export function writeFrameHeader(
  buf: Buffer,
  offset: number,
  type: number,
  stream: number,
  length: number,
): void {
  buf[offset] = type;
  buf.writeUInt32LE(stream, offset + 1);
  buf.writeUInt32LE(length, offset + 5);
}

/** A whole frame with a copied payload. */
export function encodeFrame(type: number, stream: number, payload?: Buffer | string): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const len = p ? p.length : 0;
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
  writeFrameHeader(buf, 0, type, stream, len);
  if (p) p.copy(buf, FRAME_HEADER_BYTES);
  return buf;
}

/** A CREDIT frame (either direction: pass the type) granting `bytes` more. */
export function encodeCredit(type: number, stream: number, bytes: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 4);
  writeFrameHeader(buf, 0, type, stream, 4);
  buf.writeUInt32LE(bytes, FRAME_HEADER_BYTES);
  return buf;
}

/**
 * The header of a `WS_MESSAGE` frame (either direction: pass the type) for a message of `length`
 * bytes: the 9-byte frame header and the kind byte; the message bytes follow it on the wire.
 */
export function wsMessageHeader(type: number, stream: number, binary: boolean, length: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1);
  writeFrameHeader(buf, 0, type, stream, length + 1);
  buf[FRAME_HEADER_BYTES] = binary ? WsKind.BINARY : WsKind.TEXT;
  return buf;
}

/**
 * A `WS_CLOSE` frame (either direction: pass the type): u16le close code (RFC 6455 §7.4), then the
 * reason as UTF-8.
 */
export function encodeWsClose(type: number, stream: number, code: number, reason: string): Buffer {
  const r = Buffer.from(reason, 'utf8');
  const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 2 + r.length);
  writeFrameHeader(buf, 0, type, stream, 2 + r.length);
  buf.writeUInt16LE(code, FRAME_HEADER_BYTES);
  r.copy(buf, FRAME_HEADER_BYTES + 2);
  return buf;
}

/** Thrown by {@link FrameReader} on a frame larger than {@link MAX_FRAME_PAYLOAD}. */
export class FrameError extends Error {
  readonly code = 'TSGI_ERR_TRANSPORT_FRAME';
}

/**
 * Incremental frame reader. `push(chunk)` calls `onFrame(type, stream, buf, start, end)` for every
 * complete frame; the payload is `buf[start, end)`. During the call, `limit` is the end of the valid
 * bytes in `buf` (frames after this one may follow), and `stable` tells whether `buf` is the chunk
 * read from the socket (safe to keep) or the reader's reusable buffer (copy what you keep).
 * Partial frames are kept in one growing buffer, except frames of the `streamed` type (body data,
 * whose boundaries mean nothing): their payload is handed on piece by piece as it arrives, straight
 * from the socket's chunks, as several calls with that type and stream.
 */
export class FrameReader {
  private readonly carry = new CarryOver(64 * 1024);
  /** Payload bytes of a streamed frame still to come, and that frame's stream. */
  private streamLeft = 0;
  private streamId = 0;
  /** End of valid bytes in the buffer passed to the current `onFrame` call. */
  limit = 0;
  /** Whether the buffer passed to the current `onFrame` call may be kept without copying. */
  stable = true;

  /**
   * @param onFrame called for each frame (or piece of a streamed frame)
   * @param streamed a frame type whose payload may be delivered in pieces (-1: none)
   */
  constructor(
    private readonly onFrame: (type: number, stream: number, buf: Buffer, start: number, end: number) => void,
    private readonly streamed = -1,
  ) {}

  /** Feed bytes read from the socket. @throws {FrameError} on an oversized frame. */
  push(chunk: Buffer): void {
    if (this.streamLeft > 0) {
      const n = Math.min(this.streamLeft, chunk.length);
      this.streamLeft -= n;
      this.limit = chunk.length;
      this.stable = true;
      this.onFrame(this.streamed, this.streamId, chunk, 0, n);
      if (n === chunk.length) return;
      chunk = chunk.subarray(n);
    }
    const buf = this.carry.join(chunk);
    const len = this.carry.length;
    this.limit = len;
    this.stable = buf === chunk;
    let o = 0;
    while (len - o >= FRAME_HEADER_BYTES) {
      const size = buf.readUInt32LE(o + 5);
      if (size > MAX_FRAME_PAYLOAD)
        throw new FrameError(`frame of ${size} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
      const start = o + FRAME_HEADER_BYTES;
      if (len - o < FRAME_HEADER_BYTES + size) {
        if (buf[o] === this.streamed) {
          this.streamLeft = size - (len - start);
          this.streamId = buf.readUInt32LE(o + 1);
          if (len > start) this.onFrame(this.streamed, this.streamId, buf, start, len);
          o = len;
        }
        break;
      }
      this.onFrame(buf[o]!, buf.readUInt32LE(o + 1), buf, start, start + size);
      o = start + size;
    }
    this.carry.keep(buf, o);
  }
}
