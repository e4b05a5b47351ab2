import type { Emperor } from '../emperor.js';
import type { ConfigLine, StatsDoc } from '../messages.js';
import type { Vassal, VassalState } from '../vassal.js';
import type { History } from './history.js';

/** The span the overview's rates and latency cover, ms. */
export const RECENT_MS = 60_000;

/** One row of the overview table (the JSON of `GET /api/vassals`). Times in s, memory in bytes. */
export interface VassalRow {
  readonly name: string;
  readonly state: VassalState;
  /** ms until a blacklisted vassal's next start (0 otherwise). */
  readonly blacklistLeftMs: number;
  readonly pid: number;
  /** Seconds since the current process started (0: none). */
  readonly uptimeS: number;
  readonly busy: number;
  readonly idle: number;
  /** Requests per second and p95 latency (ms) over the last minute. */
  readonly rps: number;
  readonly p95Ms: number | null;
  readonly rss: number;
  readonly respawns: number;
  /** How the last process ended (`exit code 1`, `killed by SIGKILL`), or null. */
  readonly lastExit: string | null;
  readonly listeners: ReadonlyArray<{ readonly proto: string; readonly address: string }>;
}

/** The overview row of `v`, from the emperor's own state and the sampled metrics. */
export function vassalRow(
  v: Vassal,
  emperor: Emperor,
  history: History | undefined,
  nowMs: number,
): VassalRow {
  const latest = v.proc ? history?.latest() : undefined;
  const live = latest && latest.pid === v.pid ? latest : undefined;
  const recent = live ? history!.recent(RECENT_MS) : { rps: 0, p95Ms: null };
  const e = v.lastExit;
  return {
    name: v.name,
    state: v.state,
    blacklistLeftMs: v.state === 'blacklisted' ? emperor.blacklist.waitMs(v.name, nowMs) : 0,
    pid: v.pid,
    uptimeS: v.startedAtS ? Math.max(0, Math.floor(nowMs / 1000) - v.startedAtS) : 0,
    busy: live?.busy ?? 0,
    idle: live?.idle ?? 0,
    rps: Math.round(recent.rps * 100) / 100,
    p95Ms: recent.p95Ms === null ? null : Math.round(recent.p95Ms * 10) / 10,
    rss: live?.rss ?? 0,
    respawns: v.respawns,
    lastExit: e ? (e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`) : null,
    listeners: v.listeners.map((l) => ({ proto: l.proto, address: l.address })),
  };
}

/** Every vassal's row, by name. */
export function vassalRows(emperor: Emperor, histories: ReadonlyMap<string, History>): VassalRow[] {
  const now = Date.now();
  return [...emperor.vassals.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((v) => vassalRow(v, emperor, histories.get(v.name), now));
}

/** What a hidden value is shown as. */
export const HIDDEN = '(hidden)';
/** Option names whose values are secrets (matched anywhere in the name). */
const SECRET_KEY = /pass|secret|token|key|auth|cred|cookie|salt|private|dsn/i;

/**
 * Hide secrets in a resolved config: the value of every `env` entry (the name stays), of options
 * whose name looks secret (`*password*`, `*token*`, `*key*`...), and the password part of any
 * `scheme://user:password@` URL.
 */
export function redactConfig(lines: readonly ConfigLine[]): ConfigLine[] {
  return lines.map(({ key, value }) => {
    if (key === 'env') {
      const eq = value.indexOf('=');
      return { key, value: eq < 0 ? value : `${value.slice(0, eq)}=${HIDDEN}` };
    }
    if (SECRET_KEY.test(key)) return { key, value: HIDDEN };
    return { key, value: value.replace(/(\w+:\/\/[^/\s:@]*:)[^@\s]*@/g, `$1${HIDDEN}@`) };
  });
}

/** One worker of the vassal page (from the vassal's stats document). */
export interface WorkerRow {
  readonly id: number;
  readonly pid: number;
  readonly status: string;
  readonly requests: number;
  readonly exceptions: number;
  /** bytes */
  readonly rss: number;
  /** Average response time, µs (uWSGI's `avg_rt`). */
  readonly avgRtUs: number;
  /** Epoch s of the worker's last spawn. */
  readonly lastSpawn: number;
  readonly respawns: number;
}

const num = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x : 0);

/** The per-worker table from a stats document (uWSGI keys: id, pid, status, requests, rss...). */
export function workerRows(stats: StatsDoc): WorkerRow[] {
  return stats.workers.map((w) => ({
    id: num(w.id),
    pid: num(w.pid),
    status: typeof w.status === 'string' ? w.status : '?',
    requests: num(w.requests),
    exceptions: num(w.exceptions),
    rss: num(w.rss),
    avgRtUs: num(w.avg_rt),
    lastSpawn: num(w.last_spawn),
    respawns: num(w.respawn_count),
  }));
}
