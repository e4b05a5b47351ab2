/**
 * Foundation benchmark: HTTP clients → Python WSGI apps, tsgi beside uWSGI (`--http` router mode with
 * and without keep-alive, and `--http-socket`) and gunicorn (sync), same apps and worker count.
 *
 *   npm run build && node dist/bench/http-wsgi.js [--seconds 10] [--workers 2] [--connections 50]
 *
 * Writes bench/results/http-wsgi.json and prints a markdown table for docs/benchmarks.md.
 */
import { join } from 'node:path';
import {
  BENCH,
  benchOption,
  freePort,
  have,
  type LoadResult,
  markdownTable,
  ROOT,
  runWrk,
  type Server,
  saveResults,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = benchOption('seconds', 10);
const WORKERS = benchOption('workers', 2);
const CONNECTIONS = benchOption('connections', 50);
const SYSTEM_PYTHON = '/usr/bin/python3';
const APPS = join(BENCH, 'apps');

interface AppCase {
  name: string;
  file: string;
  path: string;
  script?: string;
}
const cases: AppCase[] = [
  { name: 'hello world', file: 'hello.py', path: '/' },
  { name: 'Flask JSON', file: 'flask_json.py', path: '/' },
  { name: '1 MiB body', file: 'big.py', path: '/' },
  { name: 'POST echo 4 KiB', file: 'echo.py', path: '/', script: join(APPS, 'post.lua') },
];

interface ServerKind {
  name: string;
  start(app: string, port: number): Promise<Server>;
}

/** uWSGI with `plugins` listening through `flag` (and `extra`), master and WORKERS workers, no request log. */
function uwsgiKind(
  name: string,
  id: string,
  [plugins, flag]: [string, string],
  extra: string[] = [],
): ServerKind {
  return {
    name,
    start: (app, port) =>
      startServer(
        id,
        'uwsgi',
        [
          ...['--plugin', plugins, flag, `127.0.0.1:${port}`, ...extra, '--wsgi-file', join(APPS, app)],
          ...['--master', '--processes', String(WORKERS), '--disable-logging', '--die-on-term', '--need-app'],
        ],
        port,
      ),
  };
}

const kinds: ServerKind[] = [
  {
    name: 'tsgi --http-socket',
    start: (app, port) =>
      startServer(
        'tsgi',
        process.execPath,
        [
          join(ROOT, 'dist/core/cli.js'),
          '--http-socket',
          `127.0.0.1:${port}`,
          '--wsgi-file',
          join(APPS, app),
          '--processes',
          String(WORKERS),
          '--python-bin',
          SYSTEM_PYTHON,
          '--disable-logging',
        ],
        port,
      ),
  },
  uwsgiKind(
    'uWSGI --http --http-keepalive',
    'uwsgi-http-ka',
    ['python3,http', '--http'],
    ['--http-keepalive'],
  ),
  uwsgiKind('uWSGI --http', 'uwsgi-http', ['python3,http', '--http']),
  uwsgiKind('uWSGI --http-socket', 'uwsgi-http-socket', ['python3', '--http-socket']),
  {
    name: 'gunicorn (sync)',
    start: (app, port) =>
      startServer(
        'gunicorn',
        'gunicorn',
        [
          '-w',
          String(WORKERS),
          '-b',
          `127.0.0.1:${port}`,
          '--chdir',
          APPS,
          `${app.replace(/\.py$/, '')}:application`,
        ],
        port,
      ),
  },
];

async function main(): Promise<void> {
  const results: Array<{ server: string; app: string } & LoadResult> = [];
  for (const c of cases) {
    for (const k of kinds) {
      if (k.name.startsWith('uWSGI') && !have('uwsgi')) continue;
      if (k.name.startsWith('gunicorn') && !have('gunicorn')) continue;
      const port = await freePort();
      const s = await k.start(c.file, port);
      try {
        runWrk(s, `http://127.0.0.1:${port}${c.path}`, {
          seconds: 2,
          connections: CONNECTIONS,
          script: c.script,
        }); // warm-up
        const r = runWrk(s, `http://127.0.0.1:${port}${c.path}`, {
          seconds: SECONDS,
          connections: CONNECTIONS,
          script: c.script,
        });
        results.push({ server: k.name, app: c.name, ...r });
        process.stderr.write(
          `${c.name} / ${k.name}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99ms} ms, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req\n`,
        );
      } finally {
        await stopServer(s);
      }
    }
  }
  const path = saveResults('http-wsgi', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    results,
  });
  const rows = results.map((r) => [
    r.app,
    r.server,
    r.rps.toFixed(0),
    r.p50ms.toFixed(2),
    r.p99ms.toFixed(2),
    r.errors + r.non2xx,
    r.cpuUsPerReq.toFixed(0),
    r.rssMB.toFixed(0),
  ]);
  process.stdout.write(
    `${markdownTable(['app', 'server', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU µs/req', 'RSS MB'], rows)}\n\n(${path})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
