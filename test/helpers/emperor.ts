import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { freePort } from './peers.js';
import { childPids, ROOT, runs, TsgiProcess, tempDir, waitFor } from './tsgi.js';

/** The built `tsgi-emperor` entry point. */
export const EMPEROR_BIN = join(ROOT, 'dist', 'emperor', 'cli.js');

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
export class EmperorProcess extends TsgiProcess {
  constructor(
    args: string[],
    opts: { bin?: 'tsgi' | 'tsgi-emperor'; cwd?: string; env?: NodeJS.ProcessEnv } = {},
  ) {
    const own = opts.bin === 'tsgi-emperor';
    super(own ? args : ['--emperor', ...args], { ...opts, bin: own ? EMPEROR_BIN : undefined });
  }

  /** Wait for the `count`-th log line matching `re`; returns that match. */
  override async waitForLine(re: RegExp, timeoutMs = 20_000, count = 1): Promise<RegExpMatchArray> {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
    let m: RegExpMatchArray | undefined;
    await waitFor(
      () => {
        m = [...this.output.matchAll(g)][count - 1];
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
    const all = [
      ...this.output.matchAll(new RegExp(`vassal ${escapeRe(name)} \\(pid (\\d+)\\) is loyal(.*)$`, 'gm')),
    ];
    const m = all[all.length - 1];
    if (!m) throw new Error(`vassal ${name} never became loyal:\n${this.output}`);
    return { pid: Number(m[1]), url: /http:\/\/\S+/.exec(m[2]!)?.[0] ?? '' };
  }

  /** Wait for vassal `name` to become loyal (the `count`-th time); returns its pid and URL. */
  async waitLoyal(name: string, count = 1, timeoutMs = 20_000): Promise<{ pid: number; url: string }> {
    await this.waitForLine(new RegExp(`vassal ${escapeRe(name)} \\(pid \\d+\\) is loyal`), timeoutMs, count);
    return this.loyal(name);
  }

  /** Record every process below the emperor now (vassal masters and their workers). */
  noteTree(): number[] {
    const all = descendants(this.pid);
    for (const p of all) this.seenPids.add(p);
    return all;
  }

  override noteChildren(): void {
    this.noteTree();
  }

  /** The address a `... on X` line announced (stats server, prometheus). */
  async address(what: 'stats server' | 'prometheus metrics'): Promise<string> {
    const m = await this.waitForLine(new RegExp(`${what} on (?:http://)?(\\S+?)(?:/metrics)?$`, 'm'));
    return m[1]!;
  }

  /** SIGKILL the emperor and everything below it (cleanup of last resort). */
  override kill(): void {
    this.noteTree();
    super.kill();
  }
}

const escapeRe = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export { freePort };

/** Whether redis-server is installed. */
export const hasRedis = () => runs('redis-server', ['--version']);

/** A redis-server started by a test on a free loopback port, in its own temp dir, without persistence. */
export class RedisServer {
  private proc: ChildProcess | null = null;
  private readonly dir = tempDir('tsgi-redis-');

  private constructor(
    readonly port: number,
    private readonly extra: readonly string[],
  ) {}

  /** Start a server; `extra` arguments go to redis-server (e.g. `--rename-command CONFIG ""`). */
  static async start(port?: number, extra: readonly string[] = []): Promise<RedisServer> {
    const r = new RedisServer(port ?? (await freePort()), extra);
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
        ...this.extra,
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
