import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { accepting, readStats } from '../../helpers/stats.js';
import { FIXTURES, fetchRaw, startTsgi, type TsgiProcess, tempDir, waitFor } from '../../helpers/tsgi.js';

/** An instance serving a copy of version.py (which reads version.txt at import), with a master FIFO. */
interface Deploy {
  readonly tsgi: TsgiProcess;
  readonly dir: string;
  readonly app: string;
  /** Write the version the next import of the app reads. */
  setVersion(v: string): void;
  /** Write letters to the master FIFO. */
  send(letters: string): void;
}

/**
 * Run `fn` against a 2-worker instance of version.py (v1) with a master FIFO and stats; `extra`
 * arguments come last (so they win). The instance must stop with exit code 0.
 */
async function withDeploy(extra: string[], fn: (d: Deploy) => Promise<void>): Promise<void> {
  const dir = tempDir();
  try {
    const app = join(dir.path, 'version.py');
    copyFileSync(`${FIXTURES}/apps/version.py`, app);
    const setVersion = (v: string) => writeFileSync(join(dir.path, 'version.txt'), v);
    setVersion('v1');
    const fifo = join(dir.path, 'master.fifo');
    const tsgi = await startTsgi([
      ...['--http-socket', '127.0.0.1:0', '--wsgi-file', app, '--processes', '2'],
      ...['--master-fifo', fifo, '--stats', '127.0.0.1:0', ...extra],
    ]);
    try {
      await fn({ tsgi, dir: dir.path, app, setVersion, send: (letters) => appendFileSync(fifo, letters) });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  } finally {
    dir.cleanup();
  }
}

function touch(path: string): void {
  const t = new Date(Date.now() + Math.floor(Math.random() * 1000) * 1000);
  utimesSync(path, t, t);
}

/** Every worker of the instance answers with `version` (asked through the stats pids). */
async function allWorkersRun(tsgi: TsgiProcess, version: string): Promise<void> {
  const pids = new Set(accepting(await readStats(tsgi)).map((w) => w.pid));
  const seen = new Map<number, string>();
  for (let i = 0; i < 40 && seen.size < pids.size; i++) {
    const rs = await Promise.all([...pids].map(() => fetchRaw(`${tsgi.url()}/sleep?0.05`)));
    for (const r of rs) {
      const [v, pid] = r.text.trim().split(' ');
      seen.set(Number(pid), v!);
    }
  }
  for (const pid of pids) assert.equal(seen.get(pid), version, `worker ${pid} runs ${version}`);
}

/**
 * Steady keep-alive load from `clients` concurrent clients until `stop()`; counts what the
 * reload-under-load proof counts: failed requests and non-2xx answers.
 */
function load(base: string, clients: number) {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const result = { ok: 0, non2xx: 0, failed: 0, errors: [] as string[], versions: new Set<string>() };
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request(`${base}/`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) result.ok++;
          else result.non2xx++;
          result.versions.add(body.split(' ')[0]!);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', (err) => {
        result.failed++;
        result.errors.push(err.message);
        resolve();
      });
      req.end();
    });
  const loops = [...Array(clients)].map(async () => {
    while (running) await one();
  });
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}

