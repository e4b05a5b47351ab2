import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readStats } from '../../helpers/stats.js';
import { alive, FIXTURES, fetchRaw, startTsgi, type TsgiProcess, waitFor } from '../../helpers/tsgi.js';

const SLEEPY = `${FIXTURES}/apps/sleepy.py`;

/** An instance of sleepy.py; `extra` arguments after the defaults. */
function start(extra: string[], env?: NodeJS.ProcessEnv): Promise<TsgiProcess> {
  return startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', SLEEPY, ...extra], env ? { env } : {});
}

describe('harakiri', () => {
  test('a request past harakiri gets 504, the log names it, the worker is replaced', async () => {
    const tsgi = await start(['--harakiri', '1', '--stats', '127.0.0.1:0']);
    try {
      const base = tsgi.url();
      const [before] = tsgi.workerPids();
      const r = await fetchRaw(`${base}/sleep?30`);
      assert.equal(r.status, 504);
      assert.match(r.text, /harakiri/);
      await tsgi.waitForLine(
        new RegExp(`\\*\\*\\* HARAKIRI ON WORKER 1 \\(pid: ${before}, try: 1\\) \\*\\*\\*`),
      );
      assert.match(tsgi.output, /WAS managing request GET \/sleep\?30 for \d+\.\d\d s \(harakiri = 1 s\)/);
      await tsgi.waitForLine(/worker 1 \(pid \d+\) exited \(harakiri, killed by SIGKILL\)/);
      await waitFor(() => !alive(before!), 5000, 'the stuck worker to die');
      const ok = await fetchRaw(`${base}/ok`);
      assert.equal(ok.status, 200);
      assert.notEqual(ok.text.trim(), String(before));
      const stats = await readStats(tsgi);
      assert.equal(stats.workers.find((w) => w.id === 1)?.harakiri_count, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('with threads: the timed-out request gets 504, its sibling on the same worker 502', async () => {
    const tsgi = await start(['--threads', '2', '--harakiri', '2']);
    try {
      const base = tsgi.url();
      const first = fetchRaw(`${base}/sleep?30`);
      await new Promise((r) => setTimeout(r, 1000));
      const sibling = fetchRaw(`${base}/sleep?30`);
      assert.equal((await first).status, 504);
      assert.equal((await sibling).status, 502);
      await waitFor(async () => (await fetchRaw(`${base}/ok`)).status === 200, 10_000, 'service back');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('harakiri-verbose logs the stuck Python stack before the kill', async () => {
    const tsgi = await start(['--harakiri', '1', '--harakiri-verbose']);
    try {
      assert.equal((await fetchRaw(`${tsgi.url()}/sleep?30`)).status, 504);
      await tsgi.waitForLine(/File ".*sleepy\.py", line \d+ in stuck_here/);
      await tsgi.waitForLine(/exited \(harakiri, killed by SIGKILL\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('harakiri-graceful-timeout: the graceful signal first, SIGKILL after the timeout', async () => {
    const tsgi = await start(['--harakiri', '1', '--harakiri-graceful-timeout', '1'], {
      SLEEPY_TRAP_TERM: '1',
    });
    try {
      const r = await fetchRaw(`${tsgi.url()}/sleep?30`);
      assert.equal(r.status, 504, 'the client is answered at the first attempt');
      await tsgi.waitForLine(/sleepy: got SIGTERM in pid \d+, ignoring it/);
      await tsgi.waitForLine(/exited \(harakiri, killed by SIGKILL\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('time spent queued does not count: harakiri starts when a worker takes the request', async () => {
    const tsgi = await start(['--harakiri', '3']);
    try {
      const base = tsgi.url();
      // One slot: the second request waits ~2 s in the queue, then runs 2 s: 4 s in all, 2 s in the worker.
      const rs = await Promise.all([fetchRaw(`${base}/sleep?2`), fetchRaw(`${base}/sleep?2`)]);
      assert.deepEqual(
        rs.map((r) => r.status),
        [200, 200],
      );
      assert.doesNotMatch(tsgi.output, /HARAKIRI/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
