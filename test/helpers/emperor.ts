import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { alive, childPids, ROOT, runs, tempDir, waitFor } from './tsgi.js';

/** The built `tsgi-emperor` entry point. */
export const EMPEROR_BIN = join(ROOT, 'dist', 'emperor', 'cli.js');
/** The built `tsgi` entry point (also an emperor with `--emperor`). */
const TSGI_BIN = join(ROOT, 'dist', 'core', 'cli.js');

/** Every descendant of `pid` (children, grandchildren, ...), from /proc. */
export function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const c of childPids(pid)) out.push(c, ...descendants(c));
  return out;
}

/** Write a vassal ini (`[uwsgi]` + `key = value` lines) into `dir`; returns its path. */
export function writeVassal(dir: string, file: string, options: Record<string, string | number>): string {
  const path = join(dir, file);
  const body = Object.entries(options)
    .map(([k, v]) => `${k} = ${v}`)
    .join('\n');
  writeFileSync(path, `[uwsgi]\n${body}\n`);
  return path;
}

/** A running emperor started by a test (`tsgi --emperor ...`, or the `tsgi-emperor` bin). */
export class EmperorProcess {
  readonly child: ChildProcess;
  output = '';
  exitCode: number | null | undefined = undefined;
  /** Every process seen below the emperor (vassal masters and their workers). */
  readonly seen = new Set<number>();
  private readonly waiters: Array<(c: number | null) => void> = [];

