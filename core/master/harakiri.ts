/**
 * Harakiri policy (pure): which requests ran past their deadline, and how the stuck worker is put
 * down. uWSGI's `harakiri` is an absolute deadline per request kept by the master
 * (`core/master_checks.c: uwsgi_master_check_harakiri`); the first attempt may be graceful
 * (`harakiri-graceful-timeout`, `harakiri-graceful-signal`), then SIGKILL.
 */

/**
 * A request as harakiri sees it: when a worker started on it (monotonic ms, 0 = not dispatched), and
 * whether it became a long-lived session (an accepted WebSocket), which harakiri leaves alone.
 */
export interface TimedRequest {
  readonly dispatchedAtMs: number;
  readonly upgraded?: boolean;
}

/** A worker as harakiri sees it. */
export interface TimedWorker<R extends TimedRequest> {
  /** Requests on the worker now. */
  readonly active: Iterable<R>;
  /** Monotonic ms when harakiri already fired on this process (0 = never). */
  readonly harakiriAtMs: number;
}

/** A request past its deadline, and the worker running it. */
export interface Overdue<W, R> {
  readonly worker: W;
  readonly req: R;
  /** How long the request has been running, ms. */
  readonly runningMs: number;
}

/**
 * The requests that have run longer than `harakiriMs` at `nowMs`, at most one per worker (the
 * longest running: the worker is killed for it, its other requests get 502). Workers harakiri
 * already fired on are skipped.
 */
export function overdue<R extends TimedRequest, W extends TimedWorker<R>>(
  workers: Iterable<W>,
  nowMs: number,
  harakiriMs: number,
): Overdue<W, R>[] {
  const out: Overdue<W, R>[] = [];
  if (harakiriMs <= 0) return out;
  for (const worker of workers) {
    if (worker.harakiriAtMs > 0) continue;
    let worst: R | null = null;
    let worstMs = harakiriMs;
    for (const req of worker.active) {
      if (req.dispatchedAtMs <= 0 || req.upgraded) continue;
      const running = nowMs - req.dispatchedAtMs;
      if (running > worstMs) {
        worst = req;
        worstMs = running;
      }
    }
    if (worst) out.push({ worker, req: worst, runningMs: worstMs });
  }
  return out;
}

/** One step of putting a worker down: send `signal` `afterMs` after harakiri fired. */
export interface KillStep {
  readonly afterMs: number;
  readonly signal: NodeJS.Signals;
}

/** How long the worker gets to write its stack dump before the next signal, ms. */
export const STACK_DUMP_GRACE_MS = 250;

/**
 * The signals to send a worker harakiri fired on, in order:
 * with `verbose`, SIGUSR2 first (the Python worker dumps every thread's stack to the log);
 * with a graceful timeout, the graceful signal, then SIGKILL that many ms later; else SIGKILL.
 */
export function killPlan(opts: {
  readonly verbose: boolean;
  readonly gracefulTimeoutMs: number;
  readonly gracefulSignal: NodeJS.Signals;
}): KillStep[] {
  const steps: KillStep[] = [];
  let t = 0;
  if (opts.verbose) {
    steps.push({ afterMs: 0, signal: 'SIGUSR2' });
    t = STACK_DUMP_GRACE_MS;
  }
  if (opts.gracefulTimeoutMs > 0) {
    steps.push({ afterMs: t, signal: opts.gracefulSignal });
    t += opts.gracefulTimeoutMs;
  }
  steps.push({ afterMs: t, signal: 'SIGKILL' });
  return steps;
}
