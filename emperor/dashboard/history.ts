import type { MetricJSON } from '../messages.js';

/** The metric families the dashboard samples from each vassal (a `metrics-request` with `names`). */
export const SAMPLED_METRICS = [
  'tsgi_request_duration_seconds',
  'tsgi_workers',
  'tsgi_worker_rss_bytes',
  'process_resident_memory_bytes',
] as const;

/** One reading of a vassal's metrics: cumulative counters and current gauges. */
export interface Sample {
  /** When it was read, epoch ms. */
  readonly t: number;
  /** The vassal master's pid then (a new pid restarts the counters). */
  readonly pid: number;
  /** Requests completed since the vassal started (`tsgi_request_duration_seconds_count`, all protocols). */
  readonly count: number;
  /** Cumulative bucket counts, one per bound in `bounds` (seconds; the last is +Inf). */
  readonly buckets: readonly number[];
  readonly bounds: readonly number[];
  /** Master plus workers resident memory, bytes. */
  readonly rss: number;
  readonly busy: number;
  readonly idle: number;
}

/** A chart point: rates between two samples. */
export interface Point {
  /** Epoch ms of the later sample. */
  readonly t: number;
  /** Requests per second. */
  readonly rps: number;
  /** 95th percentile latency, ms (null: no request in the interval). */
  readonly p95Ms: number | null;
  /** Resident memory, bytes. */
  readonly rss: number;
}

/**
 * Turn a `metrics` answer (prom-client JSON, the families of {@link SAMPLED_METRICS}) into a sample.
 * Histogram series of every protocol are added up per bound.
 */
export function toSample(metrics: readonly MetricJSON[], t: number, pid: number): Sample {
  const byBound = new Map<number, number>();
  let count = 0;
  let rss = 0;
  let busy = 0;
  let idle = 0;
  for (const m of metrics)
    for (const v of m.values) {
      if (m.name === 'tsgi_request_duration_seconds') {
        if (v.metricName?.endsWith('_count')) count += v.value;
        else if (v.metricName?.endsWith('_bucket')) {
          const le = v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le);
          byBound.set(le, (byBound.get(le) ?? 0) + v.value);
        }
      } else if (m.name === 'tsgi_workers') {
        if (v.labels.state === 'busy') busy += v.value;
        else if (v.labels.state === 'idle') idle += v.value;
      } else if (m.name === 'tsgi_worker_rss_bytes' || m.name === 'process_resident_memory_bytes')
        rss += v.value;
    }
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  return { t, pid, count, bounds, buckets: bounds.map((b) => byBound.get(b)!), rss, busy, idle };
}

/**
 * The `q` quantile (0..1) of the requests between two samples, in seconds, interpolated linearly
 * inside the bucket as Prometheus' `histogram_quantile` does; null when no request completed in
 * between or the counters restarted (another pid, fewer requests).
 */
export function quantileBetween(a: Sample, b: Sample, q: number): number | null {
  if (a.pid !== b.pid || b.count < a.count) return null;
  // before its first request a vassal has no series yet: count that as zeros
  if (a.bounds.length > 0 && a.bounds.length !== b.bounds.length) return null;
  const delta = b.buckets.map((n, i) => n - (a.buckets[i] ?? 0));
  const total = delta[delta.length - 1] ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < delta.length; i++) {
    if (delta[i]! < rank) continue;
    const upper = b.bounds[i]!;
    const lower = i === 0 ? 0 : b.bounds[i - 1]!;
    if (upper === Number.POSITIVE_INFINITY) return lower;
    const below = i === 0 ? 0 : delta[i - 1]!;
    const inBucket = delta[i]! - below;
    return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
  }
  return null;
}

/** The chart point from sample `a` to the later sample `b` (rates 0 when the counters restarted). */
export function pointBetween(a: Sample, b: Sample): Point {
  const same = a.pid === b.pid && b.count >= a.count;
  const seconds = (b.t - a.t) / 1000;
  const p95 = quantileBetween(a, b, 0.95);
  return {
    t: b.t,
    rps: same && seconds > 0 ? (b.count - a.count) / seconds : 0,
    p95Ms: p95 === null ? null : p95 * 1000,
    rss: b.rss,
  };
}

/**
 * A vassal's samples over a bounded window (the last hour by default), oldest first, kept in the
 * emperor's memory: at most `windowMs / intervalMs + 1` samples.
 */
export class History {
  private readonly samples: Sample[] = [];

  constructor(private readonly windowMs: number) {}

  /** Add a sample and drop those older than the window. */
  push(s: Sample): void {
    this.samples.push(s);
    const oldest = s.t - this.windowMs;
    let drop = 0;
    while (drop < this.samples.length && this.samples[drop]!.t < oldest) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** The newest sample, if any. */
  latest(): Sample | undefined {
    return this.samples[this.samples.length - 1];
  }

  /** Chart points between consecutive samples, oldest first. */
  points(): Point[] {
    const out: Point[] = [];
    for (let i = 1; i < this.samples.length; i++)
      out.push(pointBetween(this.samples[i - 1]!, this.samples[i]!));
    return out;
  }

  /**
   * Requests per second and p95 latency (ms) over the last `spanMs` (a minute on the overview), from
   * the oldest sample of the same process inside that span to the newest.
   */
  recent(spanMs: number): { rps: number; p95Ms: number | null } {
    const last = this.latest();
    if (!last) return { rps: 0, p95Ms: null };
    let first = last;
    for (let i = this.samples.length - 2; i >= 0; i--) {
      const s = this.samples[i]!;
      if (s.t < last.t - spanMs || s.pid !== last.pid || s.count > last.count) break;
      first = s;
    }
    if (first === last) return { rps: 0, p95Ms: null };
    const p = pointBetween(first, last);
    return { rps: p.rps, p95Ms: p.p95Ms };
  }
}
