/**
 * The cheaper subsystem's algorithms (pure), after uWSGI's `core/master_utils.c`
 * (`uwsgi_cheaper_algo_spare`, `uwsgi_cheaper_algo_backlog`). The master calls one once per master
 * cycle (1 s) with what it sees and applies the answer: add that many workers, or retire one.
 */

/** The worker counts and settings one decision needs. */
export interface CheaperView {
  /** Workers holding a slot and taking requests. */
  readonly active: number;
  /** Of those, workers with at least one request in flight. */
  readonly busy: number;
  /** Requests waiting for a worker slot. */
  readonly queued: number;
  /** `cheaper`: never fewer workers than this. */
  readonly min: number;
  /** `processes`: never more workers than this. */
  readonly max: number;
  /** `cheaper-step`: workers added at once. */
  readonly step: number;
  /** `cheaper-overload`: cycles (spare) or queued requests (backlog). */
  readonly overload: number;
}

/** The spare algorithm's memory between cycles. */
export interface SpareState {
  readonly overloadCount: number;
  readonly idleCount: number;
}

/** A decision: `delta > 0` add that many workers, `-1` retire one (the oldest idle), `0` nothing. */
export interface CheaperDecision<S> {
  readonly state: S;
  readonly delta: number;
}

export const SPARE_START: SpareState = { overloadCount: 0, idleCount: 0 };

function addable(v: CheaperView): number {
  return Math.max(0, Math.min(v.step, v.max - v.active));
}

/**
 * spare: every cycle with all workers busy counts as overload (a cycle with a free worker takes one
 * back); more than `overload` such cycles add `step` workers. When not overloaded, one spare worker
 * is the stable state; otherwise every `overload`-th idle cycle retires one worker, down to `min`.
 */
export function spare(s: SpareState, v: CheaperView): CheaperDecision<SpareState> {
  let { overloadCount, idleCount } = s;
  if (v.active > 0 && v.busy >= v.active) {
    overloadCount++;
    idleCount = 0;
  } else if (overloadCount > 0) overloadCount--;
  if (overloadCount > v.overload) {
    const n = addable(v);
    return { state: { overloadCount: 0, idleCount }, delta: n };
  }
  if (overloadCount === 0) {
    if (v.active - v.busy === 1) return { state: { overloadCount, idleCount }, delta: 0 };
    idleCount++;
    if (v.active > v.min && idleCount % v.overload === 0)
      return { state: { overloadCount, idleCount }, delta: -1 };
  }
  return { state: { overloadCount, idleCount }, delta: 0 };
}

/**
 * backlog: more than `overload` requests waiting for a slot adds `step` workers; fewer retires one
 * (down to `min`). tsgi's backlog is the master's dispatch queue, which is where requests wait.
 */
export function backlog(v: CheaperView): number {
  if (v.queued > v.overload) return addable(v);
  if (v.queued < v.overload && v.active > v.min) return -1;
  return 0;
}

/**
 * The validated cheaper settings, or null when cheaper mode is off (`cheaper = 0`).
 * Mirrors uWSGI's start-up checks: `cheaper` must be below `processes`; `cheaper-initial` is
 * clamped to [cheaper, processes] (with a warning).
 * @returns `error` when cheaper >= processes (uWSGI refuses to start), `warning` when clamped.
 */
export function cheaperSettings(o: {
  readonly processes: number;
  readonly cheaper: number;
  readonly initial: number;
}): { min: number; initial: number; warning?: string; error?: string } | null {
  if (o.cheaper <= 0) return null;
  if (o.cheaper >= o.processes)
    return { min: o.cheaper, initial: o.cheaper, error: `must be lower than processes (${o.processes})` };
  if (o.initial === 0) return { min: o.cheaper, initial: o.cheaper };
  if (o.initial < o.cheaper)
    return {
      min: o.cheaper,
      initial: o.cheaper,
      warning: `cheaper-initial (${o.initial}) must be at least cheaper (${o.cheaper}); using ${o.cheaper}`,
    };
  if (o.initial > o.processes)
    return {
      min: o.cheaper,
      initial: o.processes,
      warning: `cheaper-initial (${o.initial}) must be at most processes (${o.processes}); using ${o.processes}`,
    };
  return { min: o.cheaper, initial: o.initial };
}
