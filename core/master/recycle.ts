/**
 * Recycling policy (pure): when a worker should be replaced because of what it has done (requests
 * served, memory, age). uWSGI's rules (`core/utils.c: uwsgi_close_request`,
 * `core/master_checks.c`): max-requests and the memory limits are checked after each request and
 * only once the worker has run `min-worker-lifetime`; max-worker-lifetime is checked by the master;
 * the evil limits are checked by the master and kill at once.
 */

/** Why a worker is recycled (the `WorkerExitReason` it exits with). */
export type RecycleReason = 'max-requests' | 'rss' | 'lifetime';

/** A recycling decision: the reason and the log text (`max-requests reached (3 >= 3)`). */
export interface Recycle {
  readonly reason: RecycleReason;
  readonly detail: string;
}

/** The recycling limits of an instance, in the master's units (ms, bytes). 0 = off. */
export interface RecycleLimits {
  readonly minLifetimeMs: number;
  readonly maxLifetimeMs: number;
  readonly lifetimeDeltaMs: number;
  readonly reloadOnRssBytes: number;
  readonly reloadOnAsBytes: number;
  readonly evilRssBytes: number;
  readonly evilAsBytes: number;
}

/** What the policy looks at for one worker. */
export interface WorkerFacts {
  /** Worker id, 1-based. */
  readonly id: number;
  /** Requests this process served. */
  readonly requests: number;
  /** This process's request limit (from {@link requestLimit}); 0 = none. */
  readonly requestLimit: number;
  /** How long the process has run, ms. */
  readonly livedMs: number;
}

/** Memory of a process, bytes. */
export interface Memory {
  readonly rssBytes: number;
  readonly vszBytes: number;
}

const MB = 1024 * 1024;

/** The limits from the option values (seconds and MB as the user writes them). */
export function recycleLimits(o: {
  readonly 'min-worker-lifetime': number;
  readonly 'max-worker-lifetime': number;
  readonly 'max-worker-lifetime-delta': number;
  readonly 'reload-on-rss': number;
  readonly 'reload-on-as': number;
  readonly 'evil-reload-on-rss': number;
  readonly 'evil-reload-on-as': number;
}): RecycleLimits {
  return {
    minLifetimeMs: o['min-worker-lifetime'] * 1000,
    maxLifetimeMs: o['max-worker-lifetime'] * 1000,
    lifetimeDeltaMs: o['max-worker-lifetime-delta'] * 1000,
    reloadOnRssBytes: o['reload-on-rss'] * MB,
    reloadOnAsBytes: o['reload-on-as'] * MB,
    evilRssBytes: o['evil-reload-on-rss'] * MB,
    evilAsBytes: o['evil-reload-on-as'] * MB,
  };
}

/**
 * The request limit of worker `id`: `max + (id - 1) × delta` (uWSGI's max-requests-delta, which
 * staggers workers deterministically) plus a random `0..jitter` (gunicorn's max_requests_jitter).
 * 0 when `max` is 0 (no limit).
 * @param random a function returning [0, 1), `Math.random` by default
 */
export function requestLimit(
  id: number,
  max: number,
  delta: number,
  jitter: number,
  random = Math.random,
): number {
  if (max <= 0) return 0;
  return max + (id - 1) * delta + (jitter > 0 ? Math.floor(random() * (jitter + 1)) : 0);
}

/** Whether the memory limits of the after-request check (and min-worker-lifetime) say "recycle". */
export function afterRequest(w: WorkerFacts, mem: Memory | null, limits: RecycleLimits): Recycle | null {
  if (w.livedMs < limits.minLifetimeMs) return null;
  if (w.requestLimit > 0 && w.requests >= w.requestLimit)
    return { reason: 'max-requests', detail: `max-requests reached (${w.requests} >= ${w.requestLimit})` };
  if (mem && limits.reloadOnRssBytes > 0 && mem.rssBytes >= limits.reloadOnRssBytes)
    return {
      reason: 'rss',
      detail: `reload-on-rss limit reached (${mem.rssBytes} >= ${limits.reloadOnRssBytes})`,
    };
  if (mem && limits.reloadOnAsBytes > 0 && mem.vszBytes >= limits.reloadOnAsBytes)
    return {
      reason: 'rss',
      detail: `reload-on-as limit reached (${mem.vszBytes} >= ${limits.reloadOnAsBytes})`,
    };
  return null;
}

/** Whether the after-request check needs the worker's memory (so the hot path skips /proc otherwise). */
export function needsMemory(limits: RecycleLimits): boolean {
  return limits.reloadOnRssBytes > 0 || limits.reloadOnAsBytes > 0;
}

/**
 * The master's periodic check: max-worker-lifetime (+ delta per worker id), and a request limit
 * that was reached before min-worker-lifetime allowed recycling.
 */
export function periodic(w: WorkerFacts, limits: RecycleLimits): Recycle | null {
  if (limits.maxLifetimeMs > 0) {
    const limit = limits.maxLifetimeMs + (w.id - 1) * limits.lifetimeDeltaMs;
    if (w.livedMs > limit)
      return {
        reason: 'lifetime',
        detail: `lifetime reached, it was running for ${Math.floor(w.livedMs / 1000)} second(s)`,
      };
  }
  return afterRequest(w, null, limits);
}

/** The evil limits (checked by the master every second): kill even mid-request. */
export function evil(mem: Memory, limits: RecycleLimits): Recycle | null {
  if (limits.evilRssBytes > 0 && mem.rssBytes >= limits.evilRssBytes)
    return { reason: 'rss', detail: `RSS: ${mem.rssBytes}` };
  if (limits.evilAsBytes > 0 && mem.vszBytes >= limits.evilAsBytes)
    return { reason: 'rss', detail: `AS: ${mem.vszBytes}` };
  return null;
}

/** Whether the periodic memory check is needed at all. */
export function needsEvilCheck(limits: RecycleLimits): boolean {
  return limits.evilRssBytes > 0 || limits.evilAsBytes > 0;
}
