import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killPlan, overdue, STACK_DUMP_GRACE_MS } from '../../../core/master/harakiri.js';

const req = (dispatchedAtMs: number) => ({ dispatchedAtMs });

test('overdue: requests running longer than harakiri, the longest per worker', () => {
  const a = { name: 'a', active: [req(1000), req(500), req(9000)], harakiriAtMs: 0 };
  const b = { name: 'b', active: [req(9500)], harakiriAtMs: 0 };
  const hits = overdue([a, b], 10_000, 5000);
  assert.equal(hits.length, 1);
  assert.equal(hits[0]!.worker, a);
  assert.equal(hits[0]!.req, a.active[1]);
  assert.equal(hits[0]!.runningMs, 9500);
});

test('overdue: exactly at the deadline is not overdue; harakiri off; already fired; not dispatched', () => {
  const w = { active: [req(5000)], harakiriAtMs: 0 };
  assert.deepEqual(overdue([w], 10_000, 5000), []);
  assert.equal(overdue([w], 10_001, 5000).length, 1);
  assert.deepEqual(overdue([w], 1e9, 0), [], 'harakiri = 0 is off');
  assert.deepEqual(overdue([{ ...w, harakiriAtMs: 1 }], 1e9, 5000), [], 'fired once per process');
  assert.deepEqual(overdue([{ active: [req(0)], harakiriAtMs: 0 }], 1e9, 5000), [], 'still queued');
});

test('killPlan: SIGKILL at once by default', () => {
  assert.deepEqual(killPlan({ verbose: false, gracefulTimeoutMs: 0, gracefulSignal: 'SIGTERM' }), [
    { afterMs: 0, signal: 'SIGKILL' },
  ]);
});

test('killPlan: the stack dump first with verbose, the graceful signal then SIGKILL after the timeout', () => {
  assert.deepEqual(killPlan({ verbose: true, gracefulTimeoutMs: 3000, gracefulSignal: 'SIGUSR1' }), [
    { afterMs: 0, signal: 'SIGUSR2' },
    { afterMs: STACK_DUMP_GRACE_MS, signal: 'SIGUSR1' },
    { afterMs: STACK_DUMP_GRACE_MS + 3000, signal: 'SIGKILL' },
  ]);
  assert.deepEqual(killPlan({ verbose: false, gracefulTimeoutMs: 2000, gracefulSignal: 'SIGTERM' }), [
    { afterMs: 0, signal: 'SIGTERM' },
    { afterMs: 2000, signal: 'SIGKILL' },
  ]);
});
