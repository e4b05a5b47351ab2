import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { expandGlob, hasMagic, segmentRegExp } from '../../../emperor/glob.js';

test('segments follow fnmatch: * ? [..] [!..], literal dots', () => {
  assert.ok(segmentRegExp('*.ini').test('app.ini'));
  assert.ok(!segmentRegExp('*.ini').test('app.ini~'));
  assert.ok(!segmentRegExp('*.ini').test('appXini'));
  assert.ok(segmentRegExp('app?.ini').test('app1.ini'));
  assert.ok(segmentRegExp('[ab]*.ini').test('b.ini'));
  assert.ok(!segmentRegExp('[!ab]*.ini').test('a.ini'));
  assert.ok(segmentRegExp('[!ab]*.ini').test('c.ini'));
  assert.ok(segmentRegExp('a+b(1).ini').test('a+b(1).ini'));
  assert.equal(hasMagic('/etc/vassals'), false);
  assert.equal(hasMagic('/etc/*/x.ini'), true);
});

test('expandGlob walks directories, keeps the pattern form and skips dotfiles', () => {
  const root = mkdtempSync(join(tmpdir(), 'tsgi-glob-'));
  try {
    for (const d of ['app1', 'app2', 'other']) mkdirSync(join(root, d));
    writeFileSync(join(root, 'app1', 'app1.ini'), '');
    writeFileSync(join(root, 'app2', 'app2.ini'), '');
    writeFileSync(join(root, 'app2', '.hidden.ini'), '');
    writeFileSync(join(root, 'other', 'app3.ini'), '');
    const rel = expandGlob('app*/*.ini', root);
    assert.deepEqual(rel.paths, ['app1/app1.ini', 'app2/app2.ini']);
    assert.deepEqual(rel.dirs.sort(), [root, join(root, 'app1'), join(root, 'app2')].sort());
    assert.deepEqual(expandGlob(`${root}/*/app3.ini`, '/').paths, [join(root, 'other', 'app3.ini')]);
    assert.deepEqual(expandGlob('missing/*.ini', root).paths, []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
