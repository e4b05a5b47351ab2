/**
 * Worker lifecycle benchmark: what the Python prototype buys. Time to start 8 workers of a Django
 * app and their total PSS (shared pages split fairly between the processes sharing them, from
 * /proc/<pid>/smaps_rollup), with the prototype (the app imported once, workers forked) and with
 * `lazy-apps` (each worker imports the app). uWSGI preforked (its default) and `--lazy-apps` beside.
 *
 *   npm run build && node dist/bench/lifecycle-prototype.js [--workers 8] [--runs 3]
 *
 * Start time: from the process start until every worker is ready: tsgi's `ready` line (every worker
 * has imported the app, or was forked after the prototype did, and said so); uWSGI's 8th `spawned
 * uWSGI worker` line (preforked: the app was imported before) or its 8th `WSGI app 0 ... ready` line
 * (lazy-apps). For tsgi also the workers' part alone (from its `serving` line, once the config is
 * read and the listeners bound). Memory is read 2 s after.
 * Writes bench/results/lifecycle-prototype.json and prints a markdown table.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childPids, isPrototype } from '../test/helpers/tsgi.js';
import {
  freePort,
  groupMemory,
  groupPids,
  have,
  markdownTable,
  numberOption,
  ROOT,
  saveResults,
  sleep,
} from './lib.js';

const WORKERS = numberOption('workers', 8);
const RUNS = numberOption('runs', 3);
const SYSTEM_PYTHON = '/usr/bin/python3';
const DJANGO = join(ROOT, 'test', 'fixtures', 'djangoproj');

interface Case {
  name: string;
  needs: string;
  cmd: string;
  args(port: number): string[];
  /** The line (and how many of them) that says every worker is ready. */
  marks: { done: RegExp; count: number };
  /** tsgi: the line logged just before the workers are started (for the workers-only time). */
  serving?: RegExp;
  /** Pids of the workers (for their PSS), given the server's pid. */
  workers(pid: number): number[];
}

/** tsgi's workers: the master's children, or the prototype's. */
function tsgiWorkers(pid: number): number[] {
  return childPids(pid).flatMap((c) => (isPrototype(c) ? childPids(c) : [c]));
}

function pss(pids: number[]): number {
  let total = 0;
  for (const p of pids) {
    try {
      total +=
        Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    } catch {}
  }
  return total;
}

const tsgi = (lazy: boolean): Case => ({
  name: lazy ? 'tsgi --lazy-apps' : 'tsgi (prototype)',
  needs: 'node',
  cmd: process.execPath,
  args: (port) => [
    join(ROOT, 'dist/core/cli.js'),
    '--http-socket',
    `127.0.0.1:${port}`,
    '--chdir',
    DJANGO,
    '--module',
    'site_conf.wsgi',
    '--processes',
    String(WORKERS),
    '--python-bin',
    SYSTEM_PYTHON,
    ...(lazy ? ['--lazy-apps'] : []),
  ],
  marks: { done: /tsgi: ready /, count: 1 },
  serving: /tsgi: serving /,
  workers: tsgiWorkers,
});

const uwsgi = (lazy: boolean): Case => ({
  name: lazy ? 'uWSGI --lazy-apps' : 'uWSGI (preforked)',
  needs: 'uwsgi',
  cmd: 'uwsgi',
  args: (port) => [
    '--plugin',
    'python3',
    '--http-socket',
    `127.0.0.1:${port}`,
    '--chdir',
    DJANGO,
    '--module',
    'site_conf.wsgi',
    '--master',
    '--processes',
    String(WORKERS),
    '--die-on-term',
    '--need-app',
    ...(lazy ? ['--lazy-apps'] : []),
  ],
  marks: lazy
    ? { done: /WSGI app 0 \(mountpoint=''\) ready/, count: WORKERS }
    : { done: /spawned uWSGI worker \d+/, count: WORKERS },
  workers: childPids,
});

interface Measure {
  /** From process start until every worker is ready, ms. */
  startMs: number;
  /** tsgi: from the `serving` line (config read, listeners bound) until every worker is ready, ms. */
  workersMs: number | null;
  workersPssMB: number;
  allPssMB: number;
  workersRssMB: number;
  workers: number;
}

async function measure(c: Case): Promise<Measure> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(c.cmd, c.args(port), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let text = '';
  let servingAt = -1;
  let doneAt = -1;
  const onData = (d: Buffer) => {
    const now = performance.now();
    text += d.toString();
    if (servingAt < 0 && c.serving?.test(text)) servingAt = now;
    const done = text.match(new RegExp(c.marks.done.source, 'g'))?.length ?? 0;
    if (doneAt < 0 && done >= c.marks.count) doneAt = now;
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  try {
    const until = Date.now() + 60_000;
    while (doneAt < 0) {
      if (child.exitCode !== null || Date.now() > until) throw new Error(`${c.name} did not start:\n${text}`);
      await sleep(20);
    }
    await sleep(2000);
    const workers = c.workers(child.pid!);
    const all = groupMemory(child.pid!);
    let rss = 0;
    for (const w of workers)
      rss += Number(/^Rss:\s+(\d+)/m.exec(readFileSync(`/proc/${w}/smaps_rollup`, 'utf8'))?.[1] ?? 0) * 1024;
    return {
      startMs: doneAt - t0,
      workersMs: servingAt >= 0 ? doneAt - servingAt : null,
      workersPssMB: pss(workers) / 1048576,
      allPssMB: all.pss / 1048576,
      workersRssMB: rss / 1048576,
      workers: workers.length,
    };
  } finally {
    const pgid = child.pid!;
    try {
      process.kill(-pgid, 'SIGTERM');
    } catch {}
    for (let i = 0; i < 50 && groupPids(pgid).length > 0; i++) await sleep(100);
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {}
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const results = [];
  for (const c of [tsgi(false), tsgi(true), uwsgi(false), uwsgi(true)]) {
    if (!have(c.needs)) continue;
    const runs: Measure[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await measure(c));
    const r = {
      server: c.name,
      workers: runs[0]!.workers,
      startMs: median(runs.map((x) => x.startMs)),
      workersMs: runs[0]!.workersMs === null ? null : median(runs.map((x) => x.workersMs!)),
      workersPssMB: median(runs.map((x) => x.workersPssMB)),
      workersRssMB: median(runs.map((x) => x.workersRssMB)),
      allPssMB: median(runs.map((x) => x.allPssMB)),
      runs,
    };
    results.push(r);
    process.stderr.write(
      `${c.name}: ${r.startMs.toFixed(0)} ms, workers PSS ${r.workersPssMB.toFixed(1)} MB (RSS ${r.workersRssMB.toFixed(1)}), all ${r.allPssMB.toFixed(1)} MB\n`,
    );
  }
  const path = saveResults('lifecycle-prototype', {
    date: new Date().toISOString(),
    app: 'Django 3.2 (test/fixtures/djangoproj)',
    runs: RUNS,
    results,
  });
  const rows = results.map((r) => [
    r.server,
    r.workers,
    r.startMs.toFixed(0),
    r.workersMs === null ? '–' : r.workersMs.toFixed(0),
    r.workersPssMB.toFixed(1),
    (r.workersPssMB / r.workers).toFixed(1),
    r.workersRssMB.toFixed(1),
    r.allPssMB.toFixed(1),
  ]);
  process.stdout.write(
    `${markdownTable(['server', 'workers', 'start to ready ms', 'workers start ms', 'workers PSS MB', 'PSS/worker MB', 'workers RSS MB', 'all processes PSS MB'], rows)}\n\n(${path})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
