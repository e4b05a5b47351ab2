import { TsgiError } from '../../core/errors.js';

/**
 * The uwsgi protocol codec (uWSGI docs, "The uwsgi Protocol"): pure functions over bytes.
 *
 * Packet header, 4 bytes: `modifier1` u8 | `datasize` u16 little-endian | `modifier2` u8.
 * Vars block (modifier1 0): repeated `key length` u16 LE | key | `value length` u16 LE | value.
 * Strings here are latin-1 "binary strings" (one char per byte), so any byte sequence round-trips.
 */

/** Size of the uwsgi packet header, bytes. */
export const UWSGI_HEADER_BYTES = 4;
/** Largest vars block the 16-bit datasize can describe, bytes. */
export const UWSGI_MAX_DATASIZE = 65535;

/** A malformed or oversized vars block. `statusCode` is what an edge answers when it can. */
export class UwsgiCodecError extends TsgiError {
  readonly statusCode = 400;
}

/** A decoded packet header. */
export interface UwsgiHeader {
  readonly modifier1: number;
  /** Bytes of the vars block (or other payload) that follow the header. */
  readonly datasize: number;
  readonly modifier2: number;
}

/** Read the 4-byte header at `offset`. The caller guarantees 4 bytes are there. */
export function decodeHeader(buf: Buffer, offset = 0): UwsgiHeader {
  return { modifier1: buf[offset]!, datasize: buf.readUInt16LE(offset + 1), modifier2: buf[offset + 3]! };
}

/** Write a 4-byte header at `offset` of `buf`. @throws {RangeError} if datasize exceeds 65535. */
export function writeHeader(
  buf: Buffer,
  offset: number,
  modifier1: number,
  datasize: number,
  modifier2: number,
): void {
  buf[offset] = modifier1;
  buf.writeUInt16LE(datasize, offset + 1);
  buf[offset + 3] = modifier2;
}

/** Bytes the vars block of `vars` takes (without the packet header). */
export function varsByteLength(vars: Iterable<readonly [string, string]>): number {
  let n = 0;
  for (const [k, v] of vars) n += 4 + k.length + v.length;
  return n;
}

/**
 * Encode `vars` as a vars block into `buf` at `offset`; returns the offset after the block.
 * Keys and values are latin-1 strings; each must be at most 65535 bytes.
 * @throws {UwsgiCodecError} TSGI_ERR_UWSGI_VAR_TOO_LONG for a key or value over 65535 bytes.
 */
export function writeVars(buf: Buffer, offset: number, vars: Iterable<readonly [string, string]>): number {
  let o = offset;
  for (const [k, v] of vars) {
    if (k.length > UWSGI_MAX_DATASIZE || v.length > UWSGI_MAX_DATASIZE)
      throw new UwsgiCodecError(
        'TSGI_ERR_UWSGI_VAR_TOO_LONG',
        `uwsgi var '${k.slice(0, 40)}' is longer than 65535 bytes`,
      );
    buf.writeUInt16LE(k.length, o);
    o += 2;
    o += buf.write(k, o, 'latin1');
    buf.writeUInt16LE(v.length, o);
    o += 2;
    o += buf.write(v, o, 'latin1');
  }
  return o;
}

/** Encode `vars` as a standalone vars block (no packet header). */
export function encodeVars(vars: Iterable<readonly [string, string]>): Buffer {
  const list = [...vars];
  const buf = Buffer.allocUnsafe(varsByteLength(list));
  writeVars(buf, 0, list);
  return buf;
}

/**
 * Encode a whole uwsgi request packet: header (modifier1, datasize, modifier2) plus vars block.
 * @throws {UwsgiCodecError} TSGI_ERR_UWSGI_BLOCK_TOO_BIG when the block exceeds 65535 bytes.
 */
export function encodePacket(
  vars: Iterable<readonly [string, string]>,
  modifier1 = 0,
  modifier2 = 0,
): Buffer {
  const list = [...vars];
  const size = varsByteLength(list);
  if (size > UWSGI_MAX_DATASIZE)
    throw new UwsgiCodecError(
      'TSGI_ERR_UWSGI_BLOCK_TOO_BIG',
      `uwsgi vars block of ${size} bytes exceeds 65535`,
    );
  const buf = Buffer.allocUnsafe(UWSGI_HEADER_BYTES + size);
  writeHeader(buf, 0, modifier1, size, modifier2);
  writeVars(buf, UWSGI_HEADER_BYTES, list);
  return buf;
}

/**
 * Decode the vars block in `buf[start, end)` into `into` (a Map, so a var named `__proto__` is data),
 * in order; a repeated key keeps its last value. Returns the map.
 * @throws {UwsgiCodecError} TSGI_ERR_UWSGI_VARS when a length runs past the block.
 */
export function decodeVars(
  buf: Buffer,
  start = 0,
  end = buf.length,
  into: Map<string, string> = new Map(),
): Map<string, string> {
  const pairs = decodePairs(buf, start, end);
  for (let i = 0; i < pairs.length; i += 2) into.set(pairs[i]!, pairs[i + 1]!);
  return into;
}

/**
 * Decode a vars block into an ordered list of pairs, keeping repeated keys (response headers).
 * The block is read as one latin-1 string and cut into slices (cheaper than one Buffer decode per
 * key and value).
 * @throws {UwsgiCodecError} TSGI_ERR_UWSGI_VARS when a length runs past the block.
 */
export function decodePairs(buf: Buffer, start = 0, end = buf.length, into: string[] = []): string[] {
  const text = buf.toString('latin1', start, end);
  const n = text.length;
  let o = 0;
  while (o < n) {
    if (o + 2 > n) throw truncated(o);
    const kl = text.charCodeAt(o) | (text.charCodeAt(o + 1) << 8);
    o += 2;
    if (o + kl + 2 > n) throw truncated(o);
    into.push(text.slice(o, o + kl));
    o += kl;
    const vl = text.charCodeAt(o) | (text.charCodeAt(o + 1) << 8);
    o += 2;
    if (o + vl > n) throw truncated(o);
    into.push(text.slice(o, o + vl));
    o += vl;
  }
  return into;
}

function truncated(at: number): UwsgiCodecError {
  return new UwsgiCodecError('TSGI_ERR_UWSGI_VARS', `uwsgi vars block truncated at byte ${at}`);
}
