import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UpstreamNode, UpstreamPool } from '../../../router/upstream/pool.js';
import { Upstreams } from '../../../router/upstream/upstreams.js';

function pool(weights: number[], balancing: 'wrr' | 'lrc' | 'wlrc' = 'wrr'): UpstreamPool {
  const p = new UpstreamPool('p', { balancing, gracetimeMs: 1000, retries: 3 });
  for (const [i, w] of weights.entries()) p.add(new UpstreamNode(`n${i}`, 'http', w));
  return p;
}

const picks = (p: UpstreamPool, n: number, now = 0) =>
  Array.from({ length: n }, () => p.pick(new Set(), now)!.address).join(' ');

test('weighted round robin follows uWSGI: equal weights alternate, 1:3 gives 1 in 4', () => {
  assert.equal(picks(pool([1, 1]), 4), 'n1 n0 n1 n0');
  const seq = picks(pool([1, 3]), 8).split(' ');
  assert.equal(seq.filter((a) => a === 'n0').length, 2);
  assert.equal(seq.filter((a) => a === 'n1').length, 6);
});

test('least requests picks the node with fewest in flight (per weight for wlrc)', () => {
  const p = pool([1, 1, 1], 'lrc');
  p.acquire(p.nodes[0]!);
  p.acquire(p.nodes[2]!);
  assert.equal(p.pick(new Set())!.address, 'n1');
  const w = pool([1, 4], 'wlrc');
  w.acquire(w.nodes[1]!);
  w.acquire(w.nodes[1]!);
  assert.equal(w.pick(new Set())!.address, 'n0', '0 in flight beats 2 of weight 4');
  w.acquire(w.nodes[0]!);
  assert.equal(w.pick(new Set())!.address, 'n1', '2/4 in flight beats 1/1');
});

test('a failed node is skipped for the gracetime, then tried again; tried nodes are not reused', () => {
  const p = pool([1, 1]);
  p.markFailed(p.nodes[1]!, 0);
  assert.equal(picks(p, 3, 10), 'n0 n0 n0');
  assert.equal(p.pick(new Set(), 2000)!.address, 'n1');
  assert.equal(p.pick(new Set([p.nodes[0]!, p.nodes[1]!]), 0), null);
  p.markFailed(p.nodes[0]!, 5);
  assert.equal(p.pick(new Set(), 10)!.address, 'n1', 'all failed: the one failed longest ago');
  p.markOk(p.nodes[0]!);
  assert.equal(p.nodes[0]!.failedAtMs, Number.NEGATIVE_INFINITY);
});

test('upstream declarations: nodes, weights, protocols, settings, errors', () => {
  const u = new Upstreams();
  const p = u.declare('backend 127.0.0.1:8001 uwsgi://127.0.0.1:3031*3 algo=lrc gracetime=5 retries=1', null);
  assert.deepEqual(
    p.nodes.map((n) => [n.address, n.protocol, n.weight]),
    [
      ['127.0.0.1:8001', 'http', 1],
      ['127.0.0.1:3031', 'uwsgi', 3],
    ],
  );
  assert.deepEqual(p.settings, { balancing: 'lrc', gracetimeMs: 5000, retries: 1 });
  assert.equal(u.resolve('backend', 'http'), p);
  const implicit = u.resolve('127.0.0.1:9', 'uwsgi');
  assert.equal(implicit.nodes[0]!.protocol, 'uwsgi');
  assert.equal(u.resolve('127.0.0.1:9', 'uwsgi'), implicit, 'implicit pools are kept');
  for (const bad of [
    '',
    'x',
    'backend 1.2.3.4:1',
    'y 1.2.3.4:1*0',
    'z 1.2.3.4:1 algo=best',
    'w ftp://x:1',
    'v a:1 foo=1',
  ])
    assert.throws(() => u.declare(bad, null), { code: 'TSGI_ERR_CONFIG_VALUE' }, bad);
});
