import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The built `tsgi` entry point. */
export const TSGI_BIN = join(ROOT, 'dist', 'core', 'cli.js');
/** Test fixtures (apps, ini files) in the source tree. */
export const FIXTURES = join(ROOT, 'test', 'fixtures');
/** Debian's Python, which sees python3-flask, python3-django... (the PATH python3 may not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Whether this run is CI, where a missing tool fails a test instead of skipping it. */
export const IN_CI = process.env.CI === 'true';

/**
 * Skip (locally) or fail (in CI) when a tool a test needs is missing. Returns a skip reason for
 * `test(..., { skip })`, or false when the tool is there.
 */
export function requireTool(check: () => boolean, what: string): string | false {
  let ok = false;
  try {
    ok = check();
  } catch {
    ok = false;
  }
  if (ok) return false;
  if (IN_CI) throw new Error(`${what} is required in CI but missing (install it in .ci/run)`);
  return `${what} not installed`;
}

/** True when `cmd args` runs and exits 0. */
export function runs(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** A temp directory removed by `cleanup()`. */
export function tempDir(prefix = 'tsgi-test-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Wait until `pred()` is true, polling every `stepMs`; throws after `timeoutMs` with `what`. */
export async function waitFor(
  pred: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  stepMs = 25,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Pids of the direct children of `pid` (from /proc). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Whether `pid` runs tsgi's Python prototype (plugins/python/prototype.py). */
export function isPrototype(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('prototype.py');
  } catch {
    return false;
  }
}

/** Whether a process exists (and is not a zombie). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Resident set size of a process, bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** A running `tsgi` started by a test. */
export class TsgiProcess {
  readonly child: ChildProcess;
  output = '';
  private exitWaiters: Array<(code: number | null) => void> = [];
  exitCode: number | null | undefined = undefined;
  /** Every pid this instance's master spawned that we have seen (for the no-leftovers check). */
  readonly seenPids = new Set<number>();

  /** `opts.bin`: another built entry point (e.g. `dist/emperor/cli.js`); default `tsgi`. */
  constructor(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; bin?: string } = {}) {
    this.child = spawn(process.execPath, [opts.bin ?? TSGI_BIN, ...args], {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => {
      this.output += d.toString();
    };
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.child.on('exit', (code) => {
      this.exitCode = code;
      for (const w of this.exitWaiters.splice(0)) w(code);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Wait for a log line matching `re`; returns the match. */
  async waitForLine(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    let m: RegExpMatchArray | null = null;
    await waitFor(
      () => {
        m = this.output.match(re);
        if (!m && this.exitCode !== undefined)
          throw new Error(`tsgi exited (${this.exitCode}) before ${re}:\n${this.output}`);
        return m !== null;
      },
      timeoutMs,
      `${re} in tsgi output:\n${this.output}`,
    );
    return m!;
  }

  /** Wait for `tsgi: ready` and return the first HTTP listener's base URL. */
  async ready(timeoutMs = 15_000): Promise<string> {
    await this.waitForLine(/tsgi: ready/, timeoutMs);
    this.noteChildren();
    return this.url();
  }

  /** Base URL of the n-th listener of protocol `proto` (from the `tsgi: listening on` lines). */
  url(proto = 'http', n = 0): string {
    const re = new RegExp(`tsgi: listening on ${proto}://(\\S+)`, 'g');
    const all = [...this.output.matchAll(re)].map((m) => m[1]!);
    const addr = all[n];
    if (!addr) throw new Error(`no ${proto} listener #${n} in output:\n${this.output}`);
    return `${proto === 'http' ? 'http' : proto}://${addr}`;
  }

  /**
   * Pids of the worker processes right now: the master's children, except that a Python prototype
   * (which imported the app and forks the workers) counts through its children.
   */
  workerPids(): number[] {
    const out: number[] = [];
    for (const p of childPids(this.pid)) {
      this.seenPids.add(p);
      if (!isPrototype(p)) {
        out.push(p);
        continue;
      }
      for (const w of childPids(p)) {
        this.seenPids.add(w);
        out.push(w);
      }
    }
    return out;
  }

  /** Pids of the Python prototypes (children of the master running prototype.py). */
  prototypePids(): number[] {
    return childPids(this.pid).filter(isPrototype);
  }

  /** Record the current children, so `stop()` can check none survives. */
  noteChildren(): void {
    this.workerPids();
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  /** Wait for the process to exit; returns its exit code. */
  wait(timeoutMs = 20_000): Promise<number | null> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`tsgi did not exit within ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      this.exitWaiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /**
   * Stop gracefully (SIGTERM), wait for exit, and check that no process it spawned survives.
   * Kills (SIGKILL, by pid) anything left so a failing test does not leak processes.
   */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    this.noteChildren();
    if (this.exitCode === undefined) this.signal('SIGTERM');
    let code: number | null;
    try {
      code = await this.wait(timeoutMs);
    } catch (err) {
      this.kill();
      throw err;
    }
    const survivors: number[] = [];
    await waitFor(() => [...this.seenPids].every((p) => !alive(p)), 3000, 'workers to exit').catch(() => {
      for (const p of this.seenPids) if (alive(p)) survivors.push(p);
    });
    this.kill();
    if (survivors.length) throw new Error(`processes survived their master: ${survivors.join(', ')}`);
    return code;
  }

  /** SIGKILL the master and every process it spawned that we saw (cleanup of last resort). */
  kill(): void {
    for (const p of [...this.seenPids, ...childPids(this.pid)])
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    if (this.exitCode === undefined)
      try {
        this.child.kill('SIGKILL');
      } catch {}
  }
}

/** Start `tsgi` with `args`; resolves once it reports ready. Kills it if it never gets ready. */
export async function startTsgi(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<TsgiProcess> {
  const p = new TsgiProcess(args, opts);
  try {
    await p.ready(opts.timeoutMs);
  } catch (err) {
    p.kill();
    throw err;
  }
  return p;
}

/**
 * `tsgi` on a free port serving a fixture project (`test/fixtures/<project>`) with two workers and
 * Debian's python3, the one that has Flask, Django and Starlette; `args` name the app.
 */
export function startFixtureProject(project: string, args: string[]): Promise<TsgiProcess> {
  return startTsgi([
    ...['--http-socket', '127.0.0.1:0', '--python-bin', SYSTEM_PYTHON],
    ...['--chdir', `${FIXTURES}/${project}`, '--processes', '2', ...args],
  ]);
}

/** A response read whole. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  text: string;
}

/** One HTTP request with node:http (new connection each time unless `agent` given); bounded in time. */
export function fetchRaw(
  url: string,
  opts: {
    method?: string;
    headers?: Record<string, string | string[]>;
    body?: Buffer | string | AsyncIterable<Buffer>;
    timeoutMs?: number;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: opts.method ?? 'GET', headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode!,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            text: body.toString(),
          });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 15_000, () => req.destroy(new Error(`request to ${url} timed out`)));
    req.on('error', reject);
    const b = opts.body;
    if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) req.end(b);
    else
      (async () => {
        for await (const chunk of b) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      })().catch(reject);
  });
}