  constructor(
    args: string[],
    opts: { bin?: 'tsgi' | 'tsgi-emperor'; cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    const bin = opts.bin === 'tsgi-emperor' ? EMPEROR_BIN : TSGI_BIN;
    const argv = opts.bin === 'tsgi-emperor' ? args : ['--emperor', ...args];
    this.child = spawn(process.execPath, [bin, ...argv], {
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
      for (const w of this.waiters.splice(0)) w(code);
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Wait for a log line matching `re` (a global `re` counts matches: waits for the `count`-th). */
  async waitForLine(re: RegExp, timeoutMs = 20_000, count = 1): Promise<RegExpMatchArray> {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
    let m: RegExpMatchArray | undefined;
    await waitFor(
      () => {
        const all = [...this.output.matchAll(g)];
        m = all[count - 1];
        if (!m && this.exitCode !== undefined)
          throw new Error(`the emperor exited (${this.exitCode}) before ${re}:\n${this.output}`);
        return m !== undefined;
      },
      timeoutMs,
      `${re} (#${count}) in the emperor output`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}:\n${this.output}`);
    });
    this.noteTree();
    return m!;
  }

  /** How many times `re` matched so far. */
  count(re: RegExp): number {
    return [...this.output.matchAll(new RegExp(re.source, 'g'))].length;
  }

  /** The pid and first TCP URL ('' if none) from the latest "vassal NAME (pid N) is loyal: ..." line. */
  loyal(name: string): { pid: number; url: string } {
    const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const all = [...this.output.matchAll(new RegExp(`vassal ${esc} \\(pid (\\d+)\\) is loyal(.*)$`, 'gm'))];
    const m = all[all.length - 1];
    if (!m) throw new Error(`vassal ${name} never became loyal:\n${this.output}`);
    return { pid: Number(m[1]), url: /http:\/\/\S+/.exec(m[2]!)?.[0] ?? '' };
  }

  /** Wait for vassal `name` to become loyal (the `count`-th time); returns its pid and URL. */
  async waitLoyal(name: string, count = 1, timeoutMs = 20_000): Promise<{ pid: number; url: string }> {
    const esc = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    await this.waitForLine(new RegExp(`vassal ${esc} \\(pid \\d+\\) is loyal`), timeoutMs, count);
    return this.loyal(name);
  }

  /** Record every process below the emperor now. */
  noteTree(): number[] {
    const all = descendants(this.pid);
    for (const p of all) this.seen.add(p);
    return all;
  }

  /** The `address` a `... on X` line announced (stats server, prometheus). */
  async address(what: 'stats server' | 'prometheus metrics'): Promise<string> {
    const m = await this.waitForLine(new RegExp(`${what} on (?:http://)?(\\S+?)(?:/metrics)?$`, 'm'));
    return m[1]!;
  }

  signal(sig: NodeJS.Signals): void {
    this.child.kill(sig);
  }

  wait(timeoutMs = 30_000): Promise<number | null> {
    if (this.exitCode !== undefined) return Promise.resolve(this.exitCode);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`the emperor did not exit within ${timeoutMs} ms:\n${this.output}`)),
        timeoutMs,
      );
      this.waiters.push((c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
  }

  /**
   * SIGTERM, wait for the exit, and check that no process ever seen below the emperor survives
   * (killing leftovers by pid so a failing test leaks nothing). Returns the exit code.
   */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    if (this.exitCode === undefined) this.noteTree();
    if (this.exitCode === undefined) this.signal('SIGTERM');
    let code: number | null;
    try {
      code = await this.wait(timeoutMs);
    } catch (err) {
      this.kill();
      throw err;
    }
    const survivors: number[] = [];
    await waitFor(() => [...this.seen].every((p) => !alive(p)), 5000, 'vassals to exit').catch(() => {
      for (const p of this.seen) if (alive(p)) survivors.push(p);
    });
    this.kill();
    if (survivors.length)
      throw new Error(`processes survived the emperor: ${survivors.join(', ')}\n${this.output}`);
    return code;
  }

  /** SIGKILL the emperor and everything seen below it (cleanup of last resort). */
  kill(): void {
    for (const p of [...this.seen, ...descendants(this.pid)])
      try {
        process.kill(p, 'SIGKILL');
      } catch {}
    if (this.exitCode === undefined)
      try {
        this.child.kill('SIGKILL');
      } catch {}
  }
}

/** A free TCP port on 127.0.0.1 (bound and released; good enough for a test's own servers). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** Whether redis-server is installed. */
export const hasRedis = () => runs('redis-server', ['--version']);

/** A redis-server started by a test on a free loopback port, in its own temp dir, without persistence. */
export class RedisServer {
  private proc: ChildProcess | null = null;
  private readonly dir = tempDir('tsgi-redis-');

  private constructor(readonly port: number) {}

  static async start(port?: number): Promise<RedisServer> {
    const r = new RedisServer(port ?? (await freePort()));
    await r.up();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /** Start (or restart) the server on the same port; resolves once it answers PING. */
  async up(): Promise<void> {
    this.proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir.path,
      ],
      { stdio: 'ignore' },
    );
    await waitFor(() => this.pings(), 10_000, `redis-server on port ${this.port}`, 50);
  }

  /** SIGKILL the server (a crash: data lost, a new run_id on restart). */
  async crash(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  /** Run redis-cli against this server; returns its output. */
  cli(...args: string[]): string {
    return execFileSync('redis-cli', ['-p', String(this.port), ...args], {
      encoding: 'utf8',
      timeout: 10_000,
    });
  }

  private pings(): Promise<boolean> {
    return new Promise((resolve) => {
      const c = createConnection({ port: this.port, host: '127.0.0.1' });
      c.setTimeout(500, () => c.destroy());
      c.once('connect', () => c.end('PING\r\n'));
      c.once('data', (d) => resolve(d.toString().startsWith('+PONG')));
      c.once('error', () => resolve(false));
      c.once('close', () => resolve(false));
    });
  }

  async stop(): Promise<void> {
    await this.crash();
    this.dir.cleanup();
  }
}

/** Read a JSON document from a stats server (`host:port`): it writes the document and closes. */
export function readStats(address: string): Promise<Record<string, unknown>> {
  const colon = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const c = createConnection({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)) });
    let text = '';
    c.setTimeout(5000, () => c.destroy(new Error('stats server timed out')));
    c.on('data', (d) => {
      text += d.toString();
    });
    c.on('end', () => {
      try {
        resolve(JSON.parse(text) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    c.on('error', reject);
  });
}
