import { CarryOver } from '../../core/net/carry-over.js';
import { FastcgiProtocolError, FCGI_HEADER_BYTES, FCGI_VERSION } from './record.js';

/**
 * The incremental FastCGI record reader: `push(chunk)` calls `onRecord(type, requestId, buf, start,
 * end)` for every complete record (content is `buf[start, end)`, padding skipped). During the call,
 * `stable` tells whether `buf` is the chunk read from the socket (safe to keep) or the reader's
 * reusable buffer (copy what you keep). A partial record waits in one buffer that never exceeds
 * the largest record (8 + 65535 + 255 bytes).
 */
export class RecordReader {
  private readonly carry = new CarryOver(16 * 1024, 256 * 1024);
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
    const buf = this.carry.join(chunk);
    const len = this.carry.length;
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
    if (this.stopped) this.carry.clear();
    else this.carry.keep(buf, o);
  }
}
