import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  afterRequest,
  evil,
  needsEvilCheck,
  needsMemory,
  periodic,
  type RecycleLimits,
  recycleLimits,
  requestLimit,
} from '../../../core/master/recycle.js';

const MB = 1024 * 1024;
const none: RecycleLimits = recycleLimits({
  'min-worker-lifetime': 0,
  'max-worker-lifetime': 0,
  'max-worker-lifetime-delta': 0,
  'reload-on-rss': 0,
  'reload-on-as': 0,
  'evil-reload-on-rss': 0,
  'evil-reload-on-as': 0,
});

test('requestLimit: max + (id - 1) × delta, plus jitter in 0..N', () => {
  assert.equal(requestLimit(1, 0, 5, 5), 0, 'no max-requests, no limit');
  assert.equal(requestLimit(1, 100, 10, 0), 100);
  assert.equal(requestLimit(4, 100, 10, 0), 130);
  assert.equal(
    requestLimit(2, 100, 0, 7, () => 0),
    100,
  );
  assert.equal(
    requestLimit(2, 100, 0, 7, () => 0.9999),
    107,
  );
  const seen = new Set<number>();
  for (let i = 0; i < 500; i++) seen.add(requestLimit(1, 10, 0, 3));
  assert.deepEqual([...seen].sort(), [10, 11, 12, 13]);
});

test('recycleLimits converts seconds and MB to ms and bytes', () => {
  const l = recycleLimits({
    'min-worker-lifetime': 10,
    'max-worker-lifetime': 3600,
    'max-worker-lifetime-delta': 30,
    'reload-on-rss': 512,
    'reload-on-as': 0,
    'evil-reload-on-rss': 1024,
    'evil-reload-on-as': 0,
  });
  assert.deepEqual(l, {
    minLifetimeMs: 10_000,
    maxLifetimeMs: 3_600_000,
    lifetimeDeltaMs: 30_000,
    reloadOnRssBytes: 512 * MB,
    reloadOnAsBytes: 0,
    evilRssBytes: 1024 * MB,
    evilAsBytes: 0,
  });
  assert.equal(needsMemory(l), true);
  assert.equal(needsEvilCheck(l), true);
  assert.equal(needsMemory(none), false);
  assert.equal(needsEvilCheck(none), false);
});

test('afterRequest: max-requests at the limit, not before; held back by min-worker-lifetime', () => {
  const w = { id: 1, requests: 2, requestLimit: 3, livedMs: 60_000 };
  assert.equal(afterRequest(w, null, none), null);
  assert.deepEqual(afterRequest({ ...w, requests: 3 }, null, none), {
    reason: 'max-requests',
    detail: 'max-requests reached (3 >= 3)',
  });
  const min = { ...none, minLifetimeMs: 10_000 };
  assert.equal(afterRequest({ ...w, requests: 3, livedMs: 9_999 }, null, min), null);
  assert.equal(afterRequest({ ...w, requests: 3, livedMs: 10_000 }, null, min)?.reason, 'max-requests');
  assert.equal(afterRequest({ ...w, requestLimit: 0, requests: 1e6 }, null, none), null, 'no limit');
});

test('afterRequest: reload-on-rss and reload-on-as compare the memory after the request', () => {
  const w = { id: 1, requests: 1, requestLimit: 0, livedMs: 60_000 };
  const limits = { ...none, reloadOnRssBytes: 100 * MB, reloadOnAsBytes: 1000 * MB };
  assert.equal(afterRequest(w, { rssBytes: 99 * MB, vszBytes: 999 * MB }, limits), null);
  assert.equal(afterRequest(w, { rssBytes: 100 * MB, vszBytes: 0 }, limits)?.reason, 'rss');
  assert.match(afterRequest(w, { rssBytes: 0, vszBytes: 1000 * MB }, limits)!.detail, /reload-on-as/);
});

test('periodic: max-worker-lifetime plus (id - 1) × delta', () => {
  const limits = { ...none, maxLifetimeMs: 60_000, lifetimeDeltaMs: 10_000 };
  assert.equal(periodic({ id: 1, requests: 0, requestLimit: 0, livedMs: 60_000 }, limits), null);
  assert.equal(
    periodic({ id: 1, requests: 0, requestLimit: 0, livedMs: 60_001 }, limits)?.reason,
    'lifetime',
  );
  assert.equal(periodic({ id: 3, requests: 0, requestLimit: 0, livedMs: 80_000 }, limits), null);
  assert.equal(
    periodic({ id: 3, requests: 0, requestLimit: 0, livedMs: 80_001 }, limits)?.reason,
    'lifetime',
  );
  assert.equal(
    periodic({ id: 1, requests: 5, requestLimit: 5, livedMs: 1000 }, none)?.reason,
    'max-requests',
    'a limit reached while min-worker-lifetime held it back is picked up by the master cycle',
  );
});

test('evil: RSS or address space above the limit', () => {
  const limits = { ...none, evilRssBytes: 200 * MB };
  assert.equal(evil({ rssBytes: 199 * MB, vszBytes: 1e12 }, limits), null);
  assert.deepEqual(evil({ rssBytes: 200 * MB, vszBytes: 0 }, limits), {
    reason: 'rss',
    detail: `RSS: ${200 * MB}`,
  });
  assert.equal(evil({ rssBytes: 1e12, vszBytes: 1e12 }, none), null);
});
