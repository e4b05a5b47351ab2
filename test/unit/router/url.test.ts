import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uwsgiUrlDecode } from '../../../router/rules/url.js';

test('uWSGI path decoding: escapes, dot segments, fragments; // kept', () => {
  const cases: Array<[string, string]> = [
    ['/a%20b/c%2Fd', '/a b/c/d'],
    ['/x//y/./z/../w', '/x//y/w'],
    ['/frag#ment', '/frag'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
    ['/..', ''],
    ['/a/%2e%2e/b', '/a/../b'],
    ['/100%%', '/100%'],
    ['/bad%zz', '/bad\0'],
    ['rel/path', 'rel/path'],
    ['/', '/'],
    ['/.hidden', '/.hidden'],
    ['/..x', '/..x'],
  ];
  for (const [input, want] of cases) assert.equal(uwsgiUrlDecode(input), want, input);
});
