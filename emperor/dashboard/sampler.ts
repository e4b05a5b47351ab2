import type { Emperor } from '../emperor.js';
import { History, SAMPLED_METRICS, type Sample, toSample } from './history.js';

/** How long a sampling round waits for each vassal's metrics, ms. */
const SAMPLE_TIMEOUT_MS = 2000;

/**
 * Reads every running vassal's request, worker and memory metrics every `intervalMs` over its
 * channel (the same metrics `emperor-prometheus` serves) and keeps an hour of them per vassal.
 * `onRound` is called after each round, with the new samples by vassal name.
 */
export class Sampler {
  readonly histories = new Map<string, History>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly emperor: Emperor,
    private readonly intervalMs: number,
    private readonly windowMs: number,
    private readonly onRound: (fresh: ReadonlyMap<string, Sample>) => void,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
  }

  /** One sampling round (skipped while the previous one is still waiting for answers). */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const running = [...this.emperor.vassals.values()].filter((v) => v.proc && v.ready);
      const answers = await Promise.all(running.map((v) => v.metrics(SAMPLE_TIMEOUT_MS, SAMPLED_METRICS)));
      const now = Date.now();
      const fresh = new Map<string, Sample>();
      running.forEach((v, i) => {
        const m = answers[i];
        if (!m) return;
        let h = this.histories.get(v.name);
        if (!h) {
          h = new History(this.windowMs);
          this.histories.set(v.name, h);
        }
        const s = toSample(m, now, v.pid);
        // a new process starts its counters at zero: that is the baseline of its first rates
        if (h.latest()?.pid !== v.pid && v.startedAtS > 0 && v.startedAtS * 1000 < now)
          h.push({ ...s, t: v.startedAtS * 1000, count: 0, bounds: [], buckets: [], busy: 0, idle: 0 });
        h.push(s);
        fresh.set(v.name, s);
      });
      for (const name of this.histories.keys())
        if (!this.emperor.vassals.has(name)) this.histories.delete(name);
      this.onRound(fresh);
    } finally {
      this.running = false;
    }
  }
}
