import assert from 'node:assert/strict';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseFifo } from '../../../core/master/fifo.js';
import { TouchWatch, touched } from '../../../core/master/touch.js';
import { tempDir } from '../../helpers/tsgi.js';

test("parseFifo: uWSGI's letters, several per write, slots, unsupported and unknown ones", () => {
  assert.deepEqual(parseFifo('++s\n'), [
    { kind: 'command', command: 'add-worker' },
    { kind: 'command', command: 'add-worker' },
    { kind: 'command', command: 'stats' },
  ]);
  assert.deepEqual(
    parseFifo('rRwWcqQ-P').map((x) => (x.kind === 'command' ? x.command : x.kind)),
    [
      'reload',
      'reload-brutal',
      'workers-reload',
      'workers-reload-brutal',
      'chain-reload',
      'stop',
      'stop-now',
      'remove-worker',
      'pidfiles',
    ],
  );
  assert.deepEqual(parseFifo('3'), [{ kind: 'slot', slot: 3 }]);
  assert.deepEqual(parseFifo('f'), [{ kind: 'unsupported', letter: 'f', what: 're-fork the master' }]);
  assert.deepEqual(parseFifo('z'), [{ kind: 'unknown', letter: 'z' }]);
});

test('touched: a changed mtime of an existing file; a file that disappears does not count', () => {
  assert.equal(touched(100, 100), false);
  assert.equal(touched(100, 200), true);
  assert.equal(touched(0, 200), true, 'a file that appears');
  assert.equal(touched(100, 0), false, 'a file that disappears');
});

test('TouchWatch: the first look records, a touch triggers once, baselines survive a reload', () => {
  const dir = tempDir();
  try {
    const f = join(dir.path, 'reload.touch');
    writeFileSync(f, '');
    const w = new TouchWatch([f, join(dir.path, 'missing')]);
    assert.equal(w.poll(), null);
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    assert.equal(w.poll(), f);
    assert.equal(w.poll(), null, 'once per touch');
    const after = new TouchWatch([f], w);
    assert.equal(after.poll(), null, 'the new watch starts from the old baseline');
  } finally {
    dir.cleanup();
  }
});
