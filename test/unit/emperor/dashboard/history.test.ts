import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  History,
  pointBetween,
  quantileBetween,
  type Sample,
  toSample,
} from '../../../../emperor/dashboard/history.js';
import type { MetricJSON } from '../../../../emperor/messages.js';

const BOUNDS = [0.005, 0.01, 0.1, 1];

/** A sample with cumulative bucket counts `cum` (per bound in BOUNDS, then +Inf). */
function sample(t: number, cum: number[], pid = 7, rss = 100): Sample {
  return {
    t,
    pid,
    count: cum[cum.length - 1]!,
    bounds: [...BOUNDS, Number.POSITIVE_INFINITY],
    buckets: cum,
    rss,
    busy: 0,
    idle: 1,
  };
}

test('toSample adds every protocol per bound and reads workers and memory', () => {
  const metrics: MetricJSON[] = [
    {
      name: 'tsgi_request_duration_seconds',
      help: '',
      type: 'histogram',
      values: [
        { metricName: 'tsgi_request_duration_seconds_bucket', labels: { le: 0.01, proto: 'http' }, value: 3 },
        {
          metricName: 'tsgi_request_duration_seconds_bucket',
          labels: { le: '+Inf', proto: 'http' },
          value: 4,
        },
        {
          metricName: 'tsgi_request_duration_seconds_bucket',
          labels: { le: 0.01, proto: 'uwsgi' },
          value: 1,
        },
        {
          metricName: 'tsgi_request_duration_seconds_bucket',
          labels: { le: '+Inf', proto: 'uwsgi' },
          value: 1,
        },
        { metricName: 'tsgi_request_duration_seconds_count', labels: { proto: 'http' }, value: 4 },
        { metricName: 'tsgi_request_duration_seconds_count', labels: { proto: 'uwsgi' }, value: 1 },
        { metricName: 'tsgi_request_duration_seconds_sum', labels: { proto: 'http' }, value: 9 },
      ],
    },
    {
      name: 'tsgi_workers',
      help: '',
      type: 'gauge',
      values: [
        { labels: { state: 'busy' }, value: 2 },
        { labels: { state: 'idle' }, value: 3 },
        { labels: { state: 'starting' }, value: 1 },
      ],
    },
    {
      name: 'tsgi_worker_rss_bytes',
      help: '',
      type: 'gauge',
      values: [{ labels: { worker: '1' }, value: 10 }],
    },
    { name: 'process_resident_memory_bytes', help: '', type: 'gauge', values: [{ labels: {}, value: 5 }] },
  ];
  const s = toSample(metrics, 1000, 42);
  assert.deepEqual(s, {
    t: 1000,
    pid: 42,
    count: 5,
    bounds: [0.01, Number.POSITIVE_INFINITY],
    buckets: [4, 5],
    rss: 15,
    busy: 2,
    idle: 3,
  });
});

test('quantileBetween interpolates inside the bucket, as histogram_quantile', () => {
  const a = sample(0, [0, 0, 0, 0, 0]);
  // 100 requests: 50 under 5 ms, 40 in 5-10 ms, 10 in 10-100 ms
  const b = sample(10_000, [50, 90, 100, 100, 100]);
  assert.equal(quantileBetween(a, b, 0.5), 0.005);
  // rank 95 is the 5th of 10 in (0.01, 0.1]
  assert.ok(Math.abs(quantileBetween(a, b, 0.95)! - (0.01 + 0.09 * 0.5)) < 1e-12);
  // in the +Inf bucket: the highest finite bound
  assert.equal(quantileBetween(a, sample(1, [0, 0, 0, 0, 10]), 0.95), 1);
  assert.equal(quantileBetween(a, a, 0.95), null, 'no request: no latency');
  assert.equal(quantileBetween(b, sample(20_000, [1, 1, 1, 1, 1]), 0.95), null, 'counters restarted');
  assert.equal(quantileBetween(a, sample(10_000, [1, 1, 1, 1, 1], 8), 0.95), null, 'another process');
  const empty: Sample = { ...a, bounds: [], buckets: [], count: 0 };
  assert.equal(quantileBetween(empty, b, 0.5), 0.005, 'no series yet counts as zeros');
});

test('pointBetween gives the rate per second and zero across a restart', () => {
  const p = pointBetween(sample(0, [0, 0, 0, 0, 0]), sample(5000, [10, 10, 10, 10, 10], 7, 300));
  assert.deepEqual(p, { t: 5000, rps: 2, p95Ms: 4.75, rss: 300 });
  assert.equal(pointBetween(sample(0, [9, 9, 9, 9, 9]), sample(5000, [1, 1, 1, 1, 1])).rps, 0);
});

test('History keeps the window, and recent() spans the last minute of one process', () => {
  const h = new History(60_000);
  for (let i = 0; i <= 30; i++) h.push(sample(i * 5000, [i, i, i, i, i * 2]));
  assert.equal(h.points().length, 12, 'samples older than the window are dropped');
  const r = h.recent(60_000);
  assert.equal(r.rps, 24 / 60, '2 requests per 5 s sample, over 60 s');
  h.push(sample(155_000, [0, 0, 0, 0, 0], 8));
  assert.deepEqual(h.recent(60_000), { rps: 0, p95Ms: null }, 'a new process starts over');
});
