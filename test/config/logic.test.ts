import assert from 'node:assert/strict';
import { test } from 'node:test';
import { atoi, readlineItems, substituteUnderscore } from '../../core/config/logic.js';
import { errorCode, load, loadIni, tempTree } from './helpers.js';

test('if-env / if-not-env / ifenv with NAME and NAME=value; %(_) is the variable value', () => {
  const env = { A: 'x', E: '' };
  const out = loadIni(
    'if-env = A\na = %(_)\nendif\nif-env = A=y\nb = 1\nendif\nif-not-env = A=y\nc = %(_)\nendif\n' +
      'if-not-env = B\nd = %(_)\nendif\nifenv = E\ne = [%(_)]\nendif\n',
    { env },
  );
  assert.deepEqual(out, [
    'if-env = A',
    'a = x',
    'endif = ',
    'if-env = A=y',
    'endif = ',
    'if-not-env = A=y',
    'c = x',
    'endif = ',
    'if-not-env = B',
    'd = %(_)',
    'endif = ',
    'ifenv = E',
    'e = []',
    'endif = ',
  ]);
});

test('if-exists / if-file / if-dir and negations resolve paths against cwd', () => {
  const dir = tempTree({
    'app.ini':
      '[uwsgi]\nif-exists = f\na = %(_)\nendif\nif-file = d\nb = 1\nendif\nif-dir = d\nc = %(_)\nendif\n' +
      'if-not-exists = nope\nd = %(_)\nendif\nif-not-dir = f\ne = 1\nendif\nif-directory = d\nf = 1\nend\n',
    f: '',
    'd/x': '',
  });
  const out = load(dir, ['--ini', 'app.ini']).lines.filter((l) => /^[a-f] =/.test(l));
  assert.deepEqual(out, ['a = f', 'c = d', 'd = nope', 'e = 1', 'f = 1']);
});

test('if-opt sees only earlier entries and their first, unexpanded value', () => {
  const out = loadIni(
    'x = %(y)\nif-opt = x\na = %(_)\nendif\nif-opt = later\nb = 1\nendif\nlater = 1\nif-not-opt = x=zz\nc = ok\nendif\n',
  );
  assert.ok(out.includes('a = %(y)'));
  assert.ok(!out.some((l) => l.startsWith('b =')));
  assert.ok(out.includes('c = ok'));
});

test('if-reload follows opts.isReload (default: UWSGI_RELOADS set); if-hostname compares the hostname', () => {
  const text =
    'if-reload\na = 1\nendif\nif-not-reload\nb = 1\nendif\nif-hostname = testhost\nc = %(_)\nendif\n';
  assert.deepEqual(
    loadIni(text).filter((l) => /^[abc] =/.test(l)),
    ['b = 1', 'c = testhost'],
  );
  assert.deepEqual(
    loadIni(text, { isReload: true }).filter((l) => /^[abc] =/.test(l)),
    ['a = 1', 'c = testhost'],
  );
  assert.deepEqual(
    loadIni(text, { env: { UWSGI_RELOADS: '2' } }).filter((l) => /^[ab] =/.test(l)),
    ['a = 1'],
  );
});

test('if-hostname-match uses a regular expression; an invalid one counts as matched (uWSGI) with a warning', () => {
  const dir = tempTree({
    'app.ini': '[uwsgi]\nif-hostname-match = ^test\na = 1\nendif\nif-hostname-match = (\nb = 1\nendif\n',
  });
  const r = load(dir, ['--ini', 'app.ini']);
  assert.ok(r.lines.includes('a = 1') && r.lines.includes('b = 1'));
  assert.equal(r.warnings.length, 1);
});

test('for loops: every body line is repeated per item, line by line', () => {
  assert.deepEqual(loadIni('for = a  b\nx = %(_)\ny = %(_)\nendfor\n'), [
    'for = a  b',
    'x = a',
    'x = b',
    'y = a',
    'y = b',
    'endfor = ',
  ]);
  assert.deepEqual(
    loadIni('for-times = 3\nn = %(_)\nendfor\n').filter((l) => l.startsWith('n =')),
    ['n = 1', 'n = 2', 'n = 3'],
  );
});

