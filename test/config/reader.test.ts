import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigExitRequest, loadConfigEntries } from '../../core/config/ini-reader.js';
import { errorCode, load, loadIni, tempTree } from './helpers.js';

test('entries keep file order, repeated keys, literal values; --ini itself is an entry', () => {
  const dir = tempTree({ 'a.ini': '[uwsgi]\nsocket = :1\nsocket = :2\nq = "x" ; y\n' });
  assert.deepEqual(load(dir, ['--ini', 'a.ini']).lines, [
    'ini = a.ini',
    'socket = :1',
    'socket = :2',
    'q = "x" ; y',
  ]);
});

test('origins: ini file as given and line, argv index, environment variable name', () => {
  const dir = tempTree({ 'sub/a.ini': '; c\n[uwsgi]\n\nk = v\n' });
  const e = load(dir, ['--master', '--ini', 'sub/a.ini'], { env: { UWSGI_PROCESSES: '2' } }).entries;
  assert.deepEqual(
    e.map((x) => [x.key, x.origin]),
    [
      ['processes', { source: 'env', file: 'UWSGI_PROCESSES', line: 0 }],
      ['master', { source: 'argv', file: null, line: 1 }],
      ['ini', { source: 'argv', file: null, line: 2 }],
      ['k', { source: 'ini', file: 'sub/a.ini', line: 4 }],
    ],
  );
});

test('line numbers survive % line joins and refer to the original file', () => {
  const dir = tempTree({ 'a.ini': '[uwsgi]\na = 1%\nb\nc = 3\n' });
  const e = load(dir, ['--ini', 'a.ini']).entries;
  assert.deepEqual(
    e.slice(1).map((x) => [x.key, x.value, x.origin.line]),
    [
      ['a', '1b', 2],
      ['c', '3', 4],
    ],
  );
});

