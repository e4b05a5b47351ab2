import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { accepting, readStats } from '../../helpers/stats.js';
import { FIXTURES, fetchRaw, startTsgi, TsgiProcess, waitFor } from '../../helpers/tsgi.js';

const SLEEPY = `${FIXTURES}/apps/sleepy.py`;

/** An instance of sleepy.py with a stats server; `extra` arguments after the defaults. */
function start(extra: string[]): Promise<TsgiProcess> {
  return startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--wsgi-file',
    SLEEPY,
    '--stats',
    '127.0.0.1:0',
    ...extra,
  ]);
}

/** `clients` loops of slow requests until `stop()`; every answer must be 200. */
function busy(base: string, clients: number, path: string) {
  let running = true;
  const statuses: number[] = [];
  const loops = [...Array(clients)].map(async () => {
    while (running) statuses.push((await fetchRaw(`${base}${path}`)).status);
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return statuses;
    },
  };
}

async function workerCount(tsgi: TsgiProcess): Promise<number> {
  return accepting(await readStats(tsgi)).length;
}

describe('cheaper subsystem', () => {
  test('spare: workers are added while all are busy and retired one by one when idle', async () => {
    const tsgi = await start(['--processes', '4', '--cheaper', '1', '--cheaper-overload', '1']);
    try {
      assert.equal(await workerCount(tsgi), 1, 'starts with cheaper-initial = cheaper workers');
      const load = busy(tsgi.url(), 6, '/sleep?0.3');
      await waitFor(async () => (await workerCount(tsgi)) === 4, 30_000, 'scaling up to processes', 250);
      const statuses = await load.stop();
      assert.ok(statuses.every((s) => s === 200));
      await waitFor(async () => (await workerCount(tsgi)) === 1, 30_000, 'scaling down to cheaper', 250);
      assert.match(tsgi.output, /cheaper \(spare\): 1 → 2 worker\(s\)/);
      assert.match(tsgi.output, /cheaper \(spare\): 2 → 1 worker\(s\)/);
      assert.match(tsgi.output, /exited \(cheaper, exit code 0\)/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('backlog: workers are added while requests queue', async () => {
    const tsgi = await start([
      '--processes',
      '3',
      '--cheaper',
      '1',
      '--cheaper-algo',
      'backlog',
      '--cheaper-overload',
      '2',
    ]);
    try {
      const load = busy(tsgi.url(), 8, '/sleep?0.3');
      await waitFor(async () => (await workerCount(tsgi)) === 3, 30_000, 'scaling up', 250);
      assert.ok((await load.stop()).every((s) => s === 200));
      await waitFor(async () => (await workerCount(tsgi)) === 1, 30_000, 'scaling down', 250);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('manual: SIGTTIN/SIGTTOU and nothing else change the count, within cheaper..processes', async () => {
    const tsgi = await start(['--processes', '3', '--cheaper', '1', '--cheaper-algo', 'manual']);
    try {
      // One signal at a time: the kernel merges a signal sent while the same one is pending.
      for (const n of [2, 3]) {
        tsgi.signal('SIGTTIN');
        await waitFor(async () => (await workerCount(tsgi)) === n, 10_000, `${n} workers`);
      }
      tsgi.signal('SIGTTIN');
      await tsgi.waitForLine(/already running the most workers cheaper mode allows \(processes = 3\)/);
      tsgi.signal('SIGTTOU');
      await waitFor(async () => (await workerCount(tsgi)) === 2, 10_000, '2 workers');
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await workerCount(tsgi), 2, 'manual mode does not scale by itself');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('cheaper must be below processes, as uWSGI insists', async () => {
    const tsgi = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      SLEEPY,
      '--processes',
      '2',
      '--cheaper',
      '2',
    ]);
    assert.equal(await tsgi.wait(15_000), 1);
    assert.match(tsgi.output, /option 'cheaper': must be lower than processes \(2\)/);
  });
});
