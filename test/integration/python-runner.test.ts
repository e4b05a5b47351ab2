import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, fetchRaw, startTsgi, TsgiProcess, tempDir } from '../helpers/tsgi.js';

interface Report {
  active: number;
  peak: number;
  thread: string;
  multithread: boolean;
  env: string | null;
  prefix: string;
  executable: string;
}

describe('Python runner options', () => {
  test('threads = 4: one worker serves four requests at once', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/threads.py`,
      '--threads',
      '4',
    ]);
    try {
      const rs = await Promise.all([1, 2, 3, 4].map(() => fetchRaw(`${tsgi.url()}/sleep?0.5`)));
      const reports = rs.map((r) => JSON.parse(r.text) as Report);
      assert.ok(Math.max(...reports.map((r) => r.peak)) >= 2, 'requests overlapped in one worker');
      assert.equal(new Set(reports.map((r) => r.thread)).size > 1, true, 'different threads served them');
      assert.equal(reports[0]!.multithread, true);
      assert.equal(tsgi.workerPids().length, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('threads = 1: requests to one worker never overlap', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/threads.py`,
    ]);
    try {
      const rs = await Promise.all([1, 2, 3].map(() => fetchRaw(`${tsgi.url()}/sleep?0.2`)));
      for (const r of rs) assert.equal((JSON.parse(r.text) as Report).peak, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('env = KEY=VALUE reaches the worker', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/threads.py`,
      '--env',
      'TSGI_TEST_ENV=a=b c',
    ]);
    try {
      assert.equal((JSON.parse((await fetchRaw(tsgi.url())).text) as Report).env, 'a=b c');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('module = pkg.mod:callable with pythonpath; module = pkg.mod with callable', async () => {
    const a = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--pythonpath',
      `${FIXTURES}/pkg`,
      '--module',
      'mypkg.web:app',
    ]);
    try {
      assert.equal((await fetchRaw(`${a.url()}/x`)).text, 'mypkg.web:app /x');
    } finally {
      assert.equal(await a.stop(), 0);
    }
    const b = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--pythonpath',
      `${FIXTURES}/pkg`,
      '--module',
      'mypkg.web',
    ]);
    try {
      assert.equal((await fetchRaw(b.url())).text, 'mypkg.web:application');
    } finally {
      assert.equal(await b.stop(), 0);
    }
  });

  test('a missing callable is a boot failure naming it', async () => {
    const p = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--pythonpath',
      `${FIXTURES}/pkg`,
      '--module',
      'mypkg.web:nope',
    ]);
    assert.equal(await p.wait(15_000), 1);
    assert.match(p.output, /has no callable 'nope'/);
  });

  test('home = a virtualenv: workers run its interpreter', async () => {
    const dir = tempDir();
    try {
      const venv = join(dir.path, 'venv');
      execFileSync('python3', ['-m', 'venv', '--without-pip', venv], { timeout: 60_000 });
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        `${FIXTURES}/apps/threads.py`,
        '--home',
        venv,
      ]);
      try {
        const rep = JSON.parse((await fetchRaw(tsgi.url())).text) as Report;
        assert.equal(rep.prefix, venv);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('an ini file with %d, placeholders and chdir', async () => {
    const dir = tempDir();
    try {
      const ini = join(dir.path, 'app.ini');
      writeFileSync(
        ini,
        [
          '[uwsgi]',
          'base = %d',
          'http-socket = 127.0.0.1:0',
          'chdir = %(base)',
          `pythonpath = ${FIXTURES}/pkg`,
          'module = mypkg.web:app',
          'processes = 2',
          '',
        ].join('\n'),
      );
      const tsgi = await startTsgi(['--ini', ini]);
      try {
        assert.equal((await fetchRaw(`${tsgi.url()}/ini`)).text, 'mypkg.web:app /ini');
        assert.equal(tsgi.workerPids().length, 2);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('a bad ini value names the file and line', async () => {
    const dir = tempDir();
    try {
      const ini = join(dir.path, 'bad.ini');
      writeFileSync(ini, '[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = x.py\n\nprocesses = lots\n');
      const p = new TsgiProcess(['--ini', ini]);
      assert.equal(await p.wait(10_000), 1);
      assert.match(
        p.output,
        new RegExp(`${ini.replace(/[/.]/g, '\\$&')}:5: option 'processes': expected an integer, got 'lots'`),
      );
    } finally {
      dir.cleanup();
    }
  });
});
