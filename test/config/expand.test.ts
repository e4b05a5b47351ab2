import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExpansionRunaway, expandValue, managePlaceholder, strtoll } from '../../core/config/expand.js';

const vars: Record<string, string> = { a: '1', b: '2', base: '/srv', ten: '10', neg: '-4', w: 'abc' };
const look = (k: string): string | null => vars[k] ?? null;
const ph = (v: string) => expandValue(v, '%', (k) => managePlaceholder(k, look));

test('$( ) / %( ) lookups: known replaced, unknown literal, empty key literal', () => {
  assert.equal(expandValue('$(a)/$(zz)/$()', '$', look), '1/$(zz)/$()');
  assert.equal(ph('%(base)/app'), '/srv/app');
});

test('nested parentheses are part of the key; a second symbol restarts the match', () => {
  assert.equal(
    expandValue('%(a (b))', '%', (k) => (k === 'a (b)' ? 'X' : null)),
    'X',
  );
  assert.equal(
    expandValue('$(A$(B))', '$', (k) => (k === 'B' ? 'b' : null)),
    '$(Ab)',
  );
});

test('after a substitution scanning restarts at offset 1 (uWSGI j = 0; j++)', () => {
  const hook = (k: string) => ({ p: '%(q)', q: 'Q', r: 'x' })[k] ?? null;
  assert.equal(expandValue('%(p)', '%', hook), '%(q)');
  assert.equal(expandValue('-%(p)', '%', hook), '-Q');
  assert.equal(expandValue('%(p)|%(r)', '%', hook), '%(q)|x');
});

test('a self-feeding value is an ExpansionRunaway instead of an endless loop', () => {
  assert.throws(() => expandValue('x%(s)', '%', () => 'x%(s)'), ExpansionRunaway);
});

test('placeholder math: left-to-right pipeline in int64', () => {
  assert.equal(ph('%(ten + a)'), '11');
  assert.equal(ph('%(ten - 12)'), '-2');
  assert.equal(ph('%(ten * neg)'), '-40');
  assert.equal(ph('%(ten / 3)'), '3');
  assert.equal(ph('%(neg / 3)'), '-1');
  assert.equal(ph('%(ten / 0)'), '0');
  assert.equal(ph('%(ten ++)'), '11');
  assert.equal(ph('%(a --)'), '0');
  assert.equal(ph('%(a b)'), '12');
  assert.equal(ph('%(a b + 3)'), '15');
  assert.equal(ph('%(w + 1)'), '1');
  assert.equal(ph('%(zz + 1)'), '1');
  assert.equal(ph('%(zz yy)'), '');
  assert.equal(ph('%(+ +)'), '%(+ +)');
  assert.equal(ph('%(9223372036854775807 + 1)'), '-9223372036854775808');
});

test('strtoll as C: white space, sign, digits, saturation', () => {
  assert.equal(strtoll('  -12abc'), -12n);
  assert.equal(strtoll('x'), 0n);
  assert.equal(strtoll('99999999999999999999'), 9223372036854775807n);
});
