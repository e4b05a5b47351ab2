// Dashboard benchmark: what the emperor's web dashboard costs the host. An emperor runs N idle
// vassals (no app, need-app = false, one worker); its own CPU time (the emperor process only, from
// /proc/<pid>/stat) is measured over a window without the dashboard, with the dashboard and no
// browser, with C overview pages open (server-sent event streams), and with C vassal pages open
// (event streams plus their log tail and chart points, and a workers query per sample as the page
// makes). Also the page's first-load transfer size (login page, then HTML, CSS, JS and icon).
//
//   npm run build && node dist/bench/emperor-dashboard.js [--n 50] [--clients 10] [--window 15]
// Writes bench/results/emperor-dashboard.json and prints a markdown table.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type ClientRequest, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { markdownTable, numberOption, ROOT, saveResults, sleep } from './lib.js';

const TOKEN = 'bench-token';
const CLK_TCK = 100;

/** CPU seconds (user + system) of one process, itself only. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: { authorization: `Bearer ${TOKEN}`, ...headers }, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** An open event stream that reads and discards everything (a browser tab left open). */
function openStream(url: string, onEvent: () => void): ClientRequest {
  const req = request(url, { headers: { authorization: `Bearer ${TOKEN}` }, agent: false }, (res) => {
    res.on('data', (d: Buffer) => {
      if (d.includes('event: point')) onEvent();
    });
  });
  req.on('error', () => {});
  req.end();
  return req;
}

interface Emperor {
  readonly child: ChildProcess;
  output: string;
}

async function startEmperor(dir: string, dashboard: boolean): Promise<Emperor> {
  const args = [join(ROOT, 'dist', 'emperor', 'cli.js'), dir, '--emperor-freq', '3'];
  if (dashboard) args.push('--emperor-dashboard', ':0', '--emperor-dashboard-token', TOKEN);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const e: Emperor = { child, output: '' };
  const collect = (d: Buffer) => {
    e.output += d.toString();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return e;
}

async function waitLoyal(e: Emperor, n: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  while ((e.output.match(/is loyal/g) ?? []).length < n) {
    if (Date.now() > deadline)
      throw new Error(`only ${(e.output.match(/is loyal/g) ?? []).length}/${n} loyal`);
    await sleep(500);
  }
  await sleep(3000); // let the boot settle
}

async function stopEmperor(e: Emperor): Promise<void> {
  const gone = new Promise((r) => e.child.once('exit', r));
  try {
    process.kill(-e.child.pid!, 'SIGTERM');
  } catch {}
  const t = setTimeout(() => {
    try {
      process.kill(-e.child.pid!, 'SIGKILL');
    } catch {}
  }, 20_000);
  await gone;
  clearTimeout(t);
}

/** The emperor's CPU over `windowS` seconds, as % of one core. */
async function measure(pid: number, windowS: number): Promise<number> {
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  await sleep(windowS * 1000);
  return ((cpuSeconds(pid) - c0) / ((performance.now() - t0) / 1000)) * 100;
}

async function main(): Promise<void> {
  const n = numberOption('n', 50);
  const clients = numberOption('clients', 10);
  const windowS = numberOption('window', 15);
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-dash-'));
  for (let i = 0; i < n; i++)
    writeFileSync(
      join(dir, `v${String(i).padStart(2, '0')}.ini`),
      '[uwsgi]\nhttp-socket = 127.0.0.1:0\nneed-app = false\nprocesses = 1\ndisable-logging = true\n',
    );
  const rows: Array<{ case: string; cpuPercent: number }> = [];
  try {
    const plain = await startEmperor(dir, false);
    await waitLoyal(plain, n);
    rows.push({ case: `${n} vassals, no dashboard`, cpuPercent: await measure(plain.child.pid!, windowS) });
    await stopEmperor(plain);

    const e = await startEmperor(dir, true);
    await waitLoyal(e, n);
    const base = `http://${/dashboard on http:\/\/(\S+?)\//.exec(e.output)![1]}`;
    const pid = e.child.pid!;
    rows.push({ case: `${n} vassals, dashboard, no page open`, cpuPercent: await measure(pid, windowS) });

    const overview = Array.from({ length: clients }, () => openStream(`${base}/api/events`, () => {}));
    rows.push({
      case: `${n} vassals, ${clients} overview pages open`,
      cpuPercent: await measure(pid, windowS),
    });
    for (const r of overview) r.destroy();

    // a vassal page: its stream, and the workers query the page makes after each chart point
    const pages = Array.from({ length: clients }, (_, i) => {
      const name = `v${String(i % n).padStart(2, '0')}.ini`;
      return openStream(
        `${base}/api/events?vassal=${name}`,
        () => void get(`${base}/api/vassals/${name}/workers`),
      );
    });
    rows.push({
      case: `${n} vassals, ${clients} vassal pages open`,
      cpuPercent: await measure(pid, windowS),
    });
    for (const r of pages) r.destroy();

    // first load: the login page, then the page and its assets
    const files = ['/login', '/', '/assets/app.css', '/assets/app.js', '/assets/icon.svg'];
    const sizes: Record<string, { bytes: number; gzip: number }> = {};
    for (const f of files) {
      const r = await get(`${base}${f}`);
      if (r.status !== 200) throw new Error(`${f}: HTTP ${r.status}`);
      sizes[f] = { bytes: r.body.length, gzip: gzipSync(r.body).length };
    }
    const table = await get(`${base}/api/vassals`);
    await stopEmperor(e);

    const pageBytes = files.slice(1).reduce((s, f) => s + sizes[f]!.bytes, 0);
    const pageGzip = files.slice(1).reduce((s, f) => s + sizes[f]!.gzip, 0);
    const result = {
      n,
      clients,
      windowS,
      cpuCores: (await import('node:os')).cpus().length,
      cpu: rows.map((r) => ({ ...r, cpuPercent: Math.round(r.cpuPercent * 10) / 10 })),
      transfer: sizes,
      pageBytes,
      pageGzipBytes: pageGzip,
      tableJsonBytes: table.body.length,
    };
    const path = saveResults('emperor-dashboard', result);
    console.log(
      markdownTable(
        ['case', 'emperor CPU (% of one core)'],
        result.cpu.map((r) => [r.case, r.cpuPercent.toFixed(1)]),
      ),
    );
    console.log(
      `\nfirst load (HTML+CSS+JS+icon): ${pageBytes} bytes (${pageGzip} gzipped); login page ${sizes['/login']!.bytes} bytes; /api/vassals with ${n} vassals: ${table.body.length} bytes`,
    );
    console.log(`written to ${path}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
