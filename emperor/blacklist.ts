/** One blacklisted vassal: how often it failed before becoming loyal, and how long it waits now. */
export interface BlacklistEntry {
  readonly name: string;
  /** Failures in a row without becoming loyal. */
  attempt: number;
  /** Current delay before the next start, ms. */
  delayMs: number;
  /** Epoch ms of the first and the latest failure. */
  firstAttemptAtMs: number;
  lastAttemptAtMs: number;
}

/**
 * The blacklist of unloyal vassals (uWSGI's `uwsgi_emperor_blacklist_*`): a vassal that exits before
 * it ever became loyal waits `stepMs` before its next start, and each further failure in a row adds
 * `stepMs`, up to `maxMs`. Becoming loyal removes it. Pure bookkeeping over epoch milliseconds; the
 * emperor schedules the starts.
 */
export class Blacklist {
  private readonly entries = new Map<string, BlacklistEntry>();

  /**
   * @param stepMs delay added per failure (`emperor-throttle`, ms)
   * @param maxMs cap of the delay (`emperor-max-throttle`, ms)
   */
  constructor(
    private readonly stepMs: number,
    private readonly maxMs: number,
  ) {}

  /** Record a failure of `name` at `nowMs`; returns its entry with the new delay. */
  add(name: string, nowMs: number): BlacklistEntry {
    let e = this.entries.get(name);
    if (!e) {
      e = { name, attempt: 0, delayMs: 0, firstAttemptAtMs: nowMs, lastAttemptAtMs: nowMs };
      this.entries.set(name, e);
    }
    e.attempt++;
    e.lastAttemptAtMs = nowMs;
    e.delayMs = Math.min(this.stepMs * e.attempt, this.maxMs);
    return e;
  }

  /** Milliseconds until `name` may start again (0 when it may start now or is not blacklisted). */
  waitMs(name: string, nowMs: number): number {
    const e = this.entries.get(name);
    return e ? Math.max(0, e.lastAttemptAtMs + e.delayMs - nowMs) : 0;
  }

  get(name: string): BlacklistEntry | undefined {
    return this.entries.get(name);
  }

  /** Forget `name` (it became loyal, or it was removed). Returns whether it was blacklisted. */
  remove(name: string): boolean {
    return this.entries.delete(name);
  }

  /** Empty the blacklist (SIGURG). */
  clear(): void {
    this.entries.clear();
  }

  all(): BlacklistEntry[] {
    return [...this.entries.values()];
  }
}
