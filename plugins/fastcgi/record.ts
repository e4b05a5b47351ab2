import { TsgiError } from '../../core/errors.js';

/**
 * FastCGI 1.0 records (the FastCGI Specification, Open Market 1996, §3 and §5): pure functions
 * over bytes, encoders beside decoders.
 *
 * Record header, 8 bytes: `version` u8 (1) | `type` u8 | `requestId` u16 BE | `contentLength` u16 BE |
 * `paddingLength` u8 | `reserved` u8; then `contentLength` bytes of content and `paddingLength`
 * bytes of padding.
 */

/** Record header size, bytes. */
export const FCGI_HEADER_BYTES = 8;
/** The protocol version every record carries. */
export const FCGI_VERSION = 1;
/** Largest content of one record, bytes (16-bit contentLength). */
export const FCGI_MAX_CONTENT = 65535;
/** requestId of management records (GET_VALUES, UNKNOWN_TYPE). */
export const FCGI_NULL_REQUEST_ID = 0;

/** Record types (§8). */
export const RecordType = {
  BEGIN_REQUEST: 1,
  ABORT_REQUEST: 2,
  END_REQUEST: 3,
  PARAMS: 4,
  STDIN: 5,
  STDOUT: 6,
  STDERR: 7,
  DATA: 8,
  GET_VALUES: 9,
  GET_VALUES_RESULT: 10,
  UNKNOWN_TYPE: 11,
} as const;

/** Roles of BEGIN_REQUEST (§5.1). tsgi serves the responder role. */
export const Role = { RESPONDER: 1, AUTHORIZER: 2, FILTER: 3 } as const;
/** BEGIN_REQUEST flag: keep the connection open after this request (§5.1). */
export const FCGI_KEEP_CONN = 1;

/** protocolStatus of END_REQUEST (§5.5). */
export const ProtocolStatus = {
  REQUEST_COMPLETE: 0,
  CANT_MPX_CONN: 1,
  OVERLOADED: 2,
  UNKNOWN_ROLE: 3,
} as const;

/** Broken framing: a record with a version other than 1, or a malformed fixed-size body. */
export class FastcgiProtocolError extends TsgiError {}

/** A decoded record header. */
export interface RecordHeader {
  readonly version: number;
  readonly type: number;
  readonly requestId: number;
  readonly contentLength: number;
  readonly paddingLength: number;
}

/** Read the 8-byte header at `offset` (the caller guarantees 8 bytes). */
export function decodeRecordHeader(buf: Buffer, offset = 0): RecordHeader {
  return {
    version: buf[offset]!,
    type: buf[offset + 1]!,
    requestId: buf.readUInt16BE(offset + 2),
    contentLength: buf.readUInt16BE(offset + 4),
    paddingLength: buf[offset + 6]!,
  };
}

/** Write a record header at `offset`. `contentLength` must be at most 65535. */
export function writeRecordHeader(
  buf: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength = 0,
): void {
  buf[offset] = FCGI_VERSION;
  buf[offset + 1] = type;
  buf.writeUInt16BE(requestId, offset + 2);
  buf.writeUInt16BE(contentLength, offset + 4);
  buf[offset + 6] = paddingLength;
  buf[offset + 7] = 0;
}

/**
 * One record with `content` (at most 65535 bytes) and no padding.
 * @throws {RangeError} for content over 65535 bytes (use {@link encodeStream}).
 */
export function encodeRecord(type: number, requestId: number, content?: Buffer): Buffer {
  const len = content?.length ?? 0;
  if (len > FCGI_MAX_CONTENT) throw new RangeError(`FastCGI record content of ${len} bytes exceeds 65535`);
  const buf = Buffer.allocUnsafe(FCGI_HEADER_BYTES + len);
  writeRecordHeader(buf, 0, type, requestId, len);
  content?.copy(buf, FCGI_HEADER_BYTES);
  return buf;
}

/**
 * Bytes `data` takes as stream records of at most 65535 bytes each (without the empty record
 * that ends a stream).
 */
export function streamByteLength(dataLength: number): number {
  return dataLength + FCGI_HEADER_BYTES * Math.ceil(dataLength / FCGI_MAX_CONTENT);
}

/**
 * `data` as stream records (STDIN, STDOUT, PARAMS...) of at most 65535 bytes each, copied into one
 * buffer; with `end`, the empty record that closes the stream follows. Empty `data` without
 * `end` gives an empty buffer (an empty record would close the stream).
 */
export function encodeStream(type: number, requestId: number, data: Buffer, end = false): Buffer {
  const buf = Buffer.allocUnsafe(streamByteLength(data.length) + (end ? FCGI_HEADER_BYTES : 0));
  let o = 0;
  for (let from = 0; from < data.length; from += FCGI_MAX_CONTENT) {
    const n = Math.min(FCGI_MAX_CONTENT, data.length - from);
    writeRecordHeader(buf, o, type, requestId, n);
    data.copy(buf, o + FCGI_HEADER_BYTES, from, from + n);
    o += FCGI_HEADER_BYTES + n;
  }
  if (end) writeRecordHeader(buf, o, type, requestId, 0);
  return buf;
}

/** The body of BEGIN_REQUEST. */
export interface BeginRequest {
  readonly role: number;
  readonly flags: number;
}

/** Encode a whole BEGIN_REQUEST record. */
export function encodeBeginRequest(requestId: number, role: number, flags: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16BE(role, 0);
  body[2] = flags;
  return encodeRecord(RecordType.BEGIN_REQUEST, requestId, body);
}

/** @throws {FastcgiProtocolError} TSGI_ERR_FASTCGI_RECORD when the content is not 8 bytes. */
export function decodeBeginRequest(buf: Buffer, start: number, end: number): BeginRequest {
  if (end - start !== 8) throw badBody('BEGIN_REQUEST', end - start);
  return { role: buf.readUInt16BE(start), flags: buf[start + 2]! };
}

/** The body of END_REQUEST. */
export interface EndRequest {
  /** The application's exit status (a CGI program's exit code; tsgi sends 0). */
  readonly appStatus: number;
  readonly protocolStatus: number;
}

/** Encode a whole END_REQUEST record. */
export function encodeEndRequest(requestId: number, appStatus: number, protocolStatus: number): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt32BE(appStatus >>> 0, 0);
  body[4] = protocolStatus;
  return encodeRecord(RecordType.END_REQUEST, requestId, body);
}

/** @throws {FastcgiProtocolError} TSGI_ERR_FASTCGI_RECORD when the content is not 8 bytes. */
export function decodeEndRequest(buf: Buffer, start: number, end: number): EndRequest {
  if (end - start !== 8) throw badBody('END_REQUEST', end - start);
  return { appStatus: buf.readUInt32BE(start), protocolStatus: buf[start + 4]! };
}

/** Encode an UNKNOWN_TYPE record (§4.2): the answer to a management record type tsgi does not know. */
export function encodeUnknownType(type: number): Buffer {
  const body = Buffer.alloc(8);
  body[0] = type;
  return encodeRecord(RecordType.UNKNOWN_TYPE, FCGI_NULL_REQUEST_ID, body);
}

function badBody(what: string, len: number): FastcgiProtocolError {
  return new FastcgiProtocolError('TSGI_ERR_FASTCGI_RECORD', `${what} body of ${len} bytes (expected 8)`);
}
