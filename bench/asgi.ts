/**
 * ASGI benchmark: tsgi (`asgi = ...`) beside uvicorn (Debian python3-uvicorn) with the same worker
 * count and the same app (bench/apps/asgi_hello.py): HTTP hello world (requests per second, server
 * CPU per request), WebSocket echo (messages per second, server CPU per echo), and the memory each
 * idle WebSocket costs the whole server (master and workers). Each server runs with one worker and
 * with `--workers` workers.
 *
 *   npm run build && node dist/bench/asgi.js [--seconds 10] [--workers 2] [--connections 50] [--idle 1000]
 *
 * Writes bench/results/asgi.json and prints markdown tables for docs/benchmarks.md.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  BENCH,
  freePort,
  groupCpuSeconds,
  groupMemory,
  type LoadResult,
  markdownTable,
  numberOption,
  ROOT,
  runWrk,
  type Server,
  saveResults,
  sleep,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = numberOption('seconds', 10);
const WORKERS = numberOption('workers', 2);
const CONNECTIONS = numberOption('connections', 50);
const IDLE = numberOption('idle', 1000);
const SYSTEM_PYTHON = '/usr/bin/python3';
const APPS = join(BENCH, 'apps');

interface Kind {
  readonly name: string;
  start(port: number, workers: number): Promise<Server>;
}

const kinds: Kind[] = [
  {
    name: 'tsgi (asgi)',
    start: (port, workers) =>
      startServer(
        'tsgi',
        process.execPath,
        [
          join(ROOT, 'dist/core/cli.js'),
          '--http-socket',
          `127.0.0.1:${port}`,
          '--chdir',
          APPS,
          '--asgi',
          'asgi_hello:app',
          '--processes',
          String(workers),
          '--asgi-concurrency',
          String(IDLE + 200),
          '--python-bin',
          SYSTEM_PYTHON,
          '--disable-logging',
        ],
        port,
      ),
  },
  {
    name: 'uvicorn',
    start: (port, workers) =>
      startServer(
        'uvicorn',
        SYSTEM_PYTHON,
        [
          '-m',
          'uvicorn',
          'asgi_hello:app',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--workers',
          String(workers),
          '--no-access-log',
          '--log-level',
          'warning',
        ],
        port,
        {},
        APPS,
      ),
  },
];

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** `connections` clients each echoing a 64-byte text message back and forth for `seconds`. */
async function echoLoad(s: Server, url: string, seconds: number, connections: number) {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(url)));
  const payload = 'x'.repeat(64);
  let echoes = 0;
  let running = true;
  for (const ws of sockets)
    ws.on('message', () => {
      echoes++;
      if (running) ws.send(payload);
    });
  const cpu0 = groupCpuSeconds(s.child.pid!);
  const t0 = performance.now();
  for (const ws of sockets) ws.send(payload);
  await sleep(seconds * 1000);
  running = false;
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = groupCpuSeconds(s.child.pid!) - cpu0;
  const n = echoes;
  for (const ws of sockets) ws.terminate();
  await sleep(500);
  return { echoesPerSec: n / elapsed, cpuUsPerEcho: (cpu / n) * 1e6 };
}

/** Memory of the server group per idle WebSocket: `idle` sockets opened after a warm-up of 100. */
async function idleMemory(s: Server, url: string, idle: number) {
  const warm = await Promise.all(Array.from({ length: 100 }, () => open(url)));
  await sleep(1000);
  const pgid = s.child.pid!;
  const before = groupMemory(pgid);
  const master0 = rss(pgid);
  const sockets: WebSocket[] = [];
  for (let i = 0; i < idle; i += 100)
    sockets.push(...(await Promise.all(Array.from({ length: Math.min(100, idle - i) }, () => open(url)))));
  await sleep(1000);
  const after = groupMemory(pgid);
  const master1 = rss(pgid);
  for (const ws of [...warm, ...sockets]) ws.terminate();
  await sleep(500);
  return {
    rssKiBPerSocket: (after.rss - before.rss) / idle / 1024,
    pssKiBPerSocket: (after.pss - before.pss) / idle / 1024,
    leaderRssKiBPerSocket: (master1 - master0) / idle / 1024,
  };
}

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

