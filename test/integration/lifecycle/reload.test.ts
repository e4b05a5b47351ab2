import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { accepting, readStats } from '../../helpers/stats.js';
import { FIXTURES, fetchRaw, startTsgi, type TsgiProcess, tempDir, waitFor } from '../../helpers/tsgi.js';

/** A copy of version.py in a temp dir whose version.txt the test rewrites between reloads. */
function versionedApp(dir: string, version: string): string {
  const app = join(dir, 'version.py');
  copyFileSync(`${FIXTURES}/apps/version.py`, app);
  writeFileSync(join(dir, 'version.txt'), version);
  return app;
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
    const dir = tempDir();
    try {
      const app = versionedApp(dir.path, 'v1');
      const reloadFile = join(dir.path, 'reload.touch');
      const chainFile = join(dir.path, 'chain.touch');
      writeFileSync(reloadFile, '');
      writeFileSync(chainFile, '');
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        app,
        '--processes',
        '3',
        '--touch-reload',
        reloadFile,
        '--touch-chain-reload',
        chainFile,
        '--stats',
        '127.0.0.1:0',
      ]);
      try {
        writeFileSync(join(dir.path, 'version.txt'), 'v2');
        touch(reloadFile);
        await tsgi.waitForLine(/reload\.touch touched: graceful reload/);
        await tsgi.waitForLine(/reload done \(generation 2/);
        await allWorkersRun(tsgi, 'v2');
        writeFileSync(join(dir.path, 'version.txt'), 'v3');
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
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test("the master FIFO takes uWSGI's letters", async () => {
    const dir = tempDir();
    try {
      const app = versionedApp(dir.path, 'v1');
      const fifo = join(dir.path, 'master.fifo');
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        app,
        '--processes',
        '2',
        '--master-fifo',
        fifo,
        '--stats',
        '127.0.0.1:0',
      ]);
      const send = (letters: string) => appendFileSync(fifo, letters);
      try {
        writeFileSync(join(dir.path, 'version.txt'), 'v2');
        send('r');
        await tsgi.waitForLine(/reload done \(generation 2/);
        await allWorkersRun(tsgi, 'v2');
        writeFileSync(join(dir.path, 'version.txt'), 'v3');
        send('c');
        await tsgi.waitForLine(/chain reload done \(generation 3/, 30_000);
        await allWorkersRun(tsgi, 'v3');
        send('++');
        await waitFor(async () => (await readStats(tsgi)).workers.length === 4, 10_000, '4 workers');
        send('-');
        await waitFor(async () => (await readStats(tsgi)).workers.length === 3, 10_000, '3 workers');
        send('s');
        await tsgi.waitForLine(/tsgi: worker \d pid \d+ gen 3 ready requests \d+ in-flight 0/);
        send('x');
        await tsgi.waitForLine(/unknown master-fifo command 'x'/);
        send('q');
        assert.equal(await tsgi.wait(20_000), 0);
      } finally {
        await tsgi.stop();
      }
    } finally {
      dir.cleanup();
    }
  });

  test('a chain reload whose new code does not import is abandoned; the old workers keep serving', async () => {
    const dir = tempDir();
    try {
      const app = versionedApp(dir.path, 'v1');
      const fifo = join(dir.path, 'master.fifo');
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        app,
        '--processes',
        '2',
        '--master-fifo',
        fifo,
      ]);
      try {
        writeFileSync(app, 'raise ImportError("broken deploy")\n');
        appendFileSync(fifo, 'c');
        await tsgi.waitForLine(/chain reload abandoned/);
        assert.match(tsgi.output, /ImportError: broken deploy/);
        for (let i = 0; i < 4; i++) assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^v1 /);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('under steady load, chain and graceful reloads with new code fail no request', async () => {
    const dir = tempDir();
    try {
      const app = versionedApp(dir.path, 'v0');
      const fifo = join(dir.path, 'master.fifo');
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        app,
        '--processes',
        '2',
        '--master-fifo',
        fifo,
        '--disable-logging',
        '--stats',
        '127.0.0.1:0',
      ]);
      try {
        const traffic = load(tsgi.url(), 8);
        let version = 0;
        for (const kind of ['chain', 'graceful', 'chain', 'graceful']) {
          writeFileSync(join(dir.path, 'version.txt'), `v${++version}`);
          if (kind === 'chain') {
            appendFileSync(fifo, 'c');
            await tsgi.waitForLine(new RegExp(`chain reload done \\(generation ${version + 1},`), 30_000);
          } else {
            tsgi.signal('SIGHUP');
            await tsgi.waitForLine(new RegExp(`reload done \\(generation ${version + 1},`), 30_000);
          }
        }
        await new Promise((r) => setTimeout(r, 500));
        const r = await traffic.stop();
        assert.equal(r.failed, 0, `failed requests: ${r.errors.slice(0, 5).join('; ')}`);
        assert.equal(r.non2xx, 0);
        assert.ok(r.ok > 100, `${r.ok} requests served`);
        assert.ok(r.versions.has('v4'));
        await allWorkersRun(tsgi, 'v4');
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });
});
