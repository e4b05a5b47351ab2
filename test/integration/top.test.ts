import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { startObserved, statsAddr } from '../helpers/observe.js';
import { Terminal } from '../helpers/terminal.js';
import { FIXTURES, fetchRaw, requireTool, runs, TSGI_BIN, tempDir } from '../helpers/tsgi.js';
import { freePort, hasUwsgi, UwsgiProcess } from '../helpers/uwsgi-instance.js';

const APP = `${FIXTURES}/apps/observe.py`;
const hasTmux = () => runs('tmux', ['-V']);

/** The shared terminal, plus `tsgi top` runs that record the tty settings before and after. */
class TopTerminal extends Terminal {
  /** Run `tsgi top ARGS` in the shell, recording the tty settings before and after. */
  runTop(args: string): void {
    const before = join(this.dir, 'stty.before');
    const after = join(this.dir, 'stty.after');
    this.type(
      `stty -g > ${before}; ${process.execPath} ${TSGI_BIN} top ${args}; echo "TOP-EXIT=$?"; stty -g > ${after}; echo "SAV""ED"`,
    );
  }

  ttyRestored(): boolean {
    return (
      readFileSync(join(this.dir, 'stty.before'), 'utf8') ===
      readFileSync(join(this.dir, 'stty.after'), 'utf8')
    );
  }
}

describe('tsgi top, driven under tmux', { skip: requireTool(hasTmux, 'tmux') }, () => {
  test('shows workers, refreshes as requests arrive, quits on q and restores the terminal', async () => {
    const dir = tempDir();
    const tsgi = await startObserved(['--processes', '2']);
    const term = new TopTerminal(dir.path);
    try {
      const addr = await statsAddr(tsgi);
      term.runTop(addr);
      let s = await term.waitScreen((x) => /WID\s+%\s+PID\s+REQ/.test(x), 'the worker table');
      assert.match(s, /tsgi \d+\.\d+\.\d+ - pid \d+/);
      assert.match(s, /q to quit/);
      const rows = (x: string) => x.split('\n').filter((l) => /^\s*[12]\s+\d+\.\d\s+\d+\s+\d+/.test(l));
      assert.equal(rows(s).length, 2, 'two worker rows');
      for (let i = 0; i < 7; i++) assert.equal((await fetchRaw(`${tsgi.url()}/ok`)).status, 200);
      s = await term.waitScreen((x) => /requests 7 /.test(x), 'seven requests on screen');
      const first = rows(s).find((l) => /^\s*1\s/.test(l))!;
      assert.match(first, /^\s*1\s+100\.0\s+\d+\s+7\s/, 'worker 1 served all seven');
      assert.match(first, /\bidle\b/);
      const busy = fetchRaw(`${tsgi.url()}/sleep?3`);
      busy.catch(() => {});
      await term.waitScreen((x) => rows(x).some((l) => /\bbusy\b/.test(l)), 'a busy worker');
      term.keys('q');
      s = await term.waitScreen((x) => x.includes('SAVED'), 'top to exit');
      assert.match(s, /TOP-EXIT=0/);
      assert.ok(!/WID\s+%\s+PID/.test(s), 'the alternate screen is gone: the shell is back');
      assert.ok(term.ttyRestored(), 'stty settings are what they were');
      assert.equal((await busy).status, 200);
    } finally {
      term.close();
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test('Ctrl-C quits cleanly too; a narrow terminal cuts lines; an address that is down says so and retries', async () => {
    const dir = tempDir();
    const tsgi = await startObserved();
    const term = new TopTerminal(dir.path, 50, 20);
    try {
      term.runTop(await statsAddr(tsgi));
      const s = await term.waitScreen((x) => /WID/.test(x), 'the table');
      for (const l of s.split('\n')) assert.ok(l.length <= 50, `line fits 50 columns: ${l}`);
      term.keys('C-c');
      const after = await term.waitScreen((x) => x.includes('SAVED'), 'exit on Ctrl-C');
      assert.match(after, /TOP-EXIT=0/);
      assert.ok(term.ttyRestored());
      term.type('clear');
      term.tmux('resize-window', '-t', 'main', '-x', '120', '-y', '20');
      const down = await freePort();
      term.runTop(`127.0.0.1:${down}`);
      await term.waitScreen(
        (x) => /cannot read stats from 127\.0\.0\.1:\d+: connect ECONNREFUSED/.test(x),
        'the connection error',
      );
      term.keys('q');
      await term.waitScreen((x) => /TOP-EXIT=0/.test(x), 'exit');
    } finally {
      term.close();
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test("an emperor's stats (real uWSGI emperor): vassals with state and respawns", {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin'),
  }, async () => {
    const dir = tempDir();
    const vassals = join(dir.path, 'vassals');
    execFileSync('mkdir', [vassals]);
    for (const name of ['alpha', 'beta'])
      writeFileSync(
        join(vassals, `${name}.ini`),
        `[uwsgi]\nplugin = python3\nmaster = true\nhttp-socket = 127.0.0.1:${await freePort()}\nwsgi-file = ${APP}\n`,
      );
    const statsPort = await freePort();
    const emperor = new UwsgiProcess(['--emperor', vassals, '--emperor-stats', `127.0.0.1:${statsPort}`]);
    const term = new TopTerminal(dir.path, 120, 20);
    try {
      await emperor.waitForLine(/vassal alpha\.ini is ready/);
      await emperor.waitForLine(/vassal beta\.ini is ready/);
      term.runTop(`127.0.0.1:${statsPort}`);
      const s = await term.waitScreen(
        (x) => /VASSAL\s+PID\s+STATE\s+RESPAWNS/.test(x) && /alpha\.ini/.test(x) && /beta\.ini/.test(x),
        'the vassal table',
      );
      assert.match(s, /^emperor 2\.0\.\d+/m);
      assert.match(s, /alpha\.ini\s+\d+\s+(loyal|ready|spawning)\s+\d+/);
      term.keys('q');
      await term.waitScreen((x) => /TOP-EXIT=0/.test(x), 'exit');
      assert.ok(term.ttyRestored());
    } finally {
      term.close();
      await emperor.stop();
      dir.cleanup();
    }
  });
});
