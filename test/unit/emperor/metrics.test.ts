import assert from 'node:assert/strict';
import { test } from 'node:test';
import client from 'prom-client';
import type { MetricJSON } from '../../../emperor/messages.js';
import { hostRegistry, labelVassal } from '../../../emperor/metrics.js';

async function vassalMetrics(requests: number): Promise<MetricJSON[]> {
  const r = new client.Registry();
  const c = new client.Counter({
    name: 'tsgi_requests_total',
    help: 'requests',
    labelNames: ['status'],
    registers: [r],
  });
  c.inc({ status: '200' }, requests);
  const h = new client.Histogram({
    name: 'tsgi_request_seconds',
    help: 'latency',
    buckets: [0.1, 1],
    registers: [r],
  });
  h.observe(0.05);
  new client.Gauge({
    name: 'process_start_time_seconds',
    help: 'start',
    aggregator: 'omit',
    registers: [r],
  }).set(5);
  return JSON.parse(JSON.stringify(await r.getMetricsAsJSON()));
}

test('every vassal series gets a vassal label; the emperor’s own metrics sit beside them', async () => {
  const own = new client.Registry();
  new client.Counter({ name: 'tsgi_emperor_spawns_total', help: 'spawns', registers: [own] }).inc(2);
  const text = await hostRegistry(own, [
    ['a.ini', await vassalMetrics(3)],
    ['b.ini', await vassalMetrics(4)],
  ]).metrics();
  assert.match(text, /^tsgi_requests_total\{status="200",vassal="a\.ini"\} 3$/m);
  assert.match(text, /^tsgi_requests_total\{status="200",vassal="b\.ini"\} 4$/m);
  assert.match(text, /^tsgi_request_seconds_bucket\{le="0\.1",vassal="b\.ini"\} 1$/m);
  assert.match(text, /^tsgi_request_seconds_count\{vassal="a\.ini"\} 1$/m);
  assert.match(text, /^process_start_time_seconds\{vassal="a\.ini"\} 5$/m, 'nothing is omitted');
  assert.match(text, /^tsgi_emperor_spawns_total 2$/m);
  assert.equal((text.match(/^# TYPE tsgi_requests_total counter$/gm) ?? []).length, 1, 'one family per name');
});

test('labelVassal keeps the original labels and values', () => {
  const [m] = labelVassal('x', [
    { name: 'n', help: 'h', type: 'gauge', values: [{ value: 1, labels: { a: 'b' } }] },
  ]);
  assert.deepEqual(m!.values[0], { value: 1, labels: { a: 'b', vassal: 'x' } });
});
