import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import client from 'prom-client';
import { ArrayHistogram } from '../../../core/metrics/histogram.js';
import { DURATION_BUCKETS, ProtoTally, statusClass } from '../../../core/metrics/tally.js';
import { parsePrometheusText, sampleValue } from '../../helpers/prometheus.js';

describe('request tallies and the array-backed histogram', () => {
  test('status classes', () => {
    assert.deepEqual([101, 200, 302, 404, 503, 0, 600].map(statusClass), [0, 1, 2, 3, 4, 5, 5]);
  });

  test('exposition is valid Prometheus text, cumulative, and prom-client can aggregate it (the emperor does)', async () => {
    const t = new ProtoTally();
    for (const s of [0.0001, 0.003, 0.003, 0.2, 7, 100]) t.add(200, s, 10, 20);
    const reg = new client.Registry();
    new ArrayHistogram(
      'x_seconds',
      'help',
      DURATION_BUCKETS,
      () => [{ labels: { proto: 'http' }, buckets: t.buckets, sum: t.durationSum, count: t.durationCount }],
      reg,
    );
    const fam = parsePrometheusText(await reg.metrics());
    assert.equal(fam.get('x_seconds')?.type, 'histogram');
    assert.equal(sampleValue(fam, 'x_seconds_bucket', { le: '0.0005', proto: 'http' }), 1);
    assert.equal(sampleValue(fam, 'x_seconds_bucket', { le: '0.005', proto: 'http' }), 3);
    assert.equal(sampleValue(fam, 'x_seconds_bucket', { le: '10', proto: 'http' }), 5);
    assert.equal(sampleValue(fam, 'x_seconds_bucket', { le: '+Inf', proto: 'http' }), 6);
    assert.equal(sampleValue(fam, 'x_seconds_count', { proto: 'http' }), 6);
    assert.equal(t.bytesIn, 60);
    // Two vassals' JSON, as the emperor gathers them, summed by prom-client's aggregator.
    const json = await reg.getMetricsAsJSON();
    const agg = client.AggregatorRegistry.aggregate([json, json] as Parameters<
      typeof client.AggregatorRegistry.aggregate
    >[0]);
    const fam2 = parsePrometheusText(await agg.metrics());
    assert.equal(sampleValue(fam2, 'x_seconds_bucket', { le: '+Inf', proto: 'http' }), 12);
  });
});

describe('the strict exposition parser used by the tests', () => {
  const bad: Array<[string, RegExp]> = [
    ['# TYPE a counter\na{x="1"} 1\na{x="1"} 2\n', /duplicate series/],
    ['a 1\n', /before any TYPE/],
    ['# TYPE a counter\na{x="\\q"} 1\n', /bad escape/],
    ['# TYPE a counter\na -1\n', /negative counter/],
    ['# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n', /not cumulative/],
    ['# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\nh_sum 1\n', /differs from _count/],
    ['# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n', /outside its family/],
    ['# TYPE a gauge\na one\n', /bad value/],
    ['# TYPE a gauge\na 1', /newline/],
  ];
  for (const [text, re] of bad)
    test(`rejects ${re}`, () => assert.throws(() => parsePrometheusText(text), re));
  test('accepts NaN and +Inf as Prometheus does', () => {
    const f = parsePrometheusText('# TYPE a gauge\na{k="v"} Nan\n# TYPE b gauge\nb +Inf\n');
    assert.ok(Number.isNaN(sampleValue(f, 'a', { k: 'v' })));
  });
});
