import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { metricsUrl, scrapeUntil, stats, statsAddr } from '../helpers/observe.js';
import { alive, FIXTURES, startTsgi, TSGI_BIN, tempDir, waitFor } from '../helpers/tsgi.js';

const APP = `${FIXTURES}/apps/crashy.py`;
const BASE = ['--http-socket', '127.0.0.1:0', '--wsgi-file', APP];

/** Read a pid from a file once it holds a live one. */
async function pidIn(file: string): Promise<number> {
  let pid = 0;
  await waitFor(
    () => {
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        return false;
      }
      return pid > 0 && alive(pid);
    },
    15_000,
    `a live pid in ${file}`,
  );
  return pid;
}

describe('attach-daemon2, smart-attach-daemon', () => {
  const dir = tempDir('tsgi-daemons-');
  after(() => dir.cleanup());

  test('pty=1 runs the daemon on a terminal; output is prefixed; SIGKILL brings it back; restarts in stats and metrics; stopped with the instance', async () => {
    const pidf = join(dir.path, 'ttyd.pid');
    const t = await startTsgi([
      ...BASE,
      '--stats',
      '127.0.0.1:0',
      '--prometheus',
      '127.0.0.1:0',
      '--attach-daemon2',
      `cmd=echo $$ > ${pidf}; [ -t 1 ] && echo "ON-A-TTY cols=$(tput cols)"; exec sleep 300,pty=1,name=ttyd`,
      '--attach-daemon',
      'echo "plain $((6*7))"; exec sleep 300',
    ]);
    try {
      await t.waitForLine(/\[ttyd\] ON-A-TTY cols=\d+/);
      await t.waitForLine(/\[echo\] plain 42/);
      const first = await pidIn(pidf);
      process.kill(first, 'SIGKILL');
      await t.waitForLine(/daemon '.*ttyd.pid.*' \(pid \d+\) died \(killed by signal 9\); restarting/);
      await waitFor(() => (t.output.match(/\[ttyd\] ON-A-TTY/g) ?? []).length === 2, 15_000, 'second start');
      const second = await pidIn(pidf);
      assert.notEqual(second, first);
      const doc = await stats(await statsAddr(t));
      const daemons = doc.daemons as Array<{ name: string; respawns: number; pid: number; kind: string }>;
      const ttyd = daemons.find((d) => d.name === 'ttyd');
      assert.equal(ttyd?.respawns, 1);
      assert.equal(ttyd?.kind, 'pty');
      await scrapeUntil(
        await metricsUrl(t),
        (m) =>
          m
            .get('tsgi_daemon_restarts_total')
            ?.samples.some((s) => s.labels.daemon === 'ttyd' && s.value === 1) === true,
        'tsgi_daemon_restarts_total{daemon="ttyd"} 1',
      );
      assert.equal(await t.stop(), 0);
      assert.ok(!alive(second), 'the pty daemon stopped with the instance');
    } finally {
      t.kill();
    }
  });

  test('stopsignal is what stops the daemon', async () => {
    const t = await startTsgi([
      ...BASE,
      '--attach-daemon2',
      `name=trapper,stopsignal=USR1,cmd=trap 'echo GOT-USR1; exit 0' USR1; echo READY; while :; do sleep 0.1; done`,
    ]);
    try {
      await t.waitForLine(/\[trapper\] READY/);
      assert.equal(await t.stop(), 0);
      assert.match(t.output, /\[trapper\] GOT-USR1/);
    } finally {
      t.kill();
    }
  });

  test('reloadsignal reaches a kept daemon on a reload instead of a restart; uid/gid apply', async () => {
    const asNobody = process.getuid?.() === 0;
    const ids = asNobody ? ',uid=65534,gid=65534' : '';
    const t = await startTsgi([
      ...BASE,
      '--attach-daemon2',
      `name=reloader,reloadsignal=HUP${ids},cmd=trap 'echo GOT-HUP' HUP; echo "UID=$(id -u)"; while :; do sleep 0.1; done`,
    ]);
    try {
      const m = await t.waitForLine(/\[reloader\] UID=(\d+)/);
      if (asNobody) assert.equal(m[1], '65534');
      t.signal('SIGHUP');
      await t.waitForLine(/\[reloader\] GOT-HUP/);
      assert.equal((t.output.match(/spawned daemon/g) ?? []).length, 1, 'kept, not restarted');
      assert.equal(await t.stop(), 0);
    } finally {
      t.kill();
    }
  });

  test('smart-attach-daemon follows its pidfile, restarts it when that pid dies, and leaves it running at stop', async () => {
    const pidf = join(dir.path, 'smart.pid');
    const t = await startTsgi([...BASE, '--smart-attach-daemon', `${pidf} sleep 300 & echo $! > ${pidf}`]);
    let last = 0;
    try {
      const first = await pidIn(pidf);
      last = first;
      process.kill(first, 'SIGKILL');
      await t.waitForLine(/daemon '.*' \(pid \d+ from .*smart.pid\) is gone; restarting/);
      await waitFor(
        () => {
          try {
            last = Number(readFileSync(pidf, 'utf8'));
          } catch {}
          return last !== first && alive(last);
        },
        15_000,
        'a new pid in the pidfile',
      );
      assert.equal(await t.stop(), 0);
      assert.ok(alive(last), 'a smart daemon outlives the instance, as in uWSGI');
    } finally {
      t.kill();
      if (last && alive(last)) process.kill(last, 'SIGKILL');
    }
  });

  test('smart-attach-daemon2: tsgi writes the pidfile of a command that does not fork', async () => {
    const pidf = join(dir.path, 'smart2.pid');
    const t = await startTsgi([...BASE, '--smart-attach-daemon2', `${pidf} sleep 300`]);
    let pid = 0;
    try {
      pid = await pidIn(pidf);
      assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /^sleep\x00300/);
      // Not t.stop(): it counts the master's children as leftovers, and this one is meant to outlive it.
      t.signal('SIGTERM');
      assert.equal(await t.wait(), 0);
      assert.ok(alive(pid), 'left running at stop');
    } finally {
      if (t.exitCode === undefined) t.kill();
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  test('attach-daemon2 with a key tsgi does not implement is a config error naming it', () => {
    const r = spawnSync(
      process.execPath,
      [TSGI_BIN, ...BASE, '--attach-daemon2', 'cmd=sleep 1,touch=/tmp/x'],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /attach-daemon2.*key 'touch' is not supported/);
  });
});
