/**
 * Worker lifecycle benchmark: `threads` on an I/O-bound app (each request waits 50 ms). Every slot
 * can serve at most 20 requests a second, so N slots cannot exceed N / 0.05 s: the physical limit.
 * tsgi (processes × threads) beside uWSGI `--threads` and gunicorn `gthread` at the same slot counts.
 *
 *   npm run build && node dist/bench/lifecycle-threads.js [--seconds 10]
 *
 * wrk keeps twice as many connections as slots busy. Writes bench/results/lifecycle-threads.json
 * and prints a markdown table.
 */
import { join } from 'node:path';
import {
  BENCH,
  freePort,
  have,
  type LoadResult,
  markdownTable,
  numberOption,
  ROOT,
  runWrk,
  type Server,
  saveResults,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = numberOption('seconds', 10);
const SYSTEM_PYTHON = '/usr/bin/python3';
const APP = join(BENCH, 'apps', 'io50ms.py');
const SHAPES: Array<[processes: number, threads: number]> = [
  [1, 1],
  [1, 8],
  [2, 8],
  [2, 32],
];

interface Kind {
  name: string;
  needs: string;
  start(port: number, processes: number, threads: number): Promise<Server>;
}

const kinds: Kind[] = [
  {
    name: 'tsgi',
    needs: 'node',
    start: (port, p, t) =>
      startServer(
        'tsgi',
        process.execPath,
        [
          join(ROOT, 'dist/core/cli.js'),
          '--http-socket',
          `127.0.0.1:${port}`,
          '--wsgi-file',
          APP,
          '--processes',
          String(p),
          '--threads',
          String(t),
          '--python-bin',
          SYSTEM_PYTHON,
          '--disable-logging',
        ],
        port,
      ),
  },
  {
    name: 'uWSGI --http11-socket --threads',
    needs: 'uwsgi',
    start: (port, p, t) =>
      startServer(
        'uwsgi',
        'uwsgi',
        [
          '--plugin',
          'python3',
          '--http11-socket',
          `127.0.0.1:${port}`,
          '--wsgi-file',
          APP,
          '--master',
          '--processes',
          String(p),
          '--threads',
          String(t),
          '--disable-logging',
          '--die-on-term',
        ],
        port,
      ),
  },
  {
    name: 'gunicorn gthread',
    needs: 'gunicorn',
    start: (port, p, t) =>
      startServer(
        'gunicorn',
        'gunicorn',
        [
          '-k',
          'gthread',
          '-w',
          String(p),
          '--threads',
          String(t),
          '-b',
          `127.0.0.1:${port}`,
          '--chdir',
          join(BENCH, 'apps'),
          'io50ms:application',
        ],
        port,
      ),
  },
];

async function main(): Promise<void> {
  const results: Array<{ server: string; processes: number; threads: number; limit: number } & LoadResult> =
    [];
  for (const [processes, threads] of SHAPES) {
    const slots = processes * threads;
    const limit = slots / 0.05;
    for (const k of kinds) {
      if (!have(k.needs)) continue;
      const port = await freePort();
      const s = await k.start(port, processes, threads);
      try {
        const url = `http://127.0.0.1:${port}/`;
        runWrk(s, url, { seconds: 2, connections: slots * 2 }); // warm-up
        const r = runWrk(s, url, { seconds: SECONDS, connections: slots * 2 });
        results.push({ server: k.name, processes, threads, limit, ...r });
        process.stderr.write(
          `${k.name} ${processes}×${threads}: ${r.rps.toFixed(0)} req/s of ${limit} (${((100 * r.rps) / limit).toFixed(0)} %), p99 ${r.p99ms} ms, errors ${r.errors + r.non2xx}\n`,
        );
      } finally {
        await stopServer(s);
      }
    }
  }
  const path = saveResults('lifecycle-threads', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    results,
  });
  const rows = results.map((r) => [
    r.server,
    `${r.processes} × ${r.threads}`,
    r.limit,
    r.rps.toFixed(0),
    `${((100 * r.rps) / r.limit).toFixed(0)} %`,
    r.p50ms.toFixed(1),
    r.p99ms.toFixed(1),
    r.errors + r.non2xx,
  ]);
  process.stdout.write(
    `${markdownTable(['server', 'processes × threads', 'limit req/s', 'req/s', 'of limit', 'p50 ms', 'p99 ms', 'errors'], rows)}\n\n(${path})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
