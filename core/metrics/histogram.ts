import type { Registry } from 'prom-client';

/** One exported sample, in prom-client's `get()` shape (what `getMetricsAsJSON()` returns per value). */
export interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

/**
 * A Prometheus histogram whose counts live in plain arrays filled elsewhere (the request path), read
 * only on scrape. It registers in a prom-client `Registry` as a metric of type `histogram` and gives
 * the same `get()` result prom-client's Histogram gives (`_bucket` samples with `le`, `_sum`,
 * `_count`), so the text exposition and `getMetricsAsJSON()` (and the emperor's aggregation) treat it
 * like any other histogram.
 */
export class ArrayHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  /**
   * @param read returns, per label set, the non-cumulative bucket counts (one per bound, then +Inf),
   * the sum and the count
   */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
    private readonly read: () => Iterable<{
      labels: Record<string, string>;
      buckets: ArrayLike<number>;
      sum: number;
      count: number;
    }>,
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  async get(): Promise<{ name: string; help: string; type: string; values: Sample[]; aggregator: string }> {
    const values: Sample[] = [];
    for (const s of this.read()) {
      let acc = 0;
      for (let i = 0; i <= this.bounds.length; i++) {
        acc += s.buckets[i] ?? 0;
        const le = i < this.bounds.length ? this.bounds[i]! : '+Inf';
        values.push({ value: acc, labels: { le, ...s.labels }, metricName: `${this.name}_bucket` });
      }
      values.push({ value: s.sum, labels: { ...s.labels }, metricName: `${this.name}_sum` });
      values.push({ value: s.count, labels: { ...s.labels }, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  /** Counts belong to the request path; a registry reset does not clear them. */
  reset(): void {}
}
