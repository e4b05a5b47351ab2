import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { runs, waitFor } from './tsgi.js';

/**
 * Real uWSGI (Debian's uwsgi-core, plugins in /usr/lib/uwsgi/plugins) as a test peer: the oracle of
 * the router's differential tests and a subscriber to tsgi fronts. Started on ephemeral ports,
 * stopped by pid.
 */

/** Whether uWSGI with the python3 plugin is installed. */
export const hasUwsgi = () => runs('uwsgi', ['--plugin', 'python3', '--version']);

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

/** Whether 127.0.0.1:`port` accepts a connection. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A process started by a test: output collected, stopped by pid. */
export class Peer {
  output = '';
  exited = false;

  constructor(readonly child: ChildProcess) {
    const collect = (d: Buffer) => {
      this.output += d.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    child.on('exit', () => {
      this.exited = true;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Signal it (SIGINT stops uWSGI at once), SIGKILL after 5 s, and wait for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
    if (this.exited) return;
    this.child.kill(signal);
    await waitFor(() => this.exited, 5000, 'peer exit').catch(() => {
      this.child.kill('SIGKILL');
    });
  }
}

/**
 * Start `uwsgi` with `args` and wait until `port` accepts connections and a worker is up (uWSGI binds
 * before its app is loaded).
 */
export async function startUwsgi(args: string[], port: number, opts: { cwd?: string } = {}): Promise<Peer> {
  const child = spawn('uwsgi', ['--die-on-term', ...args], {
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p = new Peer(child);
  try {
    await waitFor(
      async () => {
        if (p.exited) throw new Error(`uwsgi exited:\n${p.output}`);
        return /spawned uWSGI (worker|http)/.test(p.output) && (await accepts(port));
      },
      15_000,
      'uwsgi to listen',
    );
  } catch (err) {
    await p.stop('SIGKILL');
    throw err;
  }
  return p;
}

/** A raw HTTP response, or `empty` when the server closed without answering. */
export interface RawReply {
  readonly status: number | 'empty';
  /** Header lines as received (names lower-cased), repeats kept, in order. */
  readonly headers: Array<[string, string]>;
  readonly body: Buffer;
}

/**
 * Send one HTTP/1.1 request with `Connection: close` byte for byte (the target is not normalised) and
 * read the response until the server closes.
 */
export function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  timeoutMs = 10_000,
): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no complete answer from :${port} to ${method} ${target} in ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('data', (d: Buffer) => parts.push(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(t);
      resolve(parseReply(Buffer.concat(parts)));
    });
    const hasHost = headers.some(([n]) => n.toLowerCase() === 'host');
    let head = `${method} ${target} HTTP/1.1\r\n${hasHost ? '' : `Host: 127.0.0.1:${port}\r\n`}`;
    for (const [n, v] of headers) head += `${n}: ${v}\r\n`;
    sock.end(`${head}Connection: close\r\n\r\n`, 'latin1');
  });
}

function parseReply(data: Buffer): RawReply {
  const end = data.indexOf('\r\n\r\n');
  if (data.length === 0 || end < 0) return { status: 'empty', headers: [], body: data };
  const lines = data.toString('latin1', 0, end).split('\r\n');
  const headers = lines.slice(1).map((l) => {
    const c = l.indexOf(':');
    return [l.slice(0, c).toLowerCase(), l.slice(c + 1).trim()] as [string, string];
  });
  let body = data.subarray(end + 4);
  if (headers.some(([n, v]) => n === 'transfer-encoding' && v === 'chunked')) body = unchunk(body);
  return { status: Number(lines[0]!.split(' ')[1]), headers, body };
}

function unchunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let i = 0;
  for (;;) {
    const nl = b.indexOf('\r\n', i);
    if (nl < 0) break;
    const size = Number.parseInt(b.toString('latin1', i, nl), 16);
    if (!size) break;
    out.push(b.subarray(nl + 2, nl + 2 + size));
    i = nl + 2 + size + 2;
  }
  return Buffer.concat(out);
}
