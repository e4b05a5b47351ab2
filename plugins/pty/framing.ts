/**
 * uWSGI's framed pty protocol (plugins/forkptyrouter `forkpty-urouter` and plugins/pty
 * `--pty-uconnect`): the client sends uwsgi packets, a 4-byte header `modifier1 u8 | size u16le |
 * modifier2 u8`, where modifier2 says what the packet is:
 *
 * - 0: stdin; `size` bytes of terminal input follow the header;
 * - 1..99: send the UNIX signal with that number to the program; no payload;
 * - 100: window rows = `size`; no payload;
 * - 101: window cols = `size`; no payload.
 *
 * modifier1 is 0 in every packet uWSGI's client sends and is ignored. The server's output is not
 * framed (raw terminal bytes).
 */

/** modifier2 of a stdin packet. */
export const PTY_STDIN = 0;
/** modifier2 of a window-rows packet. */
export const PTY_ROWS = 100;
/** modifier2 of a window-cols packet. */
export const PTY_COLS = 101;

/** One decoded client packet. */
export type PtyPacket =
  | { readonly kind: 'stdin'; readonly data: Buffer }
  | { readonly kind: 'signal'; readonly signal: number }
  | { readonly kind: 'rows'; readonly rows: number }
  | { readonly kind: 'cols'; readonly cols: number };

function header(size: number, modifier2: number): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16LE(size, 1);
  h[3] = modifier2;
  return h;
}

/** Encode terminal input as stdin packets (split at 65535 bytes, the u16 size limit). */
export function encodeStdin(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 0xffff) {
    const chunk = data.subarray(i, i + 0xffff);
    parts.push(header(chunk.length, PTY_STDIN), chunk);
  }
  return Buffer.concat(parts);
}

/** Encode a window size as uWSGI's client does: a rows packet then a cols packet (8 bytes). */
export function encodeWinsize(rows: number, cols: number): Buffer {
  return Buffer.concat([header(rows & 0xffff, PTY_ROWS), header(cols & 0xffff, PTY_COLS)]);
}

/** Encode a signal packet. @throws {RangeError} for a number outside 1..99. */
export function encodeSignal(signal: number): Buffer {
  if (!Number.isInteger(signal) || signal < 1 || signal > 99)
    throw new RangeError(`signal ${signal} not in 1..99`);
  return header(0, signal);
}

/**
 * Incremental decoder for the client side of the stream: feed it bytes as they arrive, get whole
 * packets back (a stdin packet waits until its payload is complete).
 */
export class PtyPacketDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Decode what `chunk` completes. */
  push(chunk: Buffer): PtyPacket[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: PtyPacket[] = [];
    let off = 0;
    while (this.buf.length - off >= 4) {
      const size = this.buf.readUInt16LE(off + 1);
      const m2 = this.buf[off + 3]!;
      if (m2 === PTY_STDIN) {
        if (this.buf.length - off < 4 + size) break;
        out.push({ kind: 'stdin', data: Buffer.from(this.buf.subarray(off + 4, off + 4 + size)) });
        off += 4 + size;
        continue;
      }
      off += 4;
      if (m2 === PTY_ROWS) out.push({ kind: 'rows', rows: size });
      else if (m2 === PTY_COLS) out.push({ kind: 'cols', cols: size });
      else if (m2 < PTY_ROWS) out.push({ kind: 'signal', signal: m2 });
      // modifier2 102..255: unknown; uWSGI would send it as a signal number and fail; skip it.
    }
    this.buf = off === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(off);
    return out;
  }
}
