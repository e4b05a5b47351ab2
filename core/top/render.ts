/**
 * The screen of `tsgi top`: pure functions from stats documents to text lines (no terminal I/O), for
 * the two shapes a stats server sends: an instance (uWSGI's stats document: `workers`) and an emperor
 * (uWSGI's emperor stats: `vassals`, with tsgi's `state` where present).
 */

type Doc = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
const str = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
const list = (v: unknown): Doc[] =>
  Array.isArray(v) ? (v.filter((x) => x && typeof x === 'object') as Doc[]) : [];

/** `12.3M`-style size from bytes. */
export function bytes(n: number): string {
  if (n < 1024) return `${n}`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)}${units[u]}`;
}

/** `1h02m`, `3m05s`, `42s` from seconds. */
export function duration(sec: number): string {
  const s = Math.max(0, Math.floor(sec));
  if (s >= 86400)
    return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** Response time from µs: `850us`, `12.3ms`, `1.20s`. */
function micros(us: number): string {
  if (us < 1000) return `${Math.round(us)}us`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(1)}ms`;
  return `${(us / 1e6).toFixed(2)}s`;
}

/** Lay out rows under a header: columns padded to their widest cell; numbers right-aligned. */
function table(header: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right.has(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** One frame to show: the lines, and whether it came from an emperor. */
export interface Frame {
  readonly lines: string[];
  /** Index of the table header line (shown in reverse video), or -1. */
  readonly headerLine: number;
}

/** A stats document and when it was read (for per-second rates between two reads). */
export interface Snapshot {
  readonly doc: Doc;
  readonly atMs: number;
}

/** Whether the document is an emperor's (uWSGI emperor stats: a `vassals` list). */
export function isEmperor(doc: Doc): boolean {
  return Array.isArray(doc.vassals);
}

function instanceFrame(cur: Snapshot, prev: Snapshot | null): Frame {
  const d = cur.doc;
  const workers = list(d.workers);
  const prevReq = new Map<number, number>();
  if (prev) for (const w of list(prev.doc.workers)) prevReq.set(num(w.pid), num(w.requests));
  const dt = prev ? (cur.atMs - prev.atMs) / 1000 : 0;
  const total = workers.reduce((n, w) => n + num(w.requests), 0);
  const busy = workers.filter((w) => w.status === 'busy').length;
  const rate = (w: Doc) => {
    const before = prevReq.get(num(w.pid));
    return dt > 0 && before !== undefined ? Math.max(0, num(w.requests) - before) / dt : 0;
  };
  const allRate = workers.reduce((n, w) => n + rate(w), 0);
  const tsgi = (d.tsgi ?? {}) as Doc;
  const lines = [
    `${str(d.version)} - pid ${num(d.pid)}${tsgi.uptime_ms !== undefined ? ` - up ${duration(num(tsgi.uptime_ms) / 1000)}` : ''}${tsgi.generation !== undefined ? ` - generation ${num(tsgi.generation)}` : ''} - cwd ${str(d.cwd)}`,
    `requests ${total} (${allRate.toFixed(1)}/s)  workers ${workers.length} (${busy} busy)  queue ${num(d.listen_queue)}  queue errors ${num(d.listen_queue_errors)}  load ${num(d.load)}`,
    '',
  ];
  const rows = workers.map((w) => [
    String(num(w.id)),
    total > 0 ? ((100 * num(w.requests)) / total).toFixed(1) : '0.0',
    String(num(w.pid)),
    String(num(w.requests)),
    rate(w).toFixed(1),
    String(num(w.exceptions)),
    str(w.status),
    micros(num(w.avg_rt)),
    bytes(num(w.rss)),
    bytes(num(w.vsz)),
    bytes(num(w.tx)),
    String(num(w.respawn_count)),
    String(num(w.harakiri_count)),
    micros(num(w.running_time)),
  ]);
  const header = [
    'WID',
    '%',
    'PID',
    'REQ',
    'RPS',
    'EXC',
    'STATUS',
    'AVG',
    'RSS',
    'VSZ',
    'TX',
    'RESPAWN',
    'HRKR',
    'RUNT',
  ];
  const headerLine = lines.length;
  lines.push(...table(header, rows, new Set([0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 13])));
  if (workers.length === 0) lines.push('(no workers)');
  return { lines, headerLine };
}

/** A vassal's last exit as tsgi's emperor reports it: text, or `{code, signal}`. */
function exitText(v: unknown): string {
  if (v && typeof v === 'object') {
    const e = v as Doc;
    if (typeof e.signal === 'string' && e.signal) return e.signal;
    if (e.code !== undefined && e.code !== null) return `exit ${num(e.code)}`;
    return '';
  }
  return str(v);
}

/** A vassal's state: tsgi's `state` when present, else from uWSGI's flags. */
function vassalState(v: Doc): string {
  if (typeof v.state === 'string') return v.state;
  if (num(v.cursed)) return 'cursed';
  if (num(v.suspended)) return 'suspended';
  if (num(v.loyal)) return 'loyal';
  if (num(v.ready)) return 'ready';
  return num(v.pid) > 0 ? 'spawning' : 'stopped';
}

function emperorFrame(cur: Snapshot): Frame {
  const d = cur.doc;
  const vassals = list(d.vassals);
  const black = list(d.blacklist);
  const nowSec = cur.atMs / 1000;
  const lines = [
    `emperor ${str(d.version)} - pid ${num(d.pid)} - ${vassals.length} vassal(s), ${black.length} blacklisted - throttle level ${num(d.throttle_level)}`,
    `scanners: ${Array.isArray(d.emperor) ? d.emperor.map(str).join(', ') : ''}${num(d.emperor_tyrant) ? '  (tyrant mode)' : ''}`,
    '',
  ];
  const rows = vassals.map((v) => [
    str(v.id),
    String(num(v.pid)),
    vassalState(v),
    String(num(v.respawns)),
    num(v.born) > 0 && num(v.pid) > 0 ? duration(nowSec - num(v.born)) : '-',
    num(v.last_loyal) > 0 ? duration(nowSec - num(v.last_loyal)) : '-',
    `${num(v.uid)}:${num(v.gid)}`,
    exitText(v.last_exit),
  ]);
  const headerLine = lines.length;
  lines.push(
    ...table(
      ['VASSAL', 'PID', 'STATE', 'RESPAWNS', 'UPTIME', 'LOYAL FOR', 'UID:GID', 'LAST EXIT'],
      rows,
      new Set([1, 3]),
    ),
  );
  if (vassals.length === 0) lines.push('(no vassals)');
  if (black.length > 0) {
    lines.push('', 'blacklist:');
    for (const b of black)
      lines.push(
        `  ${str(b.id)}  throttle level ${num(b.throttle_level)}  attempts ${num(b.attempt)}` +
          (b.delay !== undefined ? `  next try in ${duration(num(b.delay))}` : ''),
      );
  }
  return { lines, headerLine };
}

/** The frame for the latest snapshot (and the one before it, for rates). */
export function renderFrame(cur: Snapshot, prev: Snapshot | null): Frame {
  return isEmperor(cur.doc) ? emperorFrame(cur) : instanceFrame(cur, prev);
}
