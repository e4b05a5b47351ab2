import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { runs, waitFor } from './tsgi.js';

/** Debian's uWSGI binary (uwsgi-core) and whether it can load the python3 plugin. */
export const UWSGI_BIN = 'uwsgi';
export const hasUwsgi = (): boolean => runs(UWSGI_BIN, ['--plugin', 'python3', '--version']);

/** A free TCP port on 127.0.0.1 (uWSGI does not report the port it bound for `:0`). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** A real uWSGI started by a test, the oracle for formats tsgi copies. */
export class UwsgiProcess {
  readonly child: ChildProcess;
  output = '';
  private exited = false;

  constructor(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
    this.child = spawn(UWSGI_BIN, ['--plugin', 'python3', ...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (d: Buffer) => {
      this.output += d.toString('latin1');
    };
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.child.on('exit', () => {
      this.exited = true;
    });
  }

  /** Wait for a line matching `re` in uWSGI's output. */
  async waitForLine(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    let m: RegExpMatchArray | null = null;
    await waitFor(
      () => {
        m = this.output.match(re);
        if (!m && this.exited) throw new Error(`uWSGI exited before ${re}:\n${this.output}`);
        return m !== null;
      },
      timeoutMs,
      `${re} in uWSGI output:\n${this.output}`,
    );
    return m!;
  }

  /** Stop it (SIGINT, then SIGKILL of the whole group of its pids we know) and wait for the exit. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await done;
    clearTimeout(t);
  }
}

/**
 * Start uWSGI with `args` (python3 plugin loaded) and wait until `workers` workers were spawned and
 * the app is loaded.
 */
export async function startUwsgi(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; workers?: number } = {},
): Promise<UwsgiProcess> {
  const u = new UwsgiProcess(args, opts);
  try {
    await u.waitForLine(/WSGI app 0 \(mountpoint=''\) ready/);
    const n = opts.workers ?? 1;
    await u.waitForLine(new RegExp(`spawned uWSGI worker ${n} `));
  } catch (err) {
    u.child.kill('SIGKILL');
    throw err;
  }
  return u;
}

/** A uWSGI serving one WSGI app over `--http-socket` on a free port, optionally with a stats server. */
export interface UwsgiApp {
  readonly uwsgi: UwsgiProcess;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** `127.0.0.1:PORT` of the stats server ('' without `stats`). */
  readonly statsAddr: string;
}

/**
 * Start uWSGI (`--master`, python3) serving `app` over `--http-socket`, plus `extra` options; with
 * `stats`, a stats server on another free port.
 */
export async function startUwsgiApp(
  app: string,
  extra: string[] = [],
  opts: { stats?: boolean; workers?: number } = {},
): Promise<UwsgiApp> {
  const httpPort = await freePort();
  const statsAddr = opts.stats ? `127.0.0.1:${await freePort()}` : '';
  const uwsgi = await startUwsgi(
    [
      '--master',
      '--http-socket',
      `127.0.0.1:${httpPort}`,
      '--wsgi-file',
      app,
      ...(statsAddr ? ['--stats', statsAddr] : []),
      ...extra,
    ],
    { workers: opts.workers },
  );
  return { uwsgi, url: `http://127.0.0.1:${httpPort}`, statsAddr };
}