test('[tsgi] is read only when the file has no [uwsgi] section; file:section reads that one alone', () => {
  const dir = tempTree({
    'only.ini': '[tsgi]\na = 1\n',
    'both.ini': '[tsgi]\na = 1\n[uwsgi]\nb = 2\n',
    'empty-uwsgi.ini': '[uwsgi]\n[tsgi]\na = 1\n',
  });
  assert.deepEqual(load(dir, ['--ini', 'only.ini']).lines, ['ini = only.ini', 'a = 1']);
  assert.deepEqual(load(dir, ['--ini', 'both.ini']).lines, ['ini = both.ini', 'b = 2']);
  assert.deepEqual(load(dir, ['--ini', 'both.ini:tsgi']).lines, ['ini = both.ini:tsgi', 'a = 1']);
  const r = load(dir, ['--ini', 'empty-uwsgi.ini']);
  assert.deepEqual(r.lines, ['ini = empty-uwsgi.ini']);
  assert.match(r.warnings[0]?.message ?? '', /can't find section "uwsgi"/);
});

test('includes: include/ini in place, ini = :section of the last file, inherit appended at the end', () => {
  const dir = tempTree({
    'main.ini': '[uwsgi]\ninherit = t.ini\ninclude = i.ini\nini = :x\nlast = 1\n',
    'i.ini': '[uwsgi]\ni = %n\n[x]\nix = 1\n',
    't.ini': '[uwsgi]\nt = %(last)\n',
  });
  assert.deepEqual(load(dir, ['--ini', 'main.ini']).lines, [
    'ini = main.ini',
    'inherit = t.ini',
    'include = i.ini',
    'i = i',
    'ini = :x',
    'ix = 1',
    'last = 1',
    't = %(last)',
  ]);
});

test('include cycles and unreadable includes are ConfigErrors naming the including line', () => {
  const dir = tempTree({
    'a.ini': '[uwsgi]\ninclude = b.ini\n',
    'b.ini': '[uwsgi]\nx = 1\ninclude = a.ini\n',
    'self.ini': '[uwsgi]\nini = %p\n',
    'other-section.ini': '[uwsgi]\nini = %p:two\n[two]\nok = 1\n',
    'missing.ini': '[uwsgi]\n\ninclude = nope.ini\n',
  });
  assert.equal(
    errorCode(() => load(dir, ['--ini', 'a.ini'])),
    'TSGI_ERR_CONFIG_INCLUDE_CYCLE',
  );
  assert.equal(
    errorCode(() => load(dir, ['--ini', 'self.ini'])),
    'TSGI_ERR_CONFIG_INCLUDE_CYCLE',
  );
  assert.ok(load(dir, ['--ini', 'other-section.ini']).lines.includes('ok = 1'));
  try {
    load(dir, ['--ini', 'missing.ini']);
    assert.fail('no error');
  } catch (err) {
    const e = err as { code: string; origin: { file: string; line: number } };
    assert.equal(e.code, 'TSGI_ERR_CONFIG_FILE');
    assert.deepEqual([e.origin.file, e.origin.line], ['missing.ini', 3]);
  }
});

test('set / set-placeholder: set-ph of a known option (uWSGI or tsgi) is an error', () => {
  assert.deepEqual(loadIni('set-ph = a=1\nset = b=%(a)\nset = processes=2\n'), [
    'set-ph = a=1',
    'a = 1',
    'set = b=%(a)',
    'b = 1',
    'set = processes=2',
    'processes = 2',
  ]);
  assert.equal(
    errorCode(() => loadIni('set-ph = processes=2\n')),
    'TSGI_ERR_CONFIG_PLACEHOLDER',
  );
  assert.equal(
    errorCode(() =>
      loadIni('set-ph = node-app=x\n', { arity: (n) => (n === 'node-app' ? 'required' : undefined) }),
    ),
    'TSGI_ERR_CONFIG_PLACEHOLDER',
  );
  assert.equal(
    errorCode(() => loadIni('set = nothing\n')),
    'TSGI_ERR_CONFIG_SYNTAX',
  );
});

test('$(VAR), @(file) and %(name) after reading; immediate options are not expanded', () => {
  const dir = tempTree({
    'a.ini': '[uwsgi]\na = $(V)|@(f.txt)|%(b)\nb = B\nlisten = %(b)\n',
    'f.txt': 'F\n',
  });
  assert.deepEqual(load(dir, ['--ini', 'a.ini'], { env: { V: 'v' } }).lines.slice(1), [
    'a = v|F|B',
    'b = B',
    'listen = %(b)',
  ]);
  const bad = tempTree({ 'a.ini': '[uwsgi]\na = @(nope)\n' });
  assert.equal(
    errorCode(() => load(bad, ['--ini', 'a.ini'])),
    'TSGI_ERR_CONFIG_FILE',
  );
});

test('a self-feeding placeholder is TSGI_ERR_CONFIG_EXPANSION (uWSGI would loop forever)', () => {
  assert.equal(
    errorCode(() => loadIni('a = x%(a)\n')),
    'TSGI_ERR_CONFIG_EXPANSION',
  );
});

test('UWSGI_* environment variables, except uWSGI own ones, in environment order before argv', () => {
  const dir = tempTree({});
  const env = {
    UWSGI_ZZ_TOP: 'a=b',
    UWSGI_RELOADS: '1',
    UWSGI_EMPEROR_FD: '3',
    UWSGI_MASTER: '',
    OTHER: 'x',
  };
  assert.deepEqual(load(dir, ['--socket', ':1'], { env }).lines, [
    'zz-top = a=b',
    'master = ',
    'socket = :1',
  ]);
});

test('bare arguments: .ini files load after all options; [x] is ignored; others are errors', () => {
  const dir = tempTree({ 'a.ini': '[uwsgi]\na = %n\n' });
  assert.deepEqual(load(dir, ['a.ini', '[x]', '--master']).lines, ['master = true', 'a = a']);
  assert.equal(
    errorCode(() => load(dir, ['app.py'])),
    'TSGI_ERR_CONFIG_FILE',
  );
  assert.equal(
    errorCode(() => load(dir, ['app.yaml'])),
    'TSGI_ERR_CONFIG_UNSUPPORTED',
  );
});

test('in-band ini for emperor://NAME (emperor vassals); origin source emperor', () => {
  const dir = tempTree({});
  const r = load(dir, ['--ini', 'emperor://app.ini'], {
    inline: { name: 'app.ini', text: '[uwsgi]\nsocket = :1\no = %o\n' },
  });
  assert.deepEqual(r.lines, ['ini = emperor://app.ini', 'socket = :1', 'o = emperor://app.ini']);
  assert.deepEqual(r.entries[1]?.origin, { source: 'emperor', file: 'emperor://app.ini', line: 2 });
  assert.equal(
    errorCode(() => load(dir, ['--ini', 'emperor://other.ini'], { inline: { name: 'app.ini', text: '' } })),
    'TSGI_ERR_CONFIG_FILE',
  );
});

test('custom readFile: virtual files get %p from path.resolve', () => {
  const files: Record<string, string> = {
    'v.ini': '[uwsgi]\np = %p\ninclude = w.ini\n',
    'w.ini': '[uwsgi]\nw = %n\n',
  };
  const e = loadConfigEntries(['--ini', 'v.ini'], {
    cwd: '/virtual',
    env: {},
    readFile: (p) => {
      const t = files[p];
      if (t === undefined) throw new Error('ENOENT');
      return t;
    },
  });
  assert.deepEqual(
    e.map((x) => `${x.key} = ${x.value}`),
    ['ini = v.ini', 'p = /virtual/v.ini', 'include = w.ini', 'w = w'],
  );
});

test('print after expansion in entry order, iprint immediately with the raw value', () => {
  const dir = tempTree({ 'a.ini': '[uwsgi]\nx = 1\nprint = p %(x)\niprint = i %(x)\n' });
  assert.deepEqual(load(dir, ['--ini', 'a.ini']).printed, ['i %(x)', 'p 1']);
});

test('exit stops reading with ConfigExitRequest and uWSGI exit code', () => {
  try {
    loadIni('exit = 4\n');
    assert.fail('no exit');
  } catch (err) {
    assert.ok(err instanceof ConfigExitRequest);
    assert.equal(err.exitCode, 4);
    assert.equal(err.code, 'TSGI_ERR_CONFIG_EXIT');
  }
  const dir = tempTree({});
  assert.throws(
    () => load(dir, ['--exit']),
    (e: unknown) => e instanceof ConfigExitRequest && e.exitCode === 1,
  );
});

test('blacklist / whitelist contexts (case-insensitive)', () => {
  assert.equal(
    errorCode(() => loadIni('blacklist = socket\nSOCKET = 1\n')),
    'TSGI_ERR_CONFIG_FORBIDDEN',
  );
  assert.equal(
    errorCode(() => loadIni('whitelist = a\nb = 1\n')),
    'TSGI_ERR_CONFIG_FORBIDDEN',
  );
  assert.deepEqual(loadIni('blacklist = b\na = 1\nend-blacklist\nb = 2\n').slice(-1), ['b = 2']);
});

test('inject-before / inject-after wrap later config files', () => {
  const dir = tempTree({
    'a.ini': '[uwsgi]\ninject-before = b.txt\ninject-after = c.txt\nini = t.ini\n',
    'b.txt': '[uwsgi]\nbefore = %n\n',
    'c.txt': 'after = 1\n',
    't.ini': '[uwsgi]\nt = 1\n',
  });
  const r = load(dir, ['--ini', 'a.ini']);
  assert.deepEqual(r.lines.slice(-3), ['before = t', 't = 1', 'after = 1']);
  assert.deepEqual(
    r.entries.slice(-3).map((e) => [e.origin.file, e.origin.line]),
    [
      ['b.txt', 2],
      ['t.ini', 2],
      ['c.txt', 1],
    ],
  );
});

test('resolve = name=host uses the resolver and makes a placeholder', () => {
  assert.deepEqual(
    loadIni('resolve = ip=example.org\na = %(ip)\n', { resolveHost: () => '192.0.2.1' }).slice(-1),
    ['a = 192.0.2.1'],
  );
  assert.equal(
    errorCode(() => loadIni('resolve = ip=nowhere.invalid\n', { resolveHost: () => null })),
    'TSGI_ERR_CONFIG_RESOLVE',
  );
});

test('constructs tsgi does not implement are errors naming file, line and construct', () => {
  for (const text of [
    'xml = a.xml\n',
    'yaml = a.yml\n',
    'json = a.json\n',
    'config = a.lua\n',
    'declare-option = x=socket=$1\n',
    'ini = http://example.org/a.ini\n',
    'ini = data://0\n',
  ]) {
    try {
      loadIni(`a = 1\n${text}`);
      assert.fail(`no error for ${text}`);
    } catch (err) {
      const e = err as { code: string; message: string };
      assert.equal(e.code, 'TSGI_ERR_CONFIG_UNSUPPORTED', text);
      assert.match(e.message, /^app\.ini:3: /, text);
    }
  }
});

test('static magic variables can be overridden', () => {
  assert.deepEqual(loadIni('h = %h|%V|%k|%b\n', { magic: { V: 'x', k: '7', b: '/bin/tsgi' } }), [
    'h = testhost|x|7|/bin/tsgi',
  ]);
  const [t] = loadIni('t = %t %T\n');
  const [sec, us] = (t ?? '').slice(4).split(' ').map(Number);
  assert.ok(Math.abs((sec ?? 0) - Date.now() / 1000) < 60);
  assert.equal(Math.floor((us ?? 0) / 1e6), sec);
});

test('READER_CONSUMED_KEYS lists the config-language keys the caller must not apply again', async () => {
  const { READER_CONSUMED_KEYS } = await import('../../core/config/ini-reader.js');
  for (const k of ['ini', 'include', 'inherit', 'set-ph', 'if-env', 'endfor', 'for-glob', 'print', 'exit']) {
    assert.ok(READER_CONSUMED_KEYS.has(k), k);
  }
  for (const k of ['socket', 'plugins', 'early-envdir', 'show-config', 'strict'])
    assert.ok(!READER_CONSUMED_KEYS.has(k), k);
});
