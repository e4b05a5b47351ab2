import client from 'prom-client';
import type { Emperor } from './emperor.js';
import type { MetricJSON } from './messages.js';
import { VASSAL_STATES } from './vassal.js';

/** How long a scrape waits for each vassal's metrics, ms (a vassal that misses it is left out). */
export const VASSAL_METRICS_TIMEOUT_MS = 2000;

/**
 * The emperor's own metrics: vassals per state, spawns, respawns, reloads and blacklistings, read
 * from the emperor at scrape time.
 */
export function emperorRegistry(emperor: Emperor): client.Registry {
  const registry = new client.Registry();
  new client.Gauge({
    name: 'tsgi_emperor_vassals',
    help: 'Vassals known to the emperor, by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts = emperor.countByState();
      for (const s of VASSAL_STATES) this.set({ state: s }, counts.get(s) ?? 0);
    },
  });
  const counter = (name: string, help: string, read: () => number) =>
    new client.Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  counter('tsgi_emperor_spawns_total', 'Vassal processes started', () => emperor.counters.spawns);
  counter(
    'tsgi_emperor_respawns_total',
    'Vassal processes started again after exiting on their own',
    () => emperor.counters.respawns,
  );
  counter('tsgi_emperor_reloads_total', 'Graceful reloads asked of vassals', () => emperor.counters.reloads);
  counter(
    'tsgi_emperor_blacklistings_total',
    'Times a vassal was blacklisted for failing before it became loyal',
    () => emperor.counters.blacklistings,
  );
  return registry;
}

/**
 * Add a `vassal` label to every series of one vassal's metrics (prom-client JSON). Every family gets
 * the `sum` aggregator: series of different vassals never share labels, so aggregation only puts
 * them side by side (and keeps those prom-client would omit, such as process start times).
 */
export function labelVassal(vassal: string, metrics: readonly MetricJSON[]): MetricJSON[] {
  return metrics.map((m) => ({
    ...m,
    aggregator: 'sum',
    values: m.values.map((v) => ({ ...v, labels: { ...v.labels, vassal } })),
  }));
}

/**
 * One registry for the whole host: every vassal's metrics with a `vassal` label (prom-client's
 * `AggregatorRegistry.aggregate`) beside the emperor's own.
 */
export function hostRegistry(
  own: client.Registry,
  perVassal: ReadonlyArray<readonly [string, readonly MetricJSON[]]>,
): client.Registry {
  const labelled = perVassal.map(([name, m]) => labelVassal(name, m));
  const aggregated = client.AggregatorRegistry.aggregate<client.PrometheusContentType>(labelled);
  return client.Registry.merge([aggregated, own as client.Registry<client.PrometheusContentType>]);
}

/** Gather every running vassal's metrics over its channel and render the host's exposition text. */
export async function scrape(emperor: Emperor, own: client.Registry): Promise<string> {
  const running = [...emperor.vassals.values()].filter((v) => v.proc);
  const answers = await Promise.all(running.map((v) => v.metrics(VASSAL_METRICS_TIMEOUT_MS)));
  const perVassal: Array<readonly [string, readonly MetricJSON[]]> = [];
  running.forEach((v, i) => {
    const m = answers[i];
    if (m) perVassal.push([v.name, m]);
  });
  return hostRegistry(own, perVassal).metrics();
}