async function main(): Promise<void> {
  const http: Array<Row<LoadResult>> = [];
  const ws: Array<Row<{ echoesPerSec: number; cpuUsPerEcho: number }>> = [];
  const mem: Array<Row<{ rssKiBPerSocket: number; pssKiBPerSocket: number; leaderRssKiBPerSocket: number }>> =
    [];
  for (const workers of [...new Set([1, WORKERS])])
    for (const k of kinds) await measure(k, workers, http, ws, mem);
  const path = saveResults('asgi', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    connections: CONNECTIONS,
    idle: IDLE,
    http,
    websocketEcho: ws,
    idleMemory: mem,
  });
  process.stdout.write(
    `${markdownTable(
      ['server', 'workers', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'server CPU µs/req', 'RSS MB'],
      http.map((r) => [
        r.server,
        r.workers,
        r.rps.toFixed(0),
        r.p50ms.toFixed(2),
        r.p99ms.toFixed(2),
        r.errors + r.non2xx,
        r.cpuUsPerReq.toFixed(0),
        r.rssMB.toFixed(0),
      ]),
    )}\n\n${markdownTable(
      ['server', 'workers', 'echoes/s', 'server CPU µs/echo'],
      ws.map((r) => [r.server, r.workers, r.echoesPerSec.toFixed(0), r.cpuUsPerEcho.toFixed(0)]),
    )}\n\n${markdownTable(
      ['server', 'workers', 'RSS KiB per idle WebSocket', 'PSS KiB', 'of which the master/supervisor (RSS)'],
      mem.map((r) => [
        r.server,
        r.workers,
        r.rssKiBPerSocket.toFixed(1),
        r.pssKiBPerSocket.toFixed(1),
        r.leaderRssKiBPerSocket.toFixed(1),
      ]),
    )}\n\n(${path})\n`,
  );
}

/** What one server configuration measured. */
type Row<T> = { server: string; workers: number } & T;

/** One server with `workers` workers: HTTP, WebSocket echo, idle memory. */
async function measure(
  k: Kind,
  workers: number,
  http: Array<Row<LoadResult>>,
  ws: Array<Row<{ echoesPerSec: number; cpuUsPerEcho: number }>>,
  mem: Array<Row<{ rssKiBPerSocket: number; pssKiBPerSocket: number; leaderRssKiBPerSocket: number }>>,
): Promise<void> {
  const port = await freePort();
  const s = await k.start(port, workers);
  const label = `${k.name}, ${workers} worker(s)`;
  try {
    const url = `http://127.0.0.1:${port}/`;
    runWrk(s, url, { seconds: 2, connections: CONNECTIONS }); // warm-up
    const r = runWrk(s, url, { seconds: SECONDS, connections: CONNECTIONS });
    http.push({ server: k.name, workers, ...r });
    process.stderr.write(`${label}: ${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req\n`);
    const wsUrl = `ws://127.0.0.1:${port}/echo`;
    await echoLoad(s, wsUrl, 2, CONNECTIONS); // warm-up
    const e = await echoLoad(s, wsUrl, SECONDS, CONNECTIONS);
    ws.push({ server: k.name, workers, ...e });
    process.stderr.write(
      `${label}: ${e.echoesPerSec.toFixed(0)} echoes/s, ${e.cpuUsPerEcho.toFixed(0)} µs CPU/echo\n`,
    );
    const m = await idleMemory(s, wsUrl, IDLE);
    mem.push({ server: k.name, workers, ...m });
    process.stderr.write(
      `${label}: ${m.rssKiBPerSocket.toFixed(1)} KiB RSS, ${m.pssKiBPerSocket.toFixed(1)} KiB PSS per idle WebSocket\n`,
    );
  } finally {
    await stopServer(s);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
