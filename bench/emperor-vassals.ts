// Emperor benchmark: drop N vassal files into an emperor's directory at once, time until all N
// answer HTTP 200, then measure memory per idle vassal (master + one worker) as marginal PSS
// (sum of Pss from /proc/<pid>/smaps_rollup over every process below the emperor, / N).
// Side by side: tsgi-emperor and uWSGI's emperor (Debian uwsgi-core + python3 plugin), same app.
//
//   npm run build && node dist/bench/emperor-vassals.js [--n 50] [--peer tsgi,uwsgi,uwsgi-throttle10]
//                                                        [--node-options '--max-semi-space-size=1']
// Writes bench/results/emperor-vassals.json and prints a markdown table.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { markdownTable, numberOption, ROOT, saveResults, sleep } from './lib.js';

const APP = join(ROOT, 'vassals', 'apps', 'hello.py');

interface Peer {
  readonly name: string;
  readonly command: string;
  readonly args: (dir: string) => string[];
  readonly ini: (port: number) => string;
  readonly env?: NodeJS.ProcessEnv;
  readonly stop: NodeJS.Signals;
}

function args(): { n: number; peers: string[]; nodeOptions: string } {
  const a = process.argv.slice(2);
  const get = (flag: string, dflt: string) => {
    const i = a.indexOf(flag);
    return i >= 0 && a[i + 1] !== undefined ? a[i + 1]! : dflt;
  };
  return {
    n: numberOption('n', 50),
    peers: get('--peer', 'tsgi,uwsgi').split(','),
    nodeOptions: get('--node-options', ''),
  };
}

function peers(nodeOptions: string): Record<string, Peer> {
  const uwsgiIni = (port: number) =>
    `[uwsgi]\nplugin = python3\nhttp-socket = 127.0.0.1:${port}\nwsgi-file = ${APP}\nmaster = true\nprocesses = 1\ndisable-logging = true\n`;
  return {
    tsgi: {
      name: nodeOptions ? `tsgi (NODE_OPTIONS=${nodeOptions})` : 'tsgi',
      command: process.execPath,
      args: (dir) => [join(ROOT, 'dist', 'emperor', 'cli.js'), dir, '--emperor-freq', '1'],
      ini: (port) =>
        `[uwsgi]\nhttp-socket = 127.0.0.1:${port}\nwsgi-file = ${APP}\npython-bin = /usr/bin/python3\nprocesses = 1\ndisable-logging = true\n`,
      env: nodeOptions ? { NODE_OPTIONS: nodeOptions } : {},
      stop: 'SIGTERM',
    },
    uwsgi: {
      name: 'uWSGI 2.0 emperor (default emperor-throttle 1000 ms)',
      command: 'uwsgi',
      args: (dir) => ['--emperor', dir, '--emperor-freq', '1'],
      ini: uwsgiIni,
      stop: 'SIGINT',
    },
    'uwsgi-throttle10': {
      name: 'uWSGI 2.0 emperor (emperor-throttle 10 ms)',
      command: 'uwsgi',
      args: (dir) => ['--emperor', dir, '--emperor-freq', '1', '--emperor-throttle', '10'],
      ini: uwsgiIni,
      stop: 'SIGINT',
    },
  };
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** One GET; 0 on any failure or after 150 ms (a connection accepted before the vassal is ready may hang). */
function get(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(deadline);
        resolve(res.statusCode ?? 0);
      });
    });
    const deadline = setTimeout(() => req.destroy(), 150);
    const fail = () => {
      clearTimeout(deadline);
      resolve(0);
    };
    req.on('error', fail);
    req.on('close', fail);
    req.end();
  });
}

function descendants(pid: number): number[] {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {}
  return kids.flatMap((k) => [k, ...descendants(k)]);
}

/** Pss and Rss of a process, bytes (smaps_rollup). */
function memory(pid: number): { pss: number; rss: number; comm: string } {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024;
    return { pss: kb('Pss'), rss: kb('Rss'), comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() };
  } catch {
    return { pss: 0, rss: 0, comm: '?' };
  }
}

