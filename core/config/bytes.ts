/**
 * Byte strings: the config reader works on "binary strings" (one JS char per byte, char codes
 * 0..255, i.e. latin1-decoded buffers) so that every uWSGI rule that is defined on bytes (magic
 * variables `%` + any byte, NUL-terminated C strings, `fgets` chunks) behaves exactly as in
 * uWSGI's C code, whatever the encoding of the file. Text is converted back to UTF-8 JS strings
 * only when entries leave the reader.
 */

import { isAbsolute } from 'node:path';

/** A JS string whose chars are bytes (0..255). Type alias for documentation only. */
export type Bytes = string;

/** UTF-8 text (argv, environment, callbacks) → byte string. */
export function toBytes(text: string | Uint8Array): Bytes {
  return typeof text === 'string'
    ? Buffer.from(text, 'utf8').toString('latin1')
    : Buffer.from(text).toString('latin1');
}

/** Byte string → UTF-8 JS string (invalid sequences become U+FFFD, as any UTF-8 reader shows them). */
export function fromBytes(bytes: Bytes): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Byte string → Buffer (for `fs` calls with exact bytes). */
export function bytesBuffer(bytes: Bytes): Buffer {
  return Buffer.from(bytes, 'latin1');
}

/** A C string view: everything before the first NUL byte. */
export function cString(bytes: Bytes): Bytes {
  const nul = bytes.indexOf('\0');
  return nul < 0 ? bytes : bytes.slice(0, nul);
}

/**
 * The file-system path for a byte-string path, relative paths taken against `cwd` (the reader's
 * process working directory, as uWSGI resolves every config path against its own cwd).
 */
export function fsPath(path: Bytes, cwd: string): Buffer {
  const text = fromBytes(path);
  if (isAbsolute(text) || path.length === 0) return bytesBuffer(path);
  return Buffer.concat([Buffer.from(cwd.endsWith('/') ? cwd : `${cwd}/`, 'utf8'), bytesBuffer(path)]);
}
