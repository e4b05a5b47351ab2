import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import { httpDate, mimeOf } from '../rules/route-vars.js';

/**
 * Static file serving as uWSGI's core/static.c does it (`uwsgi_file_serve`, `uwsgi_real_file_serve`),
 * with tsgi's additions: the file is resolved with realpath and must stay inside its root (or a
 * `static-safe` path), directories are served through `static-index`, `If-Modified-Since` gives 304,
 * a single `Range` gives 206 or 416, and (a tsgi extension) an ETag with `If-None-Match` and
 * `If-Range`. Bodies stream from an open file handle with the client's backpressure.
 */

/** What static serving is configured with (`static-index`, `static-safe`, `static-skip-ext`, `honour-range`). */
export interface StaticSettings {
  readonly index: readonly string[];
  readonly safe: readonly string[];
  readonly skipExt: readonly string[];
  readonly honourRange: boolean;
}

/** A file found for a request. */
export interface FoundFile {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
  /** The `static-index` entry appended when a directory was asked for, else null. */
  readonly index: string | null;
}

/** Why a file was not served: not there, or refused (outside its root: traversal or a symlink out). */
export type NotServed = 'missing' | 'forbidden';

/**
 * Find the file for `filename`. With `root`, the file must resolve inside `root` (already a
 * realpath); without one (the `static:` action), the name must already be its own realpath: no
 * `..`, no symlink on the way. Either rule is waived for files under a `static-safe` path. A
 * directory is served through the first `static-index` file it holds.
 */
export async function findFile(
  filename: string,
  root: string | null,
  settings: StaticSettings,
): Promise<FoundFile | NotServed> {
  let real: string;
  try {
    real = await realpath(filename);
  } catch {
    return 'missing';
  }
  const inside = root === null ? real === filename : real === root || real.startsWith(`${root}/`);
  if (!inside && !settings.safe.some((s) => real === s || real.startsWith(s.endsWith('/') ? s : `${s}/`)))
    return 'forbidden';
  const st = await stat(real).catch(() => null);
  if (!st) return 'missing';
  if (st.isFile()) return { path: real, size: st.size, mtimeMs: st.mtimeMs, index: null };
  if (!st.isDirectory()) return 'missing';
  for (const index of settings.index) {
    const candidate = real.endsWith('/') ? real + index : `${real}/${index}`;
    const ist = await stat(candidate).catch(() => null);
    if (ist?.isFile()) return { path: candidate, size: ist.size, mtimeMs: ist.mtimeMs, index };
  }
  return 'missing';
}

/** Whether static serving applies to this request at all (uWSGI serves GET and HEAD only). */
export function staticMethod(req: TsgiRequest): boolean {
  const m = req.vars.get('REQUEST_METHOD');
  return m === 'GET' || m === 'HEAD';
}

/** Whether `static-skip-ext` excludes this file. */
export function skipped(file: FoundFile, settings: StaticSettings): boolean {
  return settings.skipExt.some((ext) => file.path.endsWith(ext));
}

/** The strong validator tsgi gives a file: mtime and size in hex (nginx's form). */
export function etagOf(file: FoundFile): string {
  return `"${Math.floor(file.mtimeMs / 1000).toString(16)}-${file.size.toString(16)}"`;
}

/**
 * Answer a request with a file: 304 when the client's copy is current, 416 for a range outside the
 * file, 206 for a satisfiable single range, else 200; HEAD gets the head only. `headers` are extra
 * headers put before the file's own (none for uWSGI's static serving). Sets `req.status`.
 */
