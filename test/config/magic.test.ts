import assert from 'node:assert/strict';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  djb33x,
  fillFileMagic,
  hashHex,
  MagicTable,
  magicSub,
  newMagicTable,
} from '../../core/config/magic.js';
import { tempTree } from './helpers.js';

const fs = (cwd: string) => ({
  cwd,
  binary: '/usr/bin/tsgi',
  onMissing: (n: string): string => {
    throw new Error(`missing ${n}`);
  },
});

test('magicSub: %x replaced by the table, unknown letters vanish, %% and %( survive', () => {
  const t = new MagicTable();
  t.set('n', 'app');
  assert.equal(magicSub('a=%n|%z|%%n|%(x)|100%%', t).text, 'a=app||%n|%(x)|100%');
});

test('magicSub: a % at the end of a line eats the newline, at the end of the text it vanishes', () => {
  const r = magicSub('a = 1%\nb = 2\nc = %', new MagicTable());
  assert.equal(r.text, 'a = 1b = 2\nc = ');
  assert.deepEqual(r.lineStarts, [1, 3]);
});

test('djb33x / %j: uWSGI hash of the path, little-endian bytes in uppercase hex', () => {
  assert.equal(djb33x(''), 5381);
  // checked against real uWSGI 2.0.21: /tmp/p/m.ini → DE3298D8
  assert.equal(hashHex('/tmp/p/m.ini'), 'DE3298D8');
});

test('fillFileMagic: path variables of a file, section in %x, uppercase only once', () => {
  const dir = tempTree({ 'sub/dir/app.conf.ini': '' });
  const t = newMagicTable({
    cwd: dir,
    hostname: 'h',
    time: '1',
    timeMicros: '1000000',
    version: 'v',
    cpus: '2',
    uid: '0',
    user: 'root',
    gid: '0',
    group: 'root',
    binary: '/b',
  });
  assert.equal(fillFileMagic(t, 'sub/dir/app.conf.ini:sec', fs(dir), true), true);
  assert.equal(t.get('p'), join(dir, 'sub/dir/app.conf.ini'));
  assert.equal(t.get('d'), `${join(dir, 'sub/dir')}/`);
  assert.equal(t.get('s'), 'app.conf.ini');
  assert.equal(t.get('n'), 'app.conf');
  assert.equal(t.get('e'), 'ini');
  assert.equal(t.get('c'), 'dir');
  assert.equal(t.get('x'), 'sec');
  assert.equal(t.get('o'), 'sub/dir/app.conf.ini:sec');
  assert.equal(t.get('0'), dir.split('/')[1]);
  assert.match(t.get('i'), /^\d+$/);
  assert.equal(t.get('S'), 'app.conf.ini');
  assert.equal(t.get('b'), '/usr/bin/tsgi');
  assert.equal(t.get('h'), 'h');
  assert.equal(t.get('['), '\x1b');
  assert.equal(fillFileMagic(t, 'sub/dir/app.conf.ini', fs(dir), true), false);
  assert.equal(t.get('X'), 'sec');
});

test('fillFileMagic: a symlink keeps its own name (cwd + / + name), schemes only set %o', () => {
  const dir = tempTree({ 'real/a.ini': '' });
  symlinkSync('real/a.ini', join(dir, 'l.ini'));
  const t = new MagicTable();
  fillFileMagic(t, './l.ini', fs(dir), true);
  assert.equal(t.get('p'), `${dir}/./l.ini`);
  assert.equal(t.get('c'), '.');
  fillFileMagic(t, 'exec://cat x', fs(dir), true);
  assert.equal(t.get('o'), 'exec://cat x');
  assert.equal(t.get('p'), `${dir}/./l.ini`);
});

test('fillFileMagic: a missing file goes to onMissing (uWSGI exits on realpath failure)', () => {
  const dir = tempTree({});
  assert.throws(() => fillFileMagic(new MagicTable(), 'nope.ini', fs(dir), true), /missing nope.ini/);
});