async function run(peer: Peer, n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-emperor-'));
  const emperor: ChildProcess = spawn(peer.command, peer.args(dir), {
    env: { ...process.env, ...peer.env },
    stdio: ['ignore', 'ignore', process.env.BENCH_DEBUG ? 'pipe' : 'ignore'],
  });
  let t0 = 0;
  emperor.stderr?.on('data', (d: Buffer) => {
    for (const line of d.toString().split('\n'))
      if (line) process.stderr.write(`${Math.round(performance.now() - t0)} ${line}\n`);
  });
  try {
    await sleep(1500); // the emperor is up and has scanned the empty directory
    const ports = await freePorts(n);
    // write every file under a hidden name first, then rename them all in: one "drop"
    for (const [i, p] of ports.entries()) writeFileSync(join(dir, `.v${i}.tmp`), peer.ini(p));
    t0 = performance.now();
    for (const i of ports.keys()) renameSync(join(dir, `.v${i}.tmp`), join(dir, `v${i}.ini`));
    const deadline = t0 + 180_000;
    const answeredAt = await Promise.all(
      ports.map(async (p) => {
        while ((await get(p)) !== 200) {
          if (performance.now() > deadline)
            throw new Error(`port ${p} never answered (emperor exit ${emperor.exitCode})`);
          await sleep(20);
        }
        return performance.now() - t0;
      }),
    );
    const allMs = Math.max(...answeredAt);
    const firstMs = Math.min(...answeredAt);
    await sleep(3000); // idle
    const procs = descendants(emperor.pid!).map(memory);
    const pss = procs.reduce((s, p) => s + p.pss, 0);
    const rss = procs.reduce((s, p) => s + p.rss, 0);
    const byComm = new Map<string, { count: number; pss: number }>();
    for (const p of procs) {
      const e = byComm.get(p.comm) ?? { count: 0, pss: 0 };
      e.count++;
      e.pss += p.pss;
      byComm.set(p.comm, e);
    }
    const emperorMem = memory(emperor.pid!);
    return {
      peer: peer.name,
      vassals: n,
      processes: procs.length,
      firstAnswerMs: Math.round(firstMs),
      allAnswerMs: Math.round(allMs),
      pssPerVassalMB: +(pss / n / 2 ** 20).toFixed(1),
      rssPerVassalMB: +(rss / n / 2 ** 20).toFixed(1),
      emperorPssMB: +(emperorMem.pss / 2 ** 20).toFixed(1),
      byProcess: Object.fromEntries(
        [...byComm].map(([comm, e]) => [
          comm,
          { count: e.count, pssEachMB: +(e.pss / e.count / 2 ** 20).toFixed(1) },
        ]),
      ),
    };
  } finally {
    emperor.kill(peer.stop);
    const exited = await Promise.race([
      new Promise((r) => emperor.once('exit', () => r(true))),
      sleep(60_000).then(() => false),
    ]);
    if (!exited) emperor.kill('SIGKILL');
    await sleep(500);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { n, peers: names, nodeOptions } = args();
  const all = peers(nodeOptions);
  const results = [];
  for (const name of names) {
    const p = all[name];
    if (!p) throw new Error(`unknown peer ${name}`);
    process.stderr.write(`running ${p.name} with ${n} vassals...\n`);
    results.push(await run(p, n));
  }
  const out = {
    date: new Date().toISOString(),
    machine: `${cpus().length} cores, node ${process.version}`,
    results,
  };
  saveResults('emperor-vassals', out);
  console.log(
    markdownTable(
      [
        'emperor',
        'vassals',
        'first answers',
        'all answer',
        'PSS per vassal',
        'RSS per vassal',
        'emperor PSS',
      ],
      results.map((r) => [
        r.peer,
        r.vassals,
        `${r.firstAnswerMs} ms`,
        `${r.allAnswerMs} ms`,
        `${r.pssPerVassalMB} MB`,
        `${r.rssPerVassalMB} MB`,
        `${r.emperorPssMB} MB`,
      ]),
    ),
  );
  for (const r of results) console.log(`${r.peer}: ${JSON.stringify(r.byProcess)}`);
}

await main();
