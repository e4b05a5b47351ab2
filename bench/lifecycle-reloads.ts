/**
 * Worker lifecycle benchmark: requests failed while an instance reloads under steady load, with the
 * app's code changing between versions. tsgi (graceful SIGHUP, chain reload through the master
 * FIFO, and the proof: chain and graceful reloads alternating) beside uWSGI (SIGHUP with
 * `--http11-socket` and with its HTTP router; chain reload with lazy-apps through its FIFO) and
 * gunicorn (SIGHUP), same app, workers and load. Every server keeps client connections alive
 * (gunicorn's sync workers close them after each response, which wrk handles without errors).
 *
 *   npm run build && node dist/bench/lifecycle-reloads.js [--seconds 30] [--reloads 10] [--workers 2] [--connections 20]
 *
 * Each run: wrk for `seconds`; `reloads` reloads spread over the run, each after writing a new
 * version; afterwards every answer must carry the last version. Writes
 * bench/results/lifecycle-reloads.json and prints a markdown table for docs/benchmarks.md.
 */
import { appendFileSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH,
  freePort,
  have,
  type LoadResult,
  markdownTable,
  numberOption,
  ROOT,
  type Server,
  saveResults,
  sleep,
  startServer,
  startWrk,
  stopServer,
} from './lib.js';

const SECONDS = numberOption('seconds', 30);
const RELOADS = numberOption('reloads', 10);
const WORKERS = numberOption('workers', 2);
const CONNECTIONS = numberOption('connections', 20);
const SYSTEM_PYTHON = '/usr/bin/python3';

/** How one reload is asked for. */
type Method = 'sighup' | 'fifo-c' | 'alternate';

interface Case {
  server: string;
  method: Method;
  needs: string;
  /** Reloads in the run (the alternating proof does twice as many: one of each kind per step). */
  reloads: number;
  start(dir: string, port: number): Promise<Server>;
}

const tsgiArgs = (dir: string, port: number) => [
  join(ROOT, 'dist/core/cli.js'),
  '--http-socket',
  `127.0.0.1:${port}`,
  '--wsgi-file',
  join(dir, 'app.py'),
  '--processes',
  String(WORKERS),
  '--python-bin',
  SYSTEM_PYTHON,
  '--master-fifo',
  join(dir, 'fifo'),
  '--disable-logging',
];
/** uWSGI with keep-alive: `--http11-socket`, or its HTTP router (`--http --http-keepalive`). */
const uwsgiArgs = (dir: string, port: number, extra: string[], router = false) => [
  '--plugin',
  router ? 'python3,http' : 'python3',
  ...(router
    ? ['--http', `127.0.0.1:${port}`, '--http-keepalive']
    : ['--http11-socket', `127.0.0.1:${port}`]),
  '--wsgi-file',
  join(dir, 'app.py'),
  '--master',
  '--processes',
  String(WORKERS),
  '--master-fifo',
  join(dir, 'fifo'),
  '--disable-logging',
  '--die-on-term',
  '--need-app',
  ...extra,
];

