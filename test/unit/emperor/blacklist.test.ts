import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Blacklist } from '../../../emperor/blacklist.js';

test('each failure in a row adds the throttle step, up to the cap', () => {
  const b = new Blacklist(1000, 2500);
  assert.equal(b.add('a', 0).delayMs, 1000);
  assert.equal(b.add('a', 10).delayMs, 2000);
  assert.equal(b.add('a', 20).delayMs, 2500);
  assert.equal(b.add('a', 30).delayMs, 2500);
  assert.equal(b.get('a')!.attempt, 4);
  assert.equal(b.get('a')!.firstAttemptAtMs, 0);
});

test('waitMs counts from the latest failure; other vassals are not delayed', () => {
  const b = new Blacklist(1000, 10_000);
  b.add('a', 5000);
  assert.equal(b.waitMs('a', 5000), 1000);
  assert.equal(b.waitMs('a', 5600), 400);
  assert.equal(b.waitMs('a', 7000), 0);
  assert.equal(b.waitMs('b', 5000), 0);
});

test('remove and clear forget vassals (loyalty, SIGURG)', () => {
  const b = new Blacklist(100, 1000);
  b.add('a', 0);
  b.add('b', 0);
  assert.equal(b.remove('a'), true);
  assert.equal(b.remove('a'), false);
  assert.equal(b.add('a', 0).attempt, 1, 'a fresh start after loyalty');
  b.clear();
  assert.deepEqual(b.all(), []);
});
