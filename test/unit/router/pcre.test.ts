import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePcre, groupCount, PcreSyntaxError } from '../../../router/rules/pcre.js';

test('PCRE patterns: common syntax as is, leading flags, anchors', () => {
  assert.ok(compilePcre('^/static/(.*)$').test('/static/x'));
  assert.ok(compilePcre('(?i)^/ADMIN').test('/admin/x'));
  assert.ok(compilePcre('\\A/x\\z').test('/x'));
  assert.ok(compilePcre('[]a]').test(']'));
  assert.ok(compilePcre('a\\x41').test('aA'));
  assert.equal(groupCount(compilePcre('^/(a)(?:b)(c)?$')), 2);
  assert.equal(groupCount(compilePcre('(?<name>x)')), 1);
});

test('PCRE-only constructs are refused with a reason', () => {
  for (const p of ['a++', '(?>a)', '\\Qa\\E', '(?#c)x', 'a(?i)b', '(?x)a', '\\h', '(?P<n>x)', '(unclosed'])
    assert.throws(() => compilePcre(p), PcreSyntaxError, p);
  assert.doesNotThrow(() => compilePcre('\\++'));
  assert.doesNotThrow(() => compilePcre('a+?'));
});
