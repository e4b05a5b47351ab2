import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LogTails } from '../../../../emperor/dashboard/log-tail.js';

test('LogTails splits chunks into lines, keeps the last ones and numbers them', () => {
  const t = new LogTails(3);
  const seen: string[] = [];
  t.subscribe((v, l) => seen.push(`${v}:${l.n}:${l.text}`));
  t.push('a', 'one\ntw');
  assert.deepEqual(t.lines('a'), [{ n: 1, text: 'one' }], 'a partial line waits');
  t.push('a', 'o\r\nthree\nfour\n');
  assert.deepEqual(
    t.lines('a').map((l) => l.text),
    ['two', 'three', 'four'],
  );
  assert.deepEqual(
    t.lines('a', 3).map((l) => l.n),
    [4],
  );
  assert.deepEqual(seen, ['a:1:one', 'a:2:two', 'a:3:three', 'a:4:four']);
  t.push('b', `${'x'.repeat(5000)}\n`);
  assert.ok(t.lines('b')[0]!.text.length <= 2001);
  t.retain(new Set(['b']));
  assert.deepEqual(t.lines('a'), []);
});
