import type { Socket } from 'node:net';
import { FCGI_HEADER_BYTES, FCGI_MAX_CONTENT, writeRecordHeader } from './record.js';

/**
 * Write `data` on `socket` as stream records of at most 65535 bytes each, without copying the data:
 * each record's 8-byte header and a view of the data go out in one corked write. Returns what
 * `socket.write` returned for the last piece (false: wait for 'drain').
 */
export function writeStream(socket: Socket, type: number, requestId: number, data: Buffer): boolean {
  const records = Math.ceil(data.length / FCGI_MAX_CONTENT);
  if (records === 0) return true;
  const headers = Buffer.allocUnsafe(FCGI_HEADER_BYTES * records);
  socket.cork();
  let ok = true;
  for (let i = 0; i < records; i++) {
    const from = i * FCGI_MAX_CONTENT;
    const n = Math.min(FCGI_MAX_CONTENT, data.length - from);
    writeRecordHeader(headers, i * FCGI_HEADER_BYTES, type, requestId, n);
    socket.write(headers.subarray(i * FCGI_HEADER_BYTES, (i + 1) * FCGI_HEADER_BYTES));
    ok = socket.write(records === 1 ? data : data.subarray(from, from + n));
  }
  socket.uncork();
  return ok;
}
