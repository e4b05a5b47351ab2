import { FastcgiProtocolError, FCGI_HEADER_BYTES, FCGI_VERSION } from './record.js';

/**
 * The incremental FastCGI record reader: `push(chunk)` calls `onRecord(type, requestId, buf, start,
 * end)` for every complete record (content is `buf[start, end)`, padding skipped). During the call,
 * `stable` tells whether `buf` is the chunk read from the socket (safe to keep) or the reader's
 * reusable buffer (copy what you keep). A partial record waits in one buffer that never exceeds
 * the largest record (8 + 65535 + 255 bytes).
 */
export class RecordReader {
  private pending: Buffer = Buffer.alloc(0);
  private pendingLen = 0;
  /** Whether the buffer passed to the current `onRecord` call may be kept without copying. */
  stable = true;
  /** Set by the record callback to stop reading the rest of the current chunk (the connection is closing). */
  stopped = false;

  constructor(
    private readonly onRecord: (
      type: number,
      requestId: number,
      buf: Buffer,
      start: number,
      end: number,
    ) => void,
  ) {}

  /** Feed bytes. @throws {FastcgiProtocolError} TSGI_ERR_FASTCGI_VERSION for a record whose version is not 1. */
  push(chunk: Buffer): void {
    let buf = chunk;
    let len = chunk.length;
    if (this.pendingLen > 0) {
      this.append(chunk);
      buf = this.pending;
      len = this.pendingLen;
    }
    this.stable = buf === chunk;
    let o = 0;
    while (!this.stopped && len - o >= FCGI_HEADER_BYTES) {
      if (buf[o] !== FCGI_VERSION)
        throw new FastcgiProtocolError(
          'TSGI_ERR_FASTCGI_VERSION',
          `FastCGI record with version ${buf[o]} (expected 1)`,
        );
      const size = buf.readUInt16BE(o + 4);
      const total = FCGI_HEADER_BYTES + size + buf[o + 6]!;
      if (len - o < total) break;
      const start = o + FCGI_HEADER_BYTES;
      this.onRecord(buf[o + 1]!, buf.readUInt16BE(o + 2), buf, start, start + size);
      o += total;
    }
    this.keep(buf, o, len);
  }

  private append(chunk: Buffer): void {
    const need = this.pendingLen + chunk.length;
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pending.length * 2, 16 * 1024));
      this.pending.copy(grown, 0, 0, this.pendingLen);
      this.pending = grown;
    }
    chunk.copy(this.pending, this.pendingLen);
    this.pendingLen = need;
  }

  private keep(buf: Buffer, from: number, len: number): void {
    const rest = len - from;
    if (rest === 0 || this.stopped) {
      this.pendingLen = 0;
      if (this.pending.length > 256 * 1024) this.pending = Buffer.alloc(0);
      return;
    }
    if (buf === this.pending) this.pending.copy(this.pending, 0, from, len);
    else {
      if (this.pending.length < rest) this.pending = Buffer.allocUnsafe(Math.max(rest, 16 * 1024));
      buf.copy(this.pending, 0, from, len);
    }
    this.pendingLen = rest;
  }
}
