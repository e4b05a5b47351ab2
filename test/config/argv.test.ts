import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Arity, splitArgv } from '../../core/config/argv.js';
import { uwsgiOption, uwsgiShortOption } from '../../core/config/uwsgi-options.js';
import { errorCode } from './helpers.js';

const uwsgi = {
  arity: (n: string): Arity | undefined => uwsgiOption(n)?.arity,
  short: (f: string) => uwsgiShortOption(f)?.name,
};
const opts = (argv: string[]) => splitArgv(argv, uwsgi).options.map((o) => [o.name, o.value, o.index]);

test('--name value, --name=value, flags; 1-based argv indexes', () => {
  assert.deepEqual(opts(['--socket', ':1', '--socket=:2', '--master']), [
    ['socket', ':1', 1],
    ['socket', ':2', 3],
    ['master', null, 4],
  ]);
});

test('a required value is the next argument even when it starts with -', () => {
  assert.deepEqual(opts(['--env', '--x']), [['env', '--x', 1]]);
});

test('optional arguments only with =; a following word is a positional', () => {
  const r = splitArgv(['--chmod-socket', 'app.ini', '--chmod-socket=660'], uwsgi);
  assert.deepEqual(
    r.options.map((o) => [o.name, o.value]),
    [
      ['chmod-socket', null],
      ['chmod-socket', '660'],
    ],
  );
  assert.deepEqual(r.positionals, [{ arg: 'app.ini', index: 2 }]);
});

test('short options: first option with that shortcut, clusters, attached values', () => {
  assert.deepEqual(opts(['-M', '-p', '2', '-Mp3', '-b8192', '-s', ':1', '-T', '-S', 'a=b']), [
    ['master', null, 1],
    ['processes', '2', 2],
    ['master', null, 4],
    ['processes', '3', 4],
    ['buffer-size', '8192', 5],
    ['socket', ':1', 6],
    ['enable-threads', null, 8],
    ['set', 'a=b', 9],
  ]);
});

test('-- ends options; - alone is a positional; positionals keep their index', () => {
  const r = splitArgv(['a.ini', '-', '--master', '--', '--socket', 'b.ini'], uwsgi);
  assert.deepEqual(
    r.options.map((o) => o.name),
    ['master'],
  );
  assert.deepEqual(
    r.positionals.map((p) => [p.arg, p.index]),
    [
      ['a.ini', 1],
      ['-', 2],
      ['--socket', 5],
      ['b.ini', 6],
    ],
  );
});

test('unknown names: value when the next argument does not start with -', () => {
  assert.deepEqual(opts(['--my-thing', 'v', '--my-flag', '--other=x']), [
    ['my-thing', 'v', 1],
    ['my-flag', null, 3],
    ['other', 'x', 4],
  ]);
});

test('a tsgi arity callback wins over uWSGI table', () => {
  const r = splitArgv(['--master', 'x'], { arity: () => 'required', short: () => undefined });
  assert.deepEqual(r.options[0], { name: 'master', value: 'x', index: 1 });
});

test('getopt errors are TSGI_ERR_CONFIG_ARGUMENT', () => {
  assert.equal(
    errorCode(() => splitArgv(['--master=1'], uwsgi)),
    'TSGI_ERR_CONFIG_ARGUMENT',
  );
  assert.equal(
    errorCode(() => splitArgv(['--socket'], uwsgi)),
    'TSGI_ERR_CONFIG_ARGUMENT',
  );
  assert.equal(
    errorCode(() => splitArgv(['-Z'], uwsgi)),
    'TSGI_ERR_CONFIG_ARGUMENT',
  );
  assert.equal(
    errorCode(() => splitArgv(['-p'], uwsgi)),
    'TSGI_ERR_CONFIG_ARGUMENT',
  );
});
