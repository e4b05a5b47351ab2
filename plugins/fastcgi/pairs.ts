import { FastcgiProtocolError } from './record.js';

/**
 * FastCGI name-value pairs (FastCGI Specification §3.4), the content of PARAMS, GET_VALUES and
 * GET_VALUES_RESULT streams: `nameLength`, `valueLength`, name, value; a length below 128 takes one
 * byte, otherwise four bytes big-endian with the high bit set (at most 2^31 - 1). Strings are latin-1.
 */

/** Largest length the 4-byte form can carry. */
export const FCGI_MAX_PAIR_LENGTH = 0x7fffffff;

function lengthBytes(n: number): number {
  return n < 128 ? 1 : 4;
}

/** Bytes `pairs` take once encoded. */
export function pairsByteLength(pairs: Iterable<readonly [string, string]>): number {
  let n = 0;
  for (const [k, v] of pairs) n += lengthBytes(k.length) + lengthBytes(v.length) + k.length + v.length;
  return n;
}

function writeLength(buf: Buffer, o: number, n: number): number {
  if (n < 128) {
    buf[o] = n;
    return o + 1;
  }
  buf.writeUInt32BE((n | 0x80000000) >>> 0, o);
  return o + 4;
}

/**
 * Encode pairs into one buffer.
 * @throws {RangeError} for a name or value longer than 2^31 - 1 bytes.
 */
export function encodePairs(pairs: Iterable<readonly [string, string]>): Buffer {
  const list = [...pairs];
  const buf = Buffer.allocUnsafe(pairsByteLength(list));
  let o = 0;
  for (const [k, v] of list) {
    if (k.length > FCGI_MAX_PAIR_LENGTH || v.length > FCGI_MAX_PAIR_LENGTH)
      throw new RangeError('FastCGI name or value too long');
    o = writeLength(buf, o, k.length);
    o = writeLength(buf, o, v.length);
    o += buf.write(k, o, 'latin1');
    o += buf.write(v, o, 'latin1');
  }
  return buf;
}

/**
 * Decode the pairs in `buf[start, end)` into a flat `[name, value, ...]` list, in order. The stream
 * is read as one latin-1 string and cut into slices.
 * @throws {FastcgiProtocolError} TSGI_ERR_FASTCGI_PAIRS when a length runs past `end`.
 */
export function decodePairs(buf: Buffer, start = 0, end = buf.length): string[] {
  const text = buf.toString('latin1', start, end);
  const n = text.length;
  const out: string[] = [];
  let o = 0;
  const length = (): number => {
    if (o >= n) throw truncated();
    const b = text.charCodeAt(o);
    if (b < 128) {
      o += 1;
      return b;
    }
    if (o + 4 > n) throw truncated();
    const v =
      ((b & 0x7f) << 24) |
      (text.charCodeAt(o + 1) << 16) |
      (text.charCodeAt(o + 2) << 8) |
      text.charCodeAt(o + 3);
    o += 4;
    return v;
  };
  while (o < n) {
    const kl = length();
    const vl = length();
    if (o + kl + vl > n) throw truncated();
    out.push(text.slice(o, o + kl), text.slice(o + kl, o + kl + vl));
    o += kl + vl;
  }
  return out;
}

function truncated(): FastcgiProtocolError {
  return new FastcgiProtocolError('TSGI_ERR_FASTCGI_PAIRS', 'FastCGI name-value pair runs past its stream');
}
