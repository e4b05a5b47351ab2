import { METHODS } from 'node:http';
import { addRequestVar } from '../../core/request/cgi.js';
import { decodeHeader, decodePairs, UWSGI_HEADER_BYTES, UwsgiCodecError } from './codec.js';

/**
 * The incremental parser of a uwsgi request's head (uwsgi protocol doc; uWSGI's `proto/uwsgi.c`):
 * the 4-byte packet header, then `datasize` bytes of vars. Pure: bytes in, a parsed head or a coded
 * error out; the body that follows (`CONTENT_LENGTH` bytes) is the caller's business.
 */

/** A parsed request head. */
export interface UwsgiRequestHead {
  readonly modifier1: number;
  readonly modifier2: number;
  /** Bytes of the vars block. */
  readonly datasize: number;
  /** The vars in order; repeated names as {@link addRequestVar} merges them. */
  readonly vars: Map<string, string>;
}

/** `"GET "`, `"POST "`, ... as latin-1 strings: the start of an HTTP request line. */
const METHOD_PREFIXES = METHODS.map((m) => `${m} `);
/** Bytes needed to tell every HTTP method prefix apart from a uwsgi header. */
const LONGEST_PREFIX = Math.max(...METHOD_PREFIXES.map((p) => p.length));

/**
 * Whether `buf` starts like an HTTP request line (a method known to node's parser and a space):
 * `yes`, `no`, or `maybe` (a prefix of one; more bytes decide).
 */
export function looksLikeHttp(buf: Buffer): 'yes' | 'no' | 'maybe' {
  const first = buf[0];
  if (first === undefined || first < 0x41 || first > 0x5a) return 'no';
  const head = buf.toString('latin1', 0, Math.min(buf.length, LONGEST_PREFIX));
  let maybe = false;
  for (const p of METHOD_PREFIXES) {
    if (head.startsWith(p)) return 'yes';
    if (head.length < p.length && p.startsWith(head)) maybe = true;
  }
  return maybe ? 'maybe' : 'no';
}

/**
 * Reads one request head. `push` returns null until the vars block is complete, then the head and
 * the bytes that followed it in the same chunk (the start of the body).
 *
 * Errors (UwsgiCodecError codes): `TSGI_ERR_UWSGI_HTTP` an HTTP request line instead of a packet
 * (its `datasize` is what uWSGI would have read, 21573 for `GET `); `TSGI_ERR_UWSGI_BLOCK_TOO_BIG`
 * a vars block over `maxVarsBytes`; `TSGI_ERR_UWSGI_VARS` a var running past the block;
 * `TSGI_ERR_UWSGI_EMPTY_KEY` a var with an empty name (uWSGI: "uwsgi key cannot be null").
 */
export class UwsgiRequestParser {
  private pending: Buffer | null = null;

  /** @param maxVarsBytes largest vars block accepted (`buffer-size`), bytes */
  constructor(private readonly maxVarsBytes: number) {}

  /** Feed bytes. @throws {UwsgiCodecError} as listed on the class. */
  push(chunk: Buffer): { head: UwsgiRequestHead; rest: Buffer } | null {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const http = looksLikeHttp(buf);
    if (http === 'yes') throw httpError(buf);
    if (http === 'maybe' || buf.length < UWSGI_HEADER_BYTES) {
      this.pending = buf;
      return null;
    }
    const { modifier1, datasize, modifier2 } = decodeHeader(buf);
    if (datasize > this.maxVarsBytes)
      throw new UwsgiCodecError(
        'TSGI_ERR_UWSGI_BLOCK_TOO_BIG',
        `invalid request block size: ${datasize} (max ${this.maxVarsBytes})...skip`,
      );
    const end = UWSGI_HEADER_BYTES + datasize;
    if (buf.length < end) {
      this.pending = buf;
      return null;
    }
    const vars = decodeRequestVars(buf, UWSGI_HEADER_BYTES, end);
    return { head: { modifier1, modifier2, datasize, vars }, rest: buf.subarray(end) };
  }
}

function httpError(buf: Buffer): UwsgiCodecError {
  const size = buf.length >= 3 ? buf.readUInt16LE(1) : 0;
  const err = new UwsgiCodecError(
    'TSGI_ERR_UWSGI_HTTP',
    `HTTP request on a uwsgi socket (read as block size ${size})`,
  );
  return err;
}

/**
 * Decode a request's vars block into a Map (see {@link UwsgiRequestHead.vars} for repeated names).
 * @throws {UwsgiCodecError} TSGI_ERR_UWSGI_VARS, TSGI_ERR_UWSGI_EMPTY_KEY
 */
export function decodeRequestVars(buf: Buffer, start: number, end: number): Map<string, string> {
  let pairs: string[];
  try {
    pairs = decodePairs(buf, start, end);
  } catch (err) {
    throw new UwsgiCodecError(
      'TSGI_ERR_UWSGI_VARS',
      `invalid uwsgi request (${(err as Error).message}). skip.`,
      { cause: err },
    );
  }
  const vars = new Map<string, string>();
  for (let i = 0; i < pairs.length; i += 2) {
    const k = pairs[i]!;
    const v = pairs[i + 1]!;
    if (k === '')
      throw new UwsgiCodecError('TSGI_ERR_UWSGI_EMPTY_KEY', 'uwsgi key cannot be null. skip this var.');
    addRequestVar(vars, k, v);
  }
  return vars;
}
