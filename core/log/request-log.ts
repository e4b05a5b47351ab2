import type { TsgiRequest } from '../request/request.js';

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

/** Counters the request line shows: the worker's requests and the instance's total. */
export interface RequestLineCounts {
  readonly workerPid: number;
  readonly workerRequests: number;
  readonly totalRequests: number;
}

/**
 * uWSGI's default request log line (its `--log-format` default):
 * `[pid: 123|app: 0|req: 5/17] 127.0.0.1 () {32 vars in 411 bytes} [Sat Nov 21 12:47:56 2026] GET /x => generated 12 bytes in 3 msecs (HTTP/1.1 200) 2 headers in 64 bytes (1 switches on core 0)`.
 */
export function defaultRequestLine(req: TsgiRequest, durationMs: number, c: RequestLineCounts): string {
  let varsBytes = 0;
  for (const [k, v] of req.vars) varsBytes += 4 + k.length + v.length;
  return (
    `[pid: ${c.workerPid}|app: 0|req: ${c.workerRequests}/${c.totalRequests}] ${req.var('REMOTE_ADDR')} () ` +
    `{${req.vars.size} vars in ${varsBytes} bytes} [${ctime(req.startedAtEpochMs)}] ${req.var('REQUEST_METHOD')} ` +
    `${req.var('REQUEST_URI')} => generated ${req.bytesOut} bytes in ${Math.round(durationMs)} msecs ` +
    `(${req.var('SERVER_PROTOCOL')} ${req.status}) ${req.headerCount} headers in ${req.headerBytes} bytes ` +
    `(1 switches on core 0)`
  );
}