describe('reloads without downtime', () => {
  test('touch-reload reloads gracefully; touch-chain-reload replaces workers one at a time', async () => {
    const touchDir = tempDir();
    const reloadFile = join(touchDir.path, 'reload.touch');
    const chainFile = join(touchDir.path, 'chain.touch');
    writeFileSync(reloadFile, '');
    writeFileSync(chainFile, '');
    try {
      const extra = ['--processes', '3', '--touch-reload', reloadFile, '--touch-chain-reload', chainFile];
      await withDeploy(extra, async ({ tsgi, setVersion }) => {
        setVersion('v2');
        touch(reloadFile);
        await tsgi.waitForLine(/reload\.touch touched: graceful reload/);
        await tsgi.waitForLine(/reload done \(generation 2/);
        await allWorkersRun(tsgi, 'v2');
        setVersion('v3');
        touch(chainFile);
        await tsgi.waitForLine(/chain\.touch touched: chain reload/);
        await tsgi.waitForLine(/chain reload done \(generation 3, 3 worker\(s\) replaced\)/, 30_000);
        await allWorkersRun(tsgi, 'v3');
        // One at a time: worker k+1's successor is only started once worker k was replaced.
        const out = tsgi.output;
        const replaced1 = out.indexOf('chain reload: worker 1 replaced');
        const spawned2 = out.search(/spawned worker 2 \(pid \d+, generation 3\)/);
        const replaced2 = out.indexOf('chain reload: worker 2 replaced');
        const spawned3 = out.search(/spawned worker 3 \(pid \d+, generation 3\)/);
        assert.ok(replaced1 > 0 && spawned2 > replaced1, 'worker 2 was started after worker 1 was replaced');
        assert.ok(
          replaced2 > spawned2 && spawned3 > replaced2,
          'worker 3 was started after worker 2 was replaced',
        );
      });
    } finally {
      touchDir.cleanup();
    }
  });

  test("the master FIFO takes uWSGI's letters", async () => {
    await withDeploy([], async ({ tsgi, setVersion, send }) => {
      setVersion('v2');
      send('r');
      await tsgi.waitForLine(/reload done \(generation 2/);
      await allWorkersRun(tsgi, 'v2');
      setVersion('v3');
      send('c');
      await tsgi.waitForLine(/chain reload done \(generation 3/, 30_000);
      await allWorkersRun(tsgi, 'v3');
      setVersion('v4');
      send('w');
      await tsgi.waitForLine(/graceful workers reload requested/);
      await tsgi.waitForLine(/reload done \(generation 4/);
      await allWorkersRun(tsgi, 'v4');
      send('++');
      await waitFor(async () => accepting(await readStats(tsgi)).length === 4, 10_000, '4 workers');
      send('-');
      await waitFor(async () => accepting(await readStats(tsgi)).length === 3, 10_000, '3 workers');
      send('s');
      await tsgi.waitForLine(/tsgi: worker \d pid \d+ gen 4 ready requests \d+ in-flight 0/);
      send('x');
      await tsgi.waitForLine(/unknown master-fifo command 'x'/);
      send('q');
      assert.equal(await tsgi.wait(20_000), 0);
    });
  });

  test('a chain reload whose new code does not import is abandoned; the old workers keep serving', async () => {
    await withDeploy([], async ({ tsgi, app, send }) => {
      writeFileSync(app, 'raise ImportError("broken deploy")\n');
      send('c');
      await tsgi.waitForLine(/chain reload abandoned/);
      assert.match(tsgi.output, /ImportError: broken deploy/);
      for (let i = 0; i < 4; i++) assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^v1 /);
    });
  });

  test('worker-reload-mercy: a retired worker still busy when the mercy runs out is killed; its request gets 502', async () => {
    await withDeploy(['--worker-reload-mercy', '1', '--processes', '1'], async ({ tsgi, setVersion }) => {
      const stuck = fetchRaw(`${tsgi.url()}/sleep?30`);
      await new Promise((r) => setTimeout(r, 300));
      setVersion('v2');
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload done \(generation 2/);
      assert.equal((await stuck).status, 502);
      await tsgi.waitForLine(/worker 1 \(pid \d+\) still busy after worker-reload-mercy; killing it/);
      await tsgi.waitForLine(/exited \(reload, killed by SIGKILL\)/);
      assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^v2 /);
    });
  });

  test('FIFO R (brutal reload): the old workers are killed once the new ones are ready', async () => {
    await withDeploy(['--processes', '1'], async ({ tsgi, setVersion, send }) => {
      const busy = fetchRaw(`${tsgi.url()}/sleep?30`);
      await new Promise((r) => setTimeout(r, 300));
      setVersion('v2');
      send('R');
      await tsgi.waitForLine(/brutal reload requested/);
      await tsgi.waitForLine(/reload done \(generation 2/);
      assert.equal((await busy).status, 502);
      assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^v2 /);
    });
  });

  for (const lazy of [false, true])
    test(`under steady load, chain and graceful reloads with new code fail no request${lazy ? ' (lazy-apps)' : ''}`, async () => {
      await withDeploy(
        ['--disable-logging', ...(lazy ? ['--lazy-apps'] : [])],
        async ({ tsgi, setVersion, send }) => {
          const traffic = load(tsgi.url(), 8);
          let version = 1;
          for (const kind of ['chain', 'graceful', 'chain', 'graceful']) {
            setVersion(`v${++version}`);
            const generation = version;
            if (kind === 'chain') {
              send('c');
              await tsgi.waitForLine(new RegExp(`chain reload done \\(generation ${generation},`), 30_000);
            } else {
              tsgi.signal('SIGHUP');
              await tsgi.waitForLine(new RegExp(`reload done \\(generation ${generation},`), 30_000);
            }
          }
          await new Promise((r) => setTimeout(r, 500));
          const r = await traffic.stop();
          assert.equal(r.failed, 0, `failed requests: ${r.errors.slice(0, 5).join('; ')}`);
          assert.equal(r.non2xx, 0);
          assert.ok(r.ok > 100, `${r.ok} requests served`);
          assert.ok(r.versions.has('v5'));
          await allWorkersRun(tsgi, 'v5');
        },
      );
    });
});
