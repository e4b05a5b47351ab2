import { TsgiError } from '../errors.js';
import { REASONS } from './sink.js';

/**
 * CGI response heads (RFC 3875 §6): what a FastCGI responder or a CGI script writes before the body.
 * `Status: 404 Not Found` carries the status (200 when absent; 302 when only `Location` is given, as
 * nginx does), every other line is a header; a blank line ends the head. Lines may end in CRLF or LF.
 * Pure functions over latin-1 bytes.
 */

/** A response head in tsgi's shape (see {@link ResponseSink.head}). */
export interface CgiHead {
  readonly status: number;
  readonly reason: string;
  /** Flat `[name, value, ...]`, repeated names kept in order. */
  readonly headers: string[];
}

/** A malformed or oversized CGI head. Upstream errors: the client gets 502. */
export class CgiHeadError extends TsgiError {
  readonly statusCode = 502;
}

/** A header name: an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A header value must not carry line breaks or NUL (response splitting). */
const BAD_VALUE = /[\r\n\0]/;

/**
 * Check one response header before it is written in a text protocol (CGI head, raw HTTP).
 * @throws {Error} for a name that is not a token or a value with CR, LF or NUL.
 */
export function checkHeader(name: string, value: string): void {
  if (!TOKEN.test(name) || BAD_VALUE.test(value))
    throw new Error(`invalid response header '${name.slice(0, 60)}'`);
}

/** Whether a flat header list has a header that frames the body (Content-Length or Transfer-Encoding). */
export function hasBodyFraming(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if ((n.length === 14 || n.length === 17) && /^(content-length|transfer-encoding)$/i.test(n)) return true;
  }
  return false;
}

/**
 * Encode a head as CGI header lines: `Status: <status> <reason>\r\n`, then `Name: value\r\n` per
 * header (plus `Content-Length` when `bodyLength` is known, >= 0, and no header frames the body),
 * then `\r\n`. Strings are latin-1.
 * @throws {Error} for an invalid header (see {@link checkHeader}).
 */
export function encodeCgiHead(
  status: number,
  reason: string,
  headers: readonly string[],
  bodyLength = -1,
): Buffer {
  let text = `Status: ${status} ${reason || REASONS[status] || ''}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    checkHeader(headers[i]!, headers[i + 1]!);
    text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  if (bodyLength >= 0 && !hasBodyFraming(headers)) text += `Content-Length: ${bodyLength}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/**
 * Parse a complete head (without the blank line that ends it).
 * @throws {CgiHeadError} TSGI_ERR_CGI_HEAD for a line without a colon, an empty name, or a bad
 *   `Status` value.
 */
export function decodeCgiHead(text: string): CgiHead {
  const lines = text === '' ? [] : text.split('\n');
  let status = 0;
  let reason = '';
  const headers: string[] = [];
  let hasLocation = false;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (i === 0 && line.startsWith('HTTP/')) {
      ({ status, reason } = statusLine(line.slice(line.indexOf(' ') + 1)));
      continue;
    }
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name))
      throw new CgiHeadError('TSGI_ERR_CGI_HEAD', `malformed header line '${line.slice(0, 60)}'`);
    const value = line.slice(colon + 1).trim();
    if (name.length === 6 && name.toLowerCase() === 'status') {
      ({ status, reason } = statusLine(value));
      continue;
    }
    if (name.length === 8 && name.toLowerCase() === 'location') hasLocation = true;
    headers.push(name, value);
  }
  if (status === 0) {
    status = hasLocation ? 302 : 200;
    reason = hasLocation ? 'Found' : 'OK';
  }
  return { status, reason, headers };
}

function statusLine(value: string): { status: number; reason: string } {
  const m = /^(\d{3})(?:\s+(.*))?$/.exec(value.trim());
  const status = m ? Number(m[1]) : 0;
  if (!m || status < 100)
    throw new CgiHeadError('TSGI_ERR_CGI_HEAD', `invalid Status '${value.slice(0, 60)}'`);
  return { status, reason: m[2] ?? REASONS[status] ?? '' };
}

/**
 * Incremental reader of the head at the start of a response stream. `push` returns null until the
 * blank line arrives, then the head and the body bytes that followed it in the same chunk.
 */
export class CgiHeadReader {
  private parts: Buffer[] = [];
  private size = 0;
  private done = false;

  /** @param maxBytes largest head accepted, bytes, including its line ends and the blank line */
  constructor(private readonly maxBytes: number) {}

  /**
   * Feed the next bytes of the stream.
   * @throws {CgiHeadError} TSGI_ERR_CGI_HEAD_TOO_BIG past `maxBytes` without a blank line, or
   *   TSGI_ERR_CGI_HEAD for a malformed head.
   */
  push(chunk: Buffer): { head: CgiHead; rest: Buffer } | null {
    if (this.done) throw new Error('CGI head already complete');
    const scanFrom = Math.max(0, this.size - 3);
    this.parts.push(chunk);
    this.size += chunk.length;
    const buf = this.parts.length === 1 ? chunk : Buffer.concat(this.parts, this.size);
    this.parts = [buf];
    const end = headEnd(buf, scanFrom);
    if (end === null) {
      if (this.size > this.maxBytes) throw tooBig(this.maxBytes);
      return null;
    }
    if (end.bodyStart > this.maxBytes) throw tooBig(this.maxBytes);
    this.done = true;
    this.parts = [];
    return { head: decodeCgiHead(buf.toString('latin1', 0, end.headEnd)), rest: buf.subarray(end.bodyStart) };
  }
}

function tooBig(max: number): CgiHeadError {
  return new CgiHeadError('TSGI_ERR_CGI_HEAD_TOO_BIG', `response head larger than ${max} bytes`);
}

/** Find the blank line: `\n\n` or `\n\r\n`. Returns where the head text ends and the body starts. */
function headEnd(buf: Buffer, from: number): { headEnd: number; bodyStart: number } | null {
  if (buf[0] === 10) return { headEnd: 0, bodyStart: 1 };
  if (buf[0] === 13 && buf[1] === 10) return { headEnd: 0, bodyStart: 2 };
  for (let i = buf.indexOf(10, from); i !== -1; i = buf.indexOf(10, i + 1)) {
    if (buf[i + 1] === 10) return { headEnd: i, bodyStart: i + 2 };
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return { headEnd: i, bodyStart: i + 3 };
  }
  return null;
}
