import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alive, FIXTURES, fetchRaw, startTsgi, waitFor } from '../../helpers/tsgi.js';

const COUNTER = `${FIXTURES}/apps/counter.py`;
const LEAKY = `${FIXTURES}/apps/leaky.py`;
const SLEEPY = `${FIXTURES}/apps/sleepy.py`;

/** "pid count" or "pid total-MB" from the fixture apps. */
function pidOf(text: string): number {
  return Number(text.trim().split(' ')[0]);
}

describe('recycling', () => {
  test('max-requests with delta: worker N recycles after max + (N-1) × delta, no request fails', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      COUNTER,
      '--processes',
      '2',
      '--max-requests',
      '3',
      '--max-requests-delta',
      '2',
      '--min-worker-lifetime',
      '0',
    ]);
    try {
      const base = tsgi.url();
      const first = new Set(tsgi.workerPids());
      const seen = new Set<number>();
      // Pairs of concurrent requests keep both workers busy (the dispatcher prefers idle workers).
      for (let round = 0; round < 6; round++) {
        const rs = await Promise.all([fetchRaw(`${base}/sleep?0.2`), fetchRaw(`${base}/sleep?0.2`)]);
        for (const r of rs) {
          assert.equal(r.status, 200);
          seen.add(pidOf(r.text));
        }
      }
      await tsgi.waitForLine(/recycling worker 2 \(pid \d+\): max-requests reached \(5 >= 5\)/);
      assert.match(tsgi.output, /recycling worker 1 \(pid \d+\): max-requests reached \(3 >= 3\)/);
      assert.doesNotMatch(tsgi.output, /recycling worker 2 \(pid \d+\): max-requests reached \(3 >= 3\)/);
      assert.doesNotMatch(tsgi.output, /died/);
      assert.ok(
        [...seen].some((p) => !first.has(p)),
        'replacements served requests',
      );
      await waitFor(() => [...first].every((p) => !alive(p)), 10_000, 'recycled workers to exit');
      assert.match(tsgi.output, /exited \(max-requests, exit code 0\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('min-worker-lifetime holds recycling back', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      COUNTER,
      '--max-requests',
      '1',
      '--min-worker-lifetime',
      '60',
    ]);
    try {
      const pids = new Set<number>();
      for (let i = 0; i < 3; i++) pids.add(pidOf((await fetchRaw(`${tsgi.url()}/`)).text));
      assert.equal(pids.size, 1);
      assert.doesNotMatch(tsgi.output, /recycling/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('recycling never drops an in-flight request: the old worker finishes it after handing over', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      COUNTER,
      '--threads',
      '2',
      '--max-requests',
      '1',
      '--min-worker-lifetime',
      '0',
    ]);
    try {
      const base = tsgi.url();
      const slow = fetchRaw(`${base}/sleep?2`);
      await new Promise((r) => setTimeout(r, 300));
      const fast = await fetchRaw(`${base}/`);
      assert.equal(fast.status, 200);
      await tsgi.waitForLine(/recycling worker 1/);
      const after = await waitForNewPid(base, pidOf(fast.text));
      const s = await slow;
      assert.equal(s.status, 200);
      assert.equal(pidOf(s.text), pidOf(fast.text), 'the slow request finished on the recycled worker');
      assert.notEqual(after, pidOf(fast.text));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('reload-on-rss: a leaking worker is replaced after a request leaves it too big', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      LEAKY,
      '--reload-on-rss',
      '80',
      '--min-worker-lifetime',
      '0',
    ]);
    try {
      const base = tsgi.url();
      const first = pidOf((await fetchRaw(`${base}/leak?0`)).text);
      let replaced = false;
      for (let i = 0; i < 20 && !replaced; i++) {
        const r = await fetchRaw(`${base}/leak?20`);
        assert.equal(r.status, 200);
        replaced = pidOf(r.text) !== first;
      }
      assert.ok(replaced, 'the leaking worker was replaced');
      assert.match(
        tsgi.output,
        /recycling worker 1 \(pid \d+\): reload-on-rss limit reached \(\d+ >= 83886080\)/,
      );
      await tsgi.waitForLine(/exited \(rss, exit code 0\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('evil-reload-on-rss: the master kills a worker that grows too big mid-request', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      LEAKY,
      '--evil-reload-on-rss',
      '100',
    ]);
    try {
      const base = tsgi.url();
      const r = await fetchRaw(`${base}/hold?200`);
      assert.equal(r.status, 502);
      await tsgi.waitForLine(/\*\*\* EVIL RELOAD ON WORKER 1 RSS: \d+ \(pid: \d+\) \*\*\*/);
      await tsgi.waitForLine(/exited \(rss, killed by SIGKILL\)/);
      await waitFor(async () => (await fetchRaw(`${base}/leak?0`)).status === 200, 10_000, 'a replacement');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('max-worker-lifetime: workers are replaced after their lifetime, under traffic, without errors', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      SLEEPY,
      '--processes',
      '2',
      '--max-worker-lifetime',
      '2',
    ]);
    try {
      const base = tsgi.url();
      const first = new Set(tsgi.workerPids());
      const pids = new Set<number>();
      const until = Date.now() + 4500;
      while (Date.now() < until) {
        const rs = await Promise.all([fetchRaw(`${base}/ok`), fetchRaw(`${base}/ok`)]);
        for (const r of rs) {
          assert.equal(r.status, 200);
          pids.add(pidOf(r.text));
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(
        [...pids].some((p) => !first.has(p)),
        'new workers served',
      );
      assert.match(
        tsgi.output,
        /recycling worker \d \(pid \d+\): lifetime reached, it was running for \d+ second/,
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

/** Poll until a request is answered by a worker other than `old`; returns that pid. */
async function waitForNewPid(base: string, old: number): Promise<number> {
  let pid = old;
  await waitFor(
    async () => {
      pid = pidOf((await fetchRaw(`${base}/`)).text);
      return pid !== old;
    },
    10_000,
    'a request served by the replacement',
  );
  return pid;
}
