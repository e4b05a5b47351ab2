import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readStats } from '../../helpers/stats.js';
import { FIXTURES, fetchRaw, startTsgi } from '../../helpers/tsgi.js';

describe('concurrency limits', () => {
  test('threads = N gives a worker exactly N concurrent slots', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/barrier.py`,
      '--threads',
      '4',
    ]);
    try {
      const base = tsgi.url();
      // Four requests meet at a barrier of four: they ran at the same time, in one process.
      const four = await Promise.all([1, 2, 3, 4].map(() => fetchRaw(`${base}/?4`)));
      assert.deepEqual(
        four.map((r) => r.status),
        [200, 200, 200, 200],
      );
      assert.equal(new Set(four.map((r) => r.text.split(' ')[0])).size, 1, 'one process');
      assert.equal(new Set(four.map((r) => r.text.split(' ')[1])).size, 4, 'four threads');
      // A barrier of five is never met: only four run at once, the fifth waits for a slot.
      const five = await Promise.all([1, 2, 3, 4, 5].map(() => fetchRaw(`${base}/?5`)));
      assert.ok(
        five.every((r) => r.status === 500),
        five.map((r) => r.status).join(),
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a burst past the listen queue gets quick 503s, counted and logged at most once a second, then recovery', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/sleepy.py`,
      '--listen',
      '5',
      '--stats',
      '127.0.0.1:0',
    ]);
    try {
      const base = tsgi.url();
      const started = Date.now();
      const burst = await Promise.all([...Array(40)].map(() => fetchRaw(`${base}/sleep?0.2`)));
      const elapsedS = (Date.now() - started) / 1000;
      const statuses = burst.map((r) => r.status);
      const ok = statuses.filter((s) => s === 200).length;
      const rejected = statuses.filter((s) => s === 503).length;
      assert.equal(ok + rejected, 40, statuses.join());
      assert.ok(rejected > 0 && ok >= 6, `${ok} served, ${rejected} rejected`);
      const stats = await readStats(tsgi);
      assert.equal(stats.listen_queue_errors, rejected);
      const lines = (tsgi.output.match(/request queue full/g) ?? []).length;
      assert.ok(lines >= 1 && lines <= Math.ceil(elapsedS) + 1, `${lines} log lines in ${elapsedS} s`);
      const after = await Promise.all([1, 2, 3].map(() => fetchRaw(`${base}/ok`)));
      assert.ok(after.every((r) => r.status === 200));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
