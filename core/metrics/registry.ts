import client from 'prom-client';

/**
 * The instance's Prometheus registry (prom-client). Every tsgi metric of this process is registered
 * here; the `prometheus` listener serves it, and the emperor gathers it from each vassal with
 * `getMetricsAsJSON()` over the emperor ↔ vassal channel. Metric names use Prometheus base units
 * (`_seconds`, `_bytes`, `_total`); labels stay bounded (no paths, no client addresses).
 */
export const registry = new client.Registry();

let defaultsStarted = false;

/** Register Node's default process metrics (CPU, memory, event loop lag) once. */
export function collectProcessMetrics(): void {
  if (defaultsStarted) return;
  defaultsStarted = true;
  client.collectDefaultMetrics({ register: registry });
}
