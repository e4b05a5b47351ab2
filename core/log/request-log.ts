import { performance } from 'node:perf_hooks';
import { varsByteLength } from '../../plugins/uwsgi/codec.js';
import { ConfigError, type ConfigOrigin } from '../errors.js';
import type { TsgiRequest } from '../request/request.js';
import type { ProcessMemory } from '../stats/proc.js';
import { compileStrftime } from './strftime.js';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
let ctimeSecond = -1;
let ctimeText = '';

/** C's ctime(3) format without the newline (`Sat Nov 21 12:47:56 2026`), local time, cached per second. */
export function ctime(epochMs: number): string {
  const sec = Math.floor(epochMs / 1000);
  if (sec !== ctimeSecond) {
    const d = new Date(sec * 1000);
    const p = (n: number) => String(n).padStart(2, '0');
    ctimeText = `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
    ctimeSecond = sec;
  }
  return ctimeText;
}

const ltimeFormat = compileStrftime('%d/%b/%Y:%H:%M:%S %z');
let ltimeSecond = -1;
let ltimeText = '';

/** uWSGI's `%(ltime)`: `21/Nov/2026:12:47:56 +0100` (Apache's common log time), local, cached per second. */
export function ltime(epochMs: number): string {
  const sec = Math.floor(epochMs / 1000);
  if (sec !== ltimeSecond) {
    ltimeText = ltimeFormat(new Date(sec * 1000));
    ltimeSecond = sec;
  }
  return ltimeText;
}

/**
 * Everything a request log line can show about one finished request. Built once per logged request
 * by the request logger; `memory` is filled only when the format asks for it (it costs a /proc read).
 */
export interface RequestLogEntry {
  readonly req: TsgiRequest;
  /** Parse to end, µs. */
  readonly durationUs: number;
  readonly workerId: number;
  readonly workerPid: number;
  /** Requests this worker process has served, this one included. */
  readonly workerRequests: number;
  /** Requests the instance has served, this one included. */
  readonly totalRequests: number;
  /** The client address to log: REMOTE_ADDR, or X-Forwarded-For with `log-x-forwarded-for`. */
  readonly addr: string;
  /** 1 when the client went away before the response was complete, else 0. */
  readonly writeErrors: number;
  /** The worker's memory, when the format needs it. */
  readonly memory: ProcessMemory | null;
}

const HIGH = /[\x80-\xff]/;

/**
 * A request var (a latin-1 "binary string", one char per byte) as log text: bytes that form UTF-8
 * are shown as the characters they encode (invalid sequences become U+FFFD), so the log stays valid
 * UTF-8 whatever the client sent.
 */
export function logText(v: string | undefined): string {
  if (v === undefined) return '';
  return HIGH.test(v) ? Buffer.from(v, 'latin1').toString('utf8') : v;
}

type Chunk = (e: RequestLogEntry) => string;

const reqVar =
  (name: string): Chunk =>
  (e) =>
    logText(e.req.vars.get(name));
const mem =
  (f: (m: ProcessMemory) => number): Chunk =>
  (e) =>
    String(f(e.memory!));

/** uWSGI's request log variables (core/logging.c `uwsgi_register_logchunks`), tsgi's values. */
const CHUNKS: Record<string, Chunk> = {
  uri: reqVar('REQUEST_URI'),
  method: reqVar('REQUEST_METHOD'),
  user: reqVar('REMOTE_USER'),
  addr: (e) => logText(e.addr),
  host: reqVar('HTTP_HOST'),
  proto: reqVar('SERVER_PROTOCOL'),
  uagent: reqVar('HTTP_USER_AGENT'),
  referer: reqVar('HTTP_REFERER'),
  status: (e) => String(e.req.status),
  rsize: (e) => String(e.req.bytesOut),
  hsize: (e) => String(e.req.headerBytes),
  size: (e) => String(e.req.headerBytes + e.req.bytesOut),
  cl: (e) => String(e.req.contentLength >= 0 ? e.req.contentLength : e.req.bytesIn),
  micros: (e) => String(e.durationUs),
  msecs: (e) => String(Math.floor(e.durationUs / 1000)),
  secs: (e) => (e.durationUs / 1e6).toFixed(6).slice(0, 10),
  tmsecs: (e) => String(Math.floor(performance.timeOrigin + e.req.startedAtMs)),
  tmicros: (e) => String(Math.floor((performance.timeOrigin + e.req.startedAtMs) * 1000)),
  time: (e) => String(Math.floor(e.req.startedAtEpochMs / 1000)),
  epoch: () => String(Math.floor(Date.now() / 1000)),
  ctime: (e) => ctime(e.req.startedAtEpochMs),
  ltime: (e) => ltime(e.req.startedAtEpochMs),
  ftime: (e) => ltime(e.req.startedAtEpochMs),
  pid: (e) => String(e.workerPid),
  wid: (e) => String(e.workerId),
  switches: () => '1',
  vars: (e) => String(e.req.vars.size * 2),
  core: () => '0',
  vsz: mem((m) => m.vsz),
  rss: mem((m) => m.rss),
  vszM: mem((m) => Math.floor(m.vsz / 1048576)),
  rssM: mem((m) => Math.floor(m.rss / 1048576)),
  pktsize: (e) => String(varsByteLength(e.req.vars)),
  modifier1: () => '0',
  modifier2: () => '0',
  headers: (e) => String(e.req.headerCount),
  werr: (e) => String(e.writeErrors),
  rerr: () => '0',
  ioerr: (e) => String(e.writeErrors),
};

const MEMORY_CHUNKS = new Set(['vsz', 'rss', 'vszM', 'rssM']);

/** A `log-format` compiled once at config time. */
export interface CompiledLogFormat {
  /** The format as written. */
  readonly text: string;
  /** Whether rendering needs `entry.memory`. */
  readonly needsMemory: boolean;
  /** The line for one request (no newline). */
  render(e: RequestLogEntry): string;
}

/**
 * Compile a uWSGI `log-format` (uWSGI docs "Formatting uWSGI requests logs"): text with `%(name)`
 * variables, split exactly as uWSGI's `uwsgi_build_log_format` splits it. Names: the request fields
 * (`uri method user addr host proto uagent referer`), the computed ones (`status rsize hsize size cl
 * micros msecs secs tmsecs tmicros time epoch ctime ltime ftime pid wid switches vars core vsz rss
 * vszM rssM pktsize modifier1 modifier2 headers werr rerr ioerr`), and `var.NAME` (any request var,
 * e.g. `%(var.HTTP_X_REQUEST_ID)`). A variable whose value is empty logs `-`; any other name is an
 * app log variable, which tsgi apps cannot set, so it logs `-` as uWSGI does for an unset one.
 * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE for `%(metric.NAME)` (tsgi has no uWSGI metrics; use the
 * `prometheus` listener).
 */
export function compileLogFormat(
  format: string,
  option = 'log-format',
  origin: ConfigOrigin | null = null,
): CompiledLogFormat {
  const parts: Array<string | Chunk> = [];
  let needsMemory = false;
  const variable = (name: string): Chunk => {
    const known = CHUNKS[name];
    if (known) {
      if (MEMORY_CHUNKS.has(name)) needsMemory = true;
      return known;
    }
    if (name.startsWith('var.')) return reqVar(name.slice(4));
    if (name.startsWith('metric.'))
      throw new ConfigError(
        'TSGI_ERR_CONFIG_VALUE',
        `%(${name}): uWSGI metrics do not exist in tsgi; its metrics are served by the prometheus listener`,
        origin,
        option,
      );
    return () => '';
  };
  // uWSGI's state machine: `%` then `(` opens a variable at the next character; `)` closes it.
  let state = 0;
  let current = 0;
  let start = -1;
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c === '%') {
      if (state === 0) state = 1;
    } else if (c === '(') {
      if (state === 1) state = 2;
    } else if (c === ')') {
      if (start !== -1) {
        parts.push(variable(format.slice(start, i)));
        state = 0;
        start = -1;
        current = i + 1;
      }
    } else {
      if (state === 2) {
        if (i - 2 > current) parts.push(format.slice(current, i - 2));
        start = i;
      }
      state = 0;
    }
  }
  if (format.length > current) parts.push(format.slice(current));
  return {
    text: format,
    needsMemory,
    render(e) {
      let out = '';
      for (const p of parts) {
        if (typeof p === 'string') out += p;
        else {
          const v = p(e);
          out += v === '' ? '-' : v;
        }
      }
      return out;
    },
  };
}

/** How the default request line is decorated (uWSGI's `log-micros` and `memory-report`). */
export interface DefaultLineOptions {
  readonly micros: boolean;
  /** 0 off, 1 address space and rss, 2 also uss and pss. */
  readonly memoryReport: number;
}

const MB = 1048576;

/**
 * uWSGI's default request log line (`uwsgi_logit_simple` in core/logging.c):
 * `[pid: 123|app: 0|req: 5/17] 127.0.0.1 () {24 vars in 255 bytes} [Sat Nov 21 12:47:56 2026] GET /x => generated 12 bytes in 3 msecs (HTTP/1.1 200) 2 headers in 64 bytes (1 switches on core 0)`,
 * with uWSGI's counting: `vars` counts names and values, `bytes` is the uwsgi vars block size, the
 * time is truncated to whole ms (or µs with `log-micros`), `headers in N bytes` is the response head
 * as HTTP/1.1 text.
 */
export function defaultRequestLine(e: RequestLogEntry, o: DefaultLineOptions): string {
  const { req } = e;
  let prefix = '';
  if (o.memoryReport > 0 && e.memory) {
    const m = e.memory;
    prefix = `{address space usage: ${m.vsz} bytes/${Math.floor(m.vsz / MB)}MB} {rss usage: ${m.rss} bytes/${Math.floor(m.rss / MB)}MB} `;
    if (o.memoryReport > 1)
      prefix += `{uss usage: ${m.uss} bytes/${Math.floor(m.uss / MB)}MB} {pss usage: ${m.pss} bytes/${Math.floor(m.pss / MB)}MB} `;
  }
  const time = o.micros ? `${e.durationUs} micros` : `${Math.floor(e.durationUs / 1000)} msecs`;
  return (
    `${prefix}[pid: ${e.workerPid}|app: 0|req: ${e.workerRequests}/${e.totalRequests}] ${logText(e.addr)} ` +
    `(${logText(req.vars.get('REMOTE_USER'))}) {${req.vars.size * 2} vars in ${varsByteLength(req.vars)} bytes} ` +
    `[${ctime(req.startedAtEpochMs)}] ${logText(req.vars.get('REQUEST_METHOD'))} ${logText(req.vars.get('REQUEST_URI'))} ` +
    `=> generated ${req.bytesOut} bytes in ${time} (${logText(req.vars.get('SERVER_PROTOCOL'))} ${req.status}) ` +
    `${req.headerCount} headers in ${req.headerBytes} bytes (1 switches on core 0)`
  );
}