export async function sendFile(
  req: TsgiRequest,
  sink: ResponseSink,
  file: FoundFile,
  settings: StaticSettings,
): Promise<void> {
  const v = req.vars;
  const mtimeSec = Math.floor(file.mtimeMs / 1000);
  const lastModified = httpDate(mtimeSec);
  const etag = etagOf(file);
  if (notModified(v.get('HTTP_IF_NONE_MATCH'), v.get('HTTP_IF_MODIFIED_SINCE'), etag, mtimeSec)) {
    req.status = 304;
    sink.head(304, 'Not Modified', ['ETag', etag], -1);
    sink.end();
    return;
  }
  const range = settings.honourRange ? parseRange(v.get('HTTP_RANGE'), file.size) : null;
  const useRange = range !== null && rangeStillValid(v.get('HTTP_IF_RANGE'), etag, mtimeSec);
  if (useRange && range === 'invalid') {
    req.status = 416;
    sink.head(416, 'Requested Range Not Satisfiable', ['Content-Range', `bytes */${file.size}`], 0);
    sink.end();
    return;
  }
  const span = useRange && range !== 'invalid' && range ? range : { from: 0, to: file.size - 1 };
  const partial = span.from !== 0 || span.to !== file.size - 1;
  const headers: string[] = [];
  const type = mimeOf(file.path);
  if (type) headers.push('Content-Type', type);
  const length = span.to - span.from + 1;
  headers.push('Content-Length', String(length));
  if (partial) headers.push('Content-Range', `bytes ${span.from}-${span.to}/${file.size}`);
  headers.push('Last-Modified', lastModified, 'ETag', etag);
  if (settings.honourRange) headers.push('Accept-Ranges', 'bytes');
  const status = partial ? 206 : 200;
  if (v.get('REQUEST_METHOD') === 'HEAD') {
    req.status = status;
    sink.head(status, partial ? 'Partial Content' : 'OK', headers, -1);
    sink.end();
    return;
  }
  await streamFile(
    req,
    sink,
    file.path,
    { status, reason: partial ? 'Partial Content' : 'OK', headers },
    span.from,
    length,
  );
}

/** The head of a file response: status line and headers (Content-Length included by the caller). */
export interface FileHead {
  readonly status: number;
  readonly reason: string;
  readonly headers: string[];
}

/**
 * Open `path`, send `head`, then stream `length` bytes from offset `from` with the client's
 * backpressure. A file that cannot be opened gets 404 instead. Sets `req.status`.
 */
export async function streamFile(
  req: TsgiRequest,
  sink: ResponseSink,
  path: string,
  head: FileHead,
  from: number,
  length: number,
): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch {
    req.status = 404;
    sink.head(404, 'Not Found', ['Content-Type', 'text/plain', 'Content-Length', '0'], 0);
    sink.end();
    return;
  }
  req.status = head.status;
  sink.head(head.status, head.reason, head.headers, -1);
  if (length === 0) {
    await fh.close().catch(() => {});
    sink.end();
    return;
  }
  await pump(req, sink, fh, from, length);
}

/** Stream `length` bytes from `fh` at `from` into the sink, waiting for the client to drain. */
async function pump(
  req: TsgiRequest,
  sink: ResponseSink,
  fh: FileHandle,
  from: number,
  length: number,
): Promise<void> {
  let gone = false;
  sink.onAbort(() => {
    gone = true;
  });
  const chunkBytes = 64 * 1024;
  let pos = from;
  let left = length;
  try {
    while (left > 0 && !gone) {
      const buf = Buffer.allocUnsafe(Math.min(chunkBytes, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      left -= bytesRead;
      req.bytesOut += bytesRead;
      if (!sink.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead)) && !gone)
        await new Promise<void>((resolve) => sink.onDrain(resolve));
    }
    if (left > 0 && !gone) sink.fail(500, 'the file shrank while it was sent');
    else if (!gone) sink.end();
  } catch (err) {
    if (!gone) sink.fail(500, `reading the file failed: ${(err as Error).message}`);
  } finally {
    await fh.close().catch(() => {});
  }
}

/** RFC 9110 §13.1.2 then §13.1.3: If-None-Match decides when present, else If-Modified-Since. */
function notModified(
  inm: string | undefined,
  ims: string | undefined,
  etag: string,
  mtimeSec: number,
): boolean {
  if (inm !== undefined) {
    if (inm.trim() === '*') return true;
    return inm.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
  }
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  return Number.isFinite(t) && mtimeSec <= Math.floor(t / 1000);
}

/** If-Range: the range applies when the validator still matches (an ETag, or a date not older than the file). */
function rangeStillValid(ifRange: string | undefined, etag: string, mtimeSec: number): boolean {
  if (ifRange === undefined) return true;
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag;
  const t = Date.parse(v);
  return Number.isFinite(t) && Math.floor(t / 1000) >= mtimeSec;
}

/**
 * A single byte range (RFC 9110 §14.1.2) against a file of `size` bytes: the span, `'invalid'` when
 * unsatisfiable, or null to ignore the header (absent, malformed, several ranges, or the whole file).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { from: number; to: number } | 'invalid' | null {
  if (!header) return null;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let from: number;
  let to: number;
  if (m[1] === '') {
    from = Math.max(0, size - Number(m[2]));
    to = size - 1;
  } else {
    from = Number(m[1]);
    to = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (from === 0 && to === size - 1) return null;
  if (from > to || from >= size) return 'invalid';
  return { from, to };
}
