import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { EMPEROR_BIN, EmperorProcess, readStats, writeVassal } from '../helpers/emperor.js';
import { Terminal } from '../helpers/terminal.js';
import { requireTool, runs, SYSTEM_PYTHON, tempDir, waitFor } from '../helpers/tsgi.js';

const hasTmux = () => runs('tmux', ['-V']);
const APP =
  'COUNT = 41\n\ndef application(env, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';

/** Wait until the emperor's stats list a console for vassal `id`. */
async function waitConsole(statsAddr: string, id: string): Promise<void> {
  await waitFor(
    async () => {
      const doc = (await readStats(statsAddr)) as { vassals: Array<{ id: string; consoles?: unknown[] }> };
      return (doc.vassals.find((v) => v.id === id)?.consoles?.length ?? 0) > 0;
    },
    20_000,
    `a console for ${id} in the emperor stats`,
    200,
  );
}

/** Start an emperor on `dir` with a stats server; returns it and the stats address. */
async function emperorWithStats(
  dir: string,
  extra: string[] = [],
): Promise<{ e: EmperorProcess; stats: string }> {
  const e = new EmperorProcess([dir, '--emperor-stats', '127.0.0.1:0', '--emperor-freq', '1', ...extra], {
    bin: 'tsgi-emperor',
  });
  return { e, stats: await e.address('stats server') };
}

describe('tsgi-emperor console', { skip: requireTool(hasTmux, 'tmux') }, () => {
  test('lists the vassals’ consoles and attaches to one by name', async () => {
    const dir = tempDir('tsgi-econ-');
    const vassals = join(dir.path, 'vassals');
    mkdirSync(vassals);
    writeFileSync(join(dir.path, 'app.py'), APP);
    writeVassal(vassals, 'shop.ini', {
      'http-socket': '127.0.0.1:0',
      'wsgi-file': join(dir.path, 'app.py'),
      'pty-usocket': join(dir.path, 'shop.console'),
    });
    writeVassal(vassals, 'plain.ini', {
      'http-socket': '127.0.0.1:0',
      'wsgi-file': join(dir.path, 'app.py'),
    });
    const { e, stats } = await emperorWithStats(vassals);
    const term = new Terminal(dir.path, 100, 30);
    try {
      await e.waitLoyal('shop.ini');
      await e.waitLoyal('plain.ini');
      await waitConsole(stats, 'shop.ini');
      const list = execFileSync(process.execPath, [EMPEROR_BIN, 'console', '--emperor-stats', stats], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.match(list, new RegExp(`shop\\.ini\\s+loyal\\s+pty-u ${join(dir.path, 'shop.console')}`));
      assert.match(list, /plain\.ini\s+loyal\s+-/);
      const none = spawnSync(process.execPath, [EMPEROR_BIN, 'console', 'plain', '--emperor-stats', stats], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(none.status, 1);
      assert.match(none.stderr, /serves no console/);
      term.type(`${process.execPath} ${EMPEROR_BIN} console shop --emperor-stats ${stats}; echo "EXIT=$?"`);
      await term.waitScreen((s) => s.includes('>>>'), 'the vassal console');
      term.type('app_module.COUNT + 1');
      await term.waitScreen((s) => /^42$/m.test(s), 'the vassal app evaluated');
      term.keys('C-]');
      await term.waitScreen((s) => s.includes('EXIT=0'), 'detached');
    } finally {
      term.close();
      await e.stop();
      dir.cleanup();
    }
  });

  test('in tyrant mode the console runs as the vassal’s owner, not root', {
    skip: requireTool(() => process.getuid?.() === 0 && runs('useradd', ['--help']), 'root with useradd'),
  }, async () => {
    const name = `tsgicon${process.pid % 100000}`;
    execFileSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
    const dir = tempDir('tsgi-econ-');
    chmodSync(dir.path, 0o755);
    const run = join(dir.path, 'run');
    mkdirSync(run);
    chownSync(run, uid, gid);
    writeFileSync(join(dir.path, 'app.py'), APP, { mode: 0o644 });
    const vassals = join(dir.path, 'vassals');
    mkdirSync(vassals, { mode: 0o755 });
    chownSync(
      writeVassal(vassals, 'tenant.ini', {
        'http-socket': '127.0.0.1:0',
        'wsgi-file': join(dir.path, 'app.py'),
        'python-bin': SYSTEM_PYTHON,
        chdir: run,
        'pty-usocket': join(run, 'console'),
      }),
      uid,
      gid,
    );
    const { e, stats } = await emperorWithStats(vassals, ['--emperor-tyrant']);
    const term = new Terminal(dir.path, 100, 30);
    try {
      await e.waitLoyal('tenant.ini');
      await waitConsole(stats, 'tenant.ini');
      term.type(`${process.execPath} ${EMPEROR_BIN} console tenant --emperor-stats ${stats}`);
      await term.waitScreen((s) => s.includes('>>>'), 'the tenant console');
      term.type('import os; print("IDS", os.getuid(), os.getgid(), os.geteuid())');
      await term.waitScreen(
        (s) => s.includes(`IDS ${uid} ${gid} ${uid}`),
        'the console running as the owner',
      );
      term.keys('C-]');
    } finally {
      term.close();
      await e.stop();
      dir.cleanup();
      try {
        execFileSync('userdel', [name], { stdio: 'ignore' });
      } catch {}
      try {
        execFileSync('groupdel', [name], { stdio: 'ignore' });
      } catch {}
    }
  });
});
