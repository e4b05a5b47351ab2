import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vassalArgs, vassalIdentity } from '../../../emperor/launch.js';
import type { VassalSpec } from '../../../emperor/scanner.js';

const file = (owner: { uid: number; gid: number }): VassalSpec => ({
  name: 'app.ini',
  monitor: '/v',
  version: '1',
  mtimeS: 1,
  cwd: '/v',
  source: { kind: 'file', path: '/v/app.ini' },
  owner,
});
const inline = (text: string): VassalSpec => ({
  name: 'shop',
  monitor: 'redis://h/0',
  version: '1',
  mtimeS: 1,
  cwd: '/r/shop',
  source: { kind: 'inline', text },
  owner: null,
});

test("templates go around the vassal's own config in uWSGI's order", () => {
  const t = {
    inheritBefore: ['base.ini'],
    includeBefore: ['pre.ini'],
    set: ['x=1'],
    inherit: ['tpl.ini'],
    include: ['post.ini'],
  };
  assert.deepEqual(vassalArgs(file({ uid: 1, gid: 1 }), t), [
    '--inherit',
    'base.ini',
    '--include',
    'pre.ini',
    '--set',
    'x=1',
    '--ini',
    '/v/app.ini',
    '--inherit',
    'tpl.ini',
    '--include',
    'post.ini',
  ]);
  const none = { inheritBefore: [], includeBefore: [], set: [], inherit: [], include: [] };
  assert.deepEqual(vassalArgs(inline('[uwsgi]\n'), none), ['--ini', 'emperor://shop']);
});

test('tyrant: a file vassal runs as its owner; root-owned files are refused', () => {
  assert.deepEqual(vassalIdentity(file({ uid: 1001, gid: 1002 }), true, 0), { uid: 1001, gid: 1002 });
  assert.deepEqual(vassalIdentity(file({ uid: 0, gid: 0 }), false, 0), { uid: null, gid: null });
  for (const owner of [
    { uid: 0, gid: 5 },
    { uid: 5, gid: 0 },
  ])
    assert.throws(() => vassalIdentity(file(owner), true, 0), { code: 'TSGI_ERR_EMPEROR_REFUSED' });
});

test('a Redis vassal under a root emperor needs a non-root uid in its own config', () => {
  assert.deepEqual(vassalIdentity(inline('[uwsgi]\nuid = 1234\ngid = 1235\n'), false, 0), {
    uid: 1234,
    gid: 1235,
  });
  assert.deepEqual(vassalIdentity(inline('[uwsgi]\nuid = nobody\ngid = nogroup\n'), false, 0), {
    uid: 65534,
    gid: 65534,
  });
  for (const text of [
    '[uwsgi]\nprocesses = 2\n',
    '[uwsgi]\nuid = 0\n',
    '[uwsgi]\nuid = 12\ngid = 0\n',
    '[uwsgi]\nuid = no-such-user-x\n',
  ])
    assert.throws(() => vassalIdentity(inline(text), false, 0), { code: 'TSGI_ERR_EMPEROR_REFUSED' }, text);
  for (const text of ['[uwsgi]\nini = /etc/passwd\nuid = 12\n', '[uwsgi]\nuid = @(exec://id -u)\n'])
    assert.throws(
      () => vassalIdentity(inline(text), false, 0),
      { code: 'TSGI_ERR_EMPEROR_REFUSED' },
      `the emperor reads no file and runs no command for Redis text: ${text}`,
    );
  assert.deepEqual(
    vassalIdentity(inline('[uwsgi]\n'), false, 1000),
    { uid: null, gid: null },
    'an unprivileged emperor runs it as itself',
  );
});