const cases: Case[] = [
  {
    server: 'tsgi',
    method: 'sighup',
    needs: 'node',
    reloads: RELOADS,
    start: (d, p) => startServer('tsgi', process.execPath, tsgiArgs(d, p), p),
  },
  {
    server: 'tsgi',
    method: 'fifo-c',
    needs: 'node',
    reloads: RELOADS,
    start: (d, p) => startServer('tsgi', process.execPath, tsgiArgs(d, p), p),
  },
  {
    server: 'tsgi',
    method: 'alternate',
    needs: 'node',
    reloads: RELOADS * 2,
    start: (d, p) => startServer('tsgi', process.execPath, tsgiArgs(d, p), p),
  },
  {
    server: 'uWSGI --http11-socket',
    method: 'sighup',
    needs: 'uwsgi',
    reloads: RELOADS,
    start: (d, p) => startServer('uwsgi', 'uwsgi', uwsgiArgs(d, p, []), p),
  },
  {
    server: 'uWSGI --http --http-keepalive',
    method: 'sighup',
    needs: 'uwsgi',
    reloads: RELOADS,
    start: (d, p) => startServer('uwsgi', 'uwsgi', uwsgiArgs(d, p, [], true), p),
  },
  {
    server: 'uWSGI --http11-socket --lazy-apps',
    method: 'fifo-c',
    needs: 'uwsgi',
    reloads: RELOADS,
    start: (d, p) => startServer('uwsgi', 'uwsgi', uwsgiArgs(d, p, ['--lazy-apps']), p),
  },
  {
    server: 'gunicorn (sync)',
    method: 'sighup',
    needs: 'gunicorn',
    reloads: RELOADS,
    start: (d, p) =>
      startServer(
        'gunicorn',
        'gunicorn',
        ['-w', String(WORKERS), '-b', `127.0.0.1:${p}`, '--chdir', d, 'app:application'],
        p,
      ),
  },
];

function answer(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`http://127.0.0.1:${port}/`, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body.split(' ')[0]!));
    }).on('error', reject);
  });
}

/**
 * After the run: the versions the next `n` answers carry (all must be the last one). A server still
 * finishing its last reload gets up to 20 s; a failed request is noted as `error`.
 */
async function versionsAfter(port: number, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  const until = Date.now() + 20_000;
  for (let i = 0; i < n; i++) {
    for (;;) {
      try {
        seen.add(await answer(port));
        break;
      } catch {
        if (Date.now() > until) {
          seen.add('error');
          break;
        }
        await sleep(200);
      }
    }
  }
  return seen;
}

async function run(
  c: Case,
): Promise<LoadResult & { server: string; method: Method; reloads: number; upToDate: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-'));
  copyFileSync(join(BENCH, 'apps', 'versioned.py'), join(dir, 'app.py'));
  writeFileSync(join(dir, 'version.txt'), 'v0');
  const port = await freePort();
  const s = await c.start(dir, port);
  try {
    const load = startWrk(s, `http://127.0.0.1:${port}/`, { seconds: SECONDS, connections: CONNECTIONS });
    const gap = (SECONDS * 1000) / (c.reloads + 1);
    for (let i = 1; i <= c.reloads; i++) {
      await sleep(gap);
      writeFileSync(join(dir, 'version.txt'), `v${i}`);
      const chain = c.method === 'fifo-c' || (c.method === 'alternate' && i % 2 === 1);
      if (chain) appendFileSync(join(dir, 'fifo'), 'c');
      else process.kill(s.child.pid!, 'SIGHUP');
    }
    const r = await load;
    await sleep(3000); // let the last reload finish
    const versions = await versionsAfter(port, 20 * WORKERS);
    const upToDate = versions.size === 1 && versions.has(`v${c.reloads}`);
    process.stderr.write(
      `${c.server} / ${c.method}: ${r.requests} requests, ${r.errors} socket errors, ${r.non2xx} non-2xx, after: ${[...versions].join(',')}\n`,
    );
    return { server: c.server, method: c.method, reloads: c.reloads, upToDate, ...r };
  } finally {
    await stopServer(s);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results = [];
  for (const c of cases) {
    if (!have(c.needs)) continue;
    results.push(await run(c));
  }
  const path = saveResults('lifecycle-reloads', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    results,
  });
  const method = {
    sighup: 'SIGHUP (graceful)',
    'fifo-c': 'FIFO `c` (chain)',
    alternate: 'chain and graceful, alternating',
  };
  const rows = results.map((r) => [
    r.server,
    method[r.method],
    r.reloads,
    r.requests,
    r.errors,
    r.non2xx,
    r.upToDate ? 'yes' : 'NO',
  ]);
  process.stdout.write(
    `${markdownTable(['server', 'reload', 'reloads', 'requests', 'failed (socket errors)', 'non-2xx', 'all on the last version'], rows)}\n\n(${path})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
