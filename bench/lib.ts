/**
 * Shared benchmark machinery: start a server as a process group, wait for its port, drive it with
 * wrk, and measure the server tree's CPU time (from /proc, so the load generator's CPU on the same
 * machine is not counted) and memory. Used by every bench/*.ts script.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (scripts run from dist/bench/). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BENCH = join(ROOT, 'bench');
const CLK_TCK = 100;

/** A server under test: its process group leader. */
export interface Server {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number | string;
  output: string;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start `cmd args` in its own process group and wait until `port` (a TCP port on 127.0.0.1, or a
 * unix socket path) accepts connections (≤ 30 s).
 */
export async function startServer(
  name: string,
  cmd: string,
  args: string[],
  port: number | string,
  env: NodeJS.ProcessEnv = {},
  cwd = ROOT,
): Promise<Server> {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const server: Server = { name, child, port, output: '' };
  child.stdout!.on('data', (d: Buffer) => {
    server.output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    server.output += d.toString();
  });
  const end = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited early:\n${server.output}`);
    if (await accepts(port)) break;
    if (Date.now() > end) {
      stopServer(server);
      throw new Error(`${name} did not listen on ${port}:\n${server.output}`);
    }
    await sleep(100);
  }
  await sleep(1000); // let every worker finish booting
  return server;
}

function accepts(port: number | string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = typeof port === 'string' ? connect(port) : connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Stop a server's whole process group (SIGTERM, then SIGKILL after 5 s). */
export async function stopServer(s: Server): Promise<void> {
  const pgid = s.child.pid!;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  for (let i = 0; i < 50 && groupPids(pgid).length > 0; i++) await sleep(100);
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {}
}

/** Pids in process group `pgid` (from /proc). */
export function groupPids(pgid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') out.push(Number(d));
    } catch {}
  }
  return out;
}

/** CPU seconds (user + system) used so far by every process in the group. */
export function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / CLK_TCK;
}

/** Total RSS and PSS of the group, bytes (PSS from smaps_rollup: shared pages split fairly). */
export function groupMemory(pgid: number): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of groupPids(pgid)) {
    try {
      const roll = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+)/m.exec(roll)?.[1] ?? 0) * 1024;
      pss += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] ?? 0) * 1024;
    } catch {}
  }
  return { rss, pss };
}

/** What one wrk run measured. */
export interface LoadResult {
  requests: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  /** Server CPU time per request, µs. */
  cpuUsPerReq: number;
  rssMB: number;
}

function toMs(v: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(v);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrkArgs(url: string, opts: { seconds: number; connections: number; script?: string }): string[] {
  return [
    '-t2',
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '--latency',
    ...(opts.script ? ['-s', opts.script] : []),
    url,
  ];
}

/** Parse wrk's report; `cpuSeconds` is the server's CPU time over the run. */
function parseWrk(out: string, cpuSeconds: number, pgid: number): LoadResult {
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const errLine = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = errLine ? errLine.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  return {
    requests,
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
    p50ms: toMs(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? ''), // the distribution's row, not a stdev column
    p99ms: toMs(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? ''),
    errors,
    non2xx,
    cpuUsPerReq: requests > 0 ? (cpuSeconds / requests) * 1e6 : 0,
    rssMB: groupMemory(pgid).rss / 1048576,
  };
}

/**
 * Run wrk against `url` for `seconds` with `connections` (2 threads), measuring the server group's
 * CPU over the run. `script` is a wrk Lua script path for POSTs.
 */
export function runWrk(
  s: Server,
  url: string,
  opts: { seconds: number; connections: number; script?: string },
): LoadResult {
  const pgid = s.child.pid!;
  const cpu0 = groupCpuSeconds(pgid);
  const out = execFileSync('wrk', wrkArgs(url, opts), {
    encoding: 'utf8',
    timeout: (opts.seconds + 30) * 1000,
  });
  return parseWrk(out, groupCpuSeconds(pgid) - cpu0, pgid);
}

/** Like {@link runWrk}, without blocking: the caller acts on the server while the load runs. */
export function startWrk(
  s: Server,
  url: string,
  opts: { seconds: number; connections: number; script?: string },
): Promise<LoadResult> {
  const pgid = s.child.pid!;
  const cpu0 = groupCpuSeconds(pgid);
  return new Promise((resolve, reject) => {
    execFile(
      'wrk',
      wrkArgs(url, opts),
      { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 },
      (err, out) => {
        if (err) reject(err);
        else resolve(parseWrk(out, groupCpuSeconds(pgid) - cpu0, pgid));
      },
    );
  });
}

/**
 * nginx in its own process group, with a config written to `dir`: one worker, no access log, temp
 * paths in `dir`, `http` directives (an `upstream` block) and one server on 127.0.0.1:`listen` whose
 * body is `server` (`location / { ... }`). As root, workers run as nobody.
 */
export async function startNginx(dir: string, listen: number, server: string, http = ''): Promise<Server> {
  const root = process.getuid?.() === 0;
  const conf = `${root ? 'user nobody nogroup;\n' : ''}worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`).join('\n')}
  ${http}
  server { listen 127.0.0.1:${listen}; ${server} }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  return startServer(
    'nginx',
    'nginx',
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    listen,
  );
}

/** A numeric command-line option of a benchmark script (`--seconds 10`), or `dflt`. */
export function numberOption(name: string, dflt: number, argv = process.argv.slice(2)): number {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}

/** Whether a command exists on PATH. */
export function have(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Write `data` as JSON to bench/results/<name>.json and return the path. */
export function saveResults(name: string, data: unknown): string {
  mkdirSync(join(BENCH, 'results'), { recursive: true });
  const path = join(BENCH, 'results', `${name}.json`);
  writeFileSync(path, `${JSON.stringify(data, null, 2)}\n`);
  return path;
}

/** One measured case of a server-beside-server benchmark. */
export interface ResultRow extends LoadResult {
  /** The server setup, e.g. `tsgi node runner (2 workers)`. */
  readonly server: string;
  /** What was requested, e.g. `hello world`. */
  readonly app: string;
}

/** The markdown table of result rows: case, server, req/s, latencies, CPU per request, RSS, errors. */
export function resultTable(rows: readonly ResultRow[], caseHeader = 'app'): string {
  return markdownTable(
    [caseHeader, 'server', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'RSS MB', 'errors / non-2xx'],
    rows.map((r) => [
      r.app,
      r.server,
      Math.round(r.rps),
      r.p50ms.toFixed(2),
      r.p99ms.toFixed(2),
      Math.round(r.cpuUsPerReq),
      Math.round(r.rssMB),
      `${r.errors} / ${r.non2xx}`,
    ]),
  );
}

/** A markdown table from rows of cells. */
export function markdownTable(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A numeric `--name N` command-line option of a bench script, or `dflt`. */
export function benchOption(name: string, dflt: number): number {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
}
