import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { runs, waitFor } from './tsgi.js';

/**
 * Real peers for protocol tests (nginx, uWSGI, php-cgi) started on ephemeral ports in temp dirs,
 * and raw-socket helpers. Every process started here is stopped by pid.
 */

/** A free TCP port on 127.0.0.1 (bound and released; the caller binds it right away). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Connect to `host:port` or a unix socket path. */
export function dial(address: string): Socket {
  const colon = address.lastIndexOf(':');
  if (address.startsWith('/') || colon < 0) return connect({ path: address });
  return connect(Number(address.slice(colon + 1)), address.slice(0, colon));
}

/**
 * Send `data` on a fresh connection (with `halfClose`, then end the sending side) and collect what comes
 * back until the peer closes or `timeoutMs` passes. `closed` tells whether the peer closed.
 */
export function exchange(
  address: string,
  data: Buffer | string | Buffer[],
  timeoutMs = 5000,
  opts: { halfClose?: boolean } = {},
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = dial(address);
    const parts: Buffer[] = [];
    const t = setTimeout(() => {
      sock.destroy();
      resolve({ data: Buffer.concat(parts), closed: false });
    }, timeoutMs);
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(t);
      resolve({ data: Buffer.concat(parts), closed: true });
    });
    sock.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) sock.write(d);
      if (opts.halfClose) sock.end();
    });
  });
}

/** The address part of a `tsgi.url(proto, n)` value: `127.0.0.1:4000` or `/tmp/x.sock`. */
export function addressOf(url: string): string {
  return url.replace(/^[a-z]+:\/\//, '');
}

/** ESTABLISHED TCP connections whose local port is `port` (from /proc/net/tcp). */
export function establishedTo(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  let n = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 3 && f[1]!.endsWith(`:${hex}`) && f[3] === '01') n++;
    }
  }
  return n;
}

/** A child process started by a test, stopped by pid. */
export class Peer {
  output = '';
  exited = false;

  constructor(readonly child: ChildProcess) {
    child.stdout?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    child.stderr?.on('data', (d: Buffer) => {
      this.output += d.toString();
    });
    child.on('exit', () => {
      this.exited = true;
    });
  }

  /** SIGTERM (then SIGKILL after 5 s) and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.exited) return;
    this.child.kill(signal);
    await waitFor(() => this.exited, 5000, 'peer exit').catch(() => {
      this.child.kill('SIGKILL');
    });
  }
}

/** nginx as a test peer: its own prefix, config, pid file, temp paths and error log. */
export class Nginx extends Peer {
  constructor(
    child: ChildProcess,
    readonly dir: string,
  ) {
    super(child);
  }

  get errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  }
}

/** Whether nginx is installed. */
export const hasNginx = () => runs('nginx', ['-v']);

/**
 * Start nginx with `httpBlock` (the inside of `http { }`) in `dir`. When the test runs as root, the
 * workers run as nobody (so `dir` and the sockets they reach must be world-accessible). Resolves
 * once every `ports` accepts connections.
 */
export async function startNginx(dir: string, httpBlock: string, ports: number[]): Promise<Nginx> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const root = process.getuid?.() === 0;
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `  ${t}_temp_path ${join(dir, `${t}_temp`)};`)
    .join('\n');
  const conf = `${root ? 'user nobody nogroup;\n' : ''}worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} info;
events { worker_connections 256; }
http {
  access_log off;
${temp}
${httpBlock}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child = spawn(
    'nginx',
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const ng = new Nginx(child, dir);
  try {
    await waitFor(
      async () => {
        if (ng.exited) throw new Error(`nginx exited:\n${ng.output}\n${ng.errorLog}`);
        return (await Promise.all(ports.map(accepts))).every(Boolean);
      },
      10_000,
      'nginx to listen',
    );
  } catch (err) {
    await ng.stop('SIGKILL');
    throw err;
  }
  return ng;
}

/** Whether a TCP port on 127.0.0.1 (or a unix path) accepts a connection. */
export function accepts(target: number | string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = typeof target === 'number' ? connect(target, '127.0.0.1') : connect({ path: target });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Start a process as a peer and wait until `ready` accepts connections. */
export async function startPeer(
  cmd: string,
  args: string[],
  ready: number | string,
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Peer> {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new Peer(child);
  try {
    await waitFor(
      async () => {
        if (p.exited) throw new Error(`${cmd} exited:\n${p.output}`);
        return accepts(ready);
      },
      15_000,
      `${cmd} to listen`,
    );
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
  return p;
}

/** A raw HTTP/1.x response split into status, headers (lower-case names, repeats kept) and body. */
export interface RawResponse {
  status: number;
  statusLine: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

/** Parse a whole raw HTTP response (head and body as received until close). */
export function parseRawResponse(data: Buffer): RawResponse {
  const end = data.indexOf('\r\n\r\n');
  if (end < 0)
    throw new Error(`no complete HTTP head in ${JSON.stringify(data.toString('latin1').slice(0, 200))}`);
  const lines = data.toString('latin1', 0, end).split('\r\n');
  const statusLine = lines[0]!;
  const headers = lines.slice(1).map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()] as [string, string];
  });
  return { status: Number(statusLine.split(' ')[1]), statusLine, headers, body: data.subarray(end + 4) };
}

/** A header's values in a {@link RawResponse}. */
export function headerValues(r: RawResponse, name: string): string[] {
  return r.headers.filter(([n]) => n === name).map(([, v]) => v);
}

/** The JSON stats document of a tsgi instance started with `--stats <unix path>`. */
export async function stats(path: string): Promise<{
  listen_queue: number;
  load: number;
  workers: Array<{ status: string; requests: number }>;
}> {
  const r = await exchange(path, Buffer.alloc(0), 5000);
  return JSON.parse(r.data.toString());
}

/**
 * Wait until a tsgi instance (started with `--stats <unix path>`) has nothing queued and every
 * worker slot free, and check its master is alive: the proof that bad input leaked no slot.
 */
export async function assertIdle(
  statsPath: string,
  tsgi: { exitCode: number | null | undefined },
): Promise<void> {
  await waitFor(
    async () => {
      const s = await stats(statsPath);
      return s.listen_queue === 0 && s.load === 0 && s.workers.every((w) => w.status === 'idle');
    },
    15_000,
    'every worker slot to be free',
  );
  if (tsgi.exitCode !== undefined) throw new Error('the master exited');
}
