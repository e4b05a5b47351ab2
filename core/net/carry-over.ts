/**
 * The bytes a record-stream parser carries from one socket read to the next: a partial record
 * (a transport frame, a FastCGI record) waits here, in one buffer that grows as needed and is
 * reused, so a stream of whole records is parsed straight from the chunks the socket delivers.
 *
 * Use: `const buf = carry.join(chunk)`; parse `buf[0, carry.length)`; then `carry.keep(buf, o)`
 * with `o` the offset of the first byte not consumed.
 */
export class CarryOver {
  private pending: Buffer = Buffer.alloc(0);
  private pendingLen = 0;
  /** Valid bytes in the buffer the last {@link join} returned. */
  length = 0;

  /**
   * @param minAlloc smallest buffer allocated for carried bytes, bytes
   * @param shrinkAbove a buffer larger than this is released once nothing is carried, bytes
   */
  constructor(
    private readonly minAlloc: number,
    private readonly shrinkAbove = Number.POSITIVE_INFINITY,
  ) {}

  /** `chunk` itself when nothing is carried (then it is safe to keep), else the carried bytes + `chunk`. */
  join(chunk: Buffer): Buffer {
    if (this.pendingLen === 0) {
      this.length = chunk.length;
      return chunk;
    }
    const need = this.pendingLen + chunk.length;
    if (need > this.pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.pending.length * 2, this.minAlloc));
      this.pending.copy(grown, 0, 0, this.pendingLen);
      this.pending = grown;
    }
    chunk.copy(this.pending, this.pendingLen);
    this.pendingLen = need;
    this.length = need;
    return this.pending;
  }

  /** Carry `buf[from, length)` (the unparsed tail of what {@link join} returned) to the next read. */
  keep(buf: Buffer, from: number): void {
    const rest = this.length - from;
    if (rest <= 0) {
      this.clear();
      return;
    }
    if (buf === this.pending) this.pending.copy(this.pending, 0, from, this.length);
    else {
      if (this.pending.length < rest) this.pending = Buffer.allocUnsafe(Math.max(rest, this.minAlloc));
      buf.copy(this.pending, 0, from, this.length);
    }
    this.pendingLen = rest;
  }

  /** Drop whatever is carried. */
  clear(): void {
    this.pendingLen = 0;
    if (this.pending.length > this.shrinkAbove) this.pending = Buffer.alloc(0);
  }
}
