import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRange } from '../../../router/static/files.js';

test('single byte ranges (RFC 9110 §14.1.2); several ranges or the whole file are ignored', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { from: 0, to: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { from: 90, to: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { from: 90, to: 99 });
  assert.deepEqual(parseRange('bytes=95-200', 100), { from: 95, to: 99 });
  assert.equal(parseRange('bytes=0-99', 100), null);
  assert.equal(parseRange('bytes=0-1,5-6', 100), null);
  assert.equal(parseRange('items=0-1', 100), null);
  assert.equal(parseRange(undefined, 100), null);
  assert.equal(parseRange('bytes=100-', 100), 'invalid');
  assert.equal(parseRange('bytes=5-2', 100), 'invalid');
});