test('for-readline: fgets-sized chunks, chomped; a missing file only warns', () => {
  assert.deepEqual(readlineItems('a\r\n\nb'), ['a', '', 'b']);
  assert.deepEqual(readlineItems(`${'x'.repeat(1030)}\n`), ['x'.repeat(1023), 'x'.repeat(7)]);
  const dir = tempTree({ 'app.ini': '[uwsgi]\nfor-readline = nope.txt\na = 1\nendfor\n' });
  const r = load(dir, ['--ini', 'app.ini']);
  assert.deepEqual(r.lines.slice(1), ['for-readline = nope.txt', 'endfor = ']);
  assert.equal(r.warnings.length, 1);
});

test('for-glob expands against cwd', () => {
  const dir = tempTree({
    'app.ini': '[uwsgi]\nfor-glob = v/*.ini\nini = %(_)\nendfor\n',
    'v/a.ini': '[uwsgi]\na = %n\n',
    'v/b.ini': '[uwsgi]\nb = %n\n',
  });
  assert.deepEqual(
    load(dir, ['--ini', 'app.ini']).lines.filter((l) => /^[ab] =/.test(l)),
    ['a = a', 'b = b'],
  );
});

test('logic on the command line, closed on the command line', () => {
  const dir = tempTree({});
  assert.deepEqual(load(dir, ['--for', 'a b', '--set', 'k=%(_)', '--endfor']).lines, [
    'for = a b',
    'set = k=a',
    'k = a',
    'set = k=b',
    'k = b',
    'endfor = true',
  ]);
});

test('if-plugin needs a plugin registry', () => {
  const text = 'if-plugin = python3\na = 1\nendif\n';
  assert.equal(
    errorCode(() => loadIni(text)),
    'TSGI_ERR_CONFIG_UNSUPPORTED',
  );
  assert.ok(loadIni(text, { isPluginLoaded: (n) => n === 'python3' }).includes('a = 1'));
  assert.ok(!loadIni(text, { isPluginLoaded: () => false }).includes('a = 1'));
});

test('tsgi errors: stray closer, nested block, unterminated block (with file and line)', () => {
  const dir = tempTree({
    'stray.ini': '[uwsgi]\na = 1\nendif\n',
    'nested.ini': '[uwsgi]\nif-env = NOPE\nfor = a\nendfor\nendif\n',
    'open.ini': '[uwsgi]\nfor = a b\nx = 1\n',
    'inc.ini': '[uwsgi]\nendif\n',
    'incl.ini': '[uwsgi]\nfor = a\ninclude = inc.ini\nendfor\n',
  });
  for (const [file, code, line] of [
    ['stray.ini', 'TSGI_ERR_CONFIG_LOGIC', 3],
    ['nested.ini', 'TSGI_ERR_CONFIG_LOGIC', 3],
    ['open.ini', 'TSGI_ERR_CONFIG_UNTERMINATED', 2],
  ] as const) {
    try {
      load(dir, ['--ini', file]);
      assert.fail(`no error for ${file}`);
    } catch (err) {
      const e = err as { code: string; origin: { file: string; line: number }; message: string };
      assert.equal(e.code, code, file);
      assert.equal(e.origin.file, file);
      assert.equal(e.origin.line, line);
      assert.ok(e.message.startsWith(`${file}:${line}: `), e.message);
    }
  }
  assert.equal(
    errorCode(() => load(dir, ['--ini', 'incl.ini'])),
    'TSGI_ERR_CONFIG_LOGIC',
  );
  assert.equal(
    errorCode(() => load(dir, ['--if-env', 'X', '--socket', ':1'])),
    'TSGI_ERR_CONFIG_UNTERMINATED',
  );
});

test('helpers: atoi and %(_) substitution as in C', () => {
  assert.equal(atoi('  12abc'), 12);
  assert.equal(atoi('x'), 0);
  assert.equal(substituteUnderscore('%(_)-%(_)', 'v'), 'v-v');
  assert.equal(substituteUnderscore('%(_)', null), '%(_)');
  assert.equal(substituteUnderscore(null, 'v'), null);
});
