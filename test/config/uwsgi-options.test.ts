import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  editDistance,
  isUwsgiOption,
  suggestOption,
  uwsgiOption,
  uwsgiOptionNames,
  uwsgiShortOption,
} from '../../core/config/uwsgi-options.js';

test('the table has every uWSGI 2.0.21 option of core and Debian plugins, deduplicated', () => {
  const names = uwsgiOptionNames();
  assert.ok(names.length > 1000, `${names.length}`);
  assert.equal(new Set(names).size, names.length);
  for (const n of [
    'socket',
    'master',
    'processes',
    'module',
    'http',
    'cache2',
    'route',
    'for-glob',
    'if-hostname-match',
    'pty-socket',
  ]) {
    assert.ok(isUwsgiOption(n), n);
  }
  assert.ok(!isUwsgiOption('vaccum'));
});

test('arity, short flags, immediate flag and help come from uWSGI', () => {
  assert.deepEqual(
    { ...uwsgiOption('master') },
    {
      name: 'master',
      arity: 'none',
      short: 'M',
      immediate: false,
      plugin: 'core',
      help: 'enable master process',
    },
  );
  assert.equal(uwsgiOption('socket')?.arity, 'required');
  assert.equal(uwsgiOption('chmod-socket')?.arity, 'optional');
  assert.equal(uwsgiOption('ini')?.immediate, true);
  assert.equal(uwsgiOption('module')?.plugin, 'python');
  assert.equal(uwsgiShortOption('s')?.name, 'socket');
  assert.equal(uwsgiShortOption('p')?.name, 'processes');
  assert.equal(uwsgiShortOption('w')?.name, 'module');
  assert.equal(uwsgiShortOption('?'), undefined);
});

test('suggestOption: typos, plurals, underscores; nothing for exact names or far words', () => {
  const known = uwsgiOptionNames();
  assert.equal(suggestOption('vaccum', known), 'vacuum');
  assert.equal(suggestOption('process', known), 'processes');
  assert.equal(suggestOption('thread', known), 'threads');
  assert.equal(suggestOption('harakri', known), 'harakiri');
  assert.equal(suggestOption('wsgi_file', known), 'wsgi-file');
  assert.equal(suggestOption('Master', known), 'master');
  assert.equal(suggestOption('master', known), null);
  assert.equal(suggestOption('base', ['socket', 'master']), null);
  assert.equal(suggestOption('app', known), null);
  assert.equal(suggestOption('my_project_dir', known), null);
});

test('editDistance counts transpositions as one edit and respects the cap', () => {
  assert.equal(editDistance('ab', 'ba'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(editDistance('abc', 'xyz', 1), 2);
});
