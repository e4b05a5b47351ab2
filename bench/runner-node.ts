/**
 * Node runner benchmark: the same unmodified Express app (bench/apps/express.cjs, which calls
 * `app.listen(PORT)`) under tsgi's Node runner, under Node's `cluster` module, and under PM2 in
 * cluster mode when `pm2-runtime` is found (on PATH or in $PM2_RUNTIME), each with the same number
 * of worker processes; wrk on loopback.
 *
 *   npm run build && node dist/bench/runner-node.js [--seconds 5] [--workers 2] [--connections 50]
 *
 * CPU time per request is the whole server tree's (master and workers, or primary and workers),
 * from /proc. Writes bench/results/runner-node.json and prints a markdown table.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH,
  freePort,
  have,
  numberOption,
  type ResultRow,
  ROOT,
  resultTable,
  runWrk,
  type Server,
  saveResults,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = numberOption('seconds', 5);
const WORKERS = numberOption('workers', 2);
const CONNECTIONS = numberOption('connections', 50);
const APP = join(BENCH, 'apps', 'express.cjs');
const PM2 = process.env.PM2_RUNTIME ?? (have('pm2-runtime') ? 'pm2-runtime' : null);

const cases = [
  { name: 'hello world', path: '/' },
  { name: 'JSON (20 items)', path: '/json' },
  { name: '64 KiB body', path: '/64k' },
];

interface Kind {
  readonly name: string;
  start(port: number): Promise<Server>;
}

const kinds: Kind[] = [
  {
    name: `tsgi node runner (${WORKERS} workers)`,
    start: (port) =>
      startServer(
        'tsgi',
        process.execPath,
        [
          join(ROOT, 'dist/core/cli.js'),
          '--http-socket',
          `127.0.0.1:${port}`,
          '--node-app',
          APP,
          '--processes',
          String(WORKERS),
          '--disable-logging',
        ],
        port,
      ),
  },
  {
    name: `node cluster (${WORKERS} workers)`,
    start: (port) =>
      startServer('cluster', process.execPath, [join(BENCH, 'apps', 'express-cluster.cjs')], port, {
        PORT: String(port),
        WORKERS: String(WORKERS),
      }),
  },
];
const pm2Homes: string[] = [];
if (PM2)
  kinds.push({
    name: `PM2 cluster mode (${WORKERS} instances)`,
    start: (port) => {
      const home = mkdtempSync(join(tmpdir(), 'tsgi-bench-pm2-'));
      pm2Homes.push(home);
      return startServer('pm2', PM2, ['start', APP, '-i', String(WORKERS)], port, {
        PORT: String(port),
        PM2_HOME: home,
      });
    },
  });

async function main(): Promise<void> {
  if (!have('wrk')) throw new Error('wrk is needed');
  const rows: ResultRow[] = [];
  for (const kind of kinds) {
    const port = await freePort();
    const server = await kind.start(port);
    try {
      for (const c of cases) {
        const url = `http://127.0.0.1:${port}${c.path}`;
        runWrk(server, url, { seconds: 1, connections: CONNECTIONS });
        const r = runWrk(server, url, { seconds: SECONDS, connections: CONNECTIONS });
        rows.push({ server: kind.name, app: c.name, ...r });
        process.stderr.write(`${c.name} / ${kind.name}: ${Math.round(r.rps)} req/s\n`);
      }
    } finally {
      await stopServer(server);
    }
  }
  if (!PM2) process.stderr.write('pm2-runtime not found (set PM2_RUNTIME): PM2 rows skipped\n');
  const path = saveResults('runner-node', {
    date: new Date().toISOString(),
    node: process.version,
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    pm2: PM2 !== null,
    rows,
  });
  const table = resultTable(rows, 'app');
  process.stdout.write(`${table}\n\nwritten to ${path}\n`);
  for (const d of pm2Homes) rmSync(d, { recursive: true, force: true });
}

await main();
