import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { accepts, exchange, freePort, Peer, parseRawResponse } from './peers.js';
import { FIXTURES, runs, startTsgi, type TsgiProcess, waitFor } from './tsgi.js';

/**
 * Peers and raw HTTP for the router's tests: real uWSGI (Debian's uwsgi-core, plugins in
 * /usr/lib/uwsgi/plugins) as the oracle of the differential corpus and as a subscriber, the Node
 * test upstream (test/fixtures/router/upstream.mjs), and byte-exact HTTP requests.
 */

/** Whether uWSGI with the python3 plugin is installed. */
export const hasUwsgi = () => runs('uwsgi', ['--plugin', 'python3', '--version']);

/**
 * Start `uwsgi` with `args` and wait until `port` accepts connections and a worker (or router) is up
 * (uWSGI binds before its app is loaded).
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
 * Send one HTTP/1.1 request with `Connection: close` byte for byte (the target is not normalised)
 * and read the answer until the server closes.
 */
export async function rawRequest(
  port: number,
  method: string,
  target: string,
  headers: Array<[string, string]> = [],
  timeoutMs = 10_000,
): Promise<RawReply> {
  const hasHost = headers.some(([n]) => n.toLowerCase() === 'host');
  let head = `${method} ${target} HTTP/1.1\r\n${hasHost ? '' : `Host: 127.0.0.1:${port}\r\n`}`;
  for (const [n, v] of headers) head += `${n}: ${v}\r\n`;
  const { data, closed } = await exchange(
    `127.0.0.1:${port}`,
    Buffer.from(`${head}Connection: close\r\n\r\n`, 'latin1'),
    timeoutMs,
  );
  if (!closed) throw new Error(`no complete answer from :${port} to ${method} ${target} in ${timeoutMs} ms`);
  if (data.indexOf('\r\n\r\n') < 0) return { status: 'empty', headers: [], body: data };
  const r = parseRawResponse(data);
  const chunked = r.headers.some(([n, v]) => n === 'transfer-encoding' && v === 'chunked');
  return { status: r.status, headers: r.headers, body: chunked ? unchunk(r.body) : r.body };
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

/** A test upstream (test/fixtures/router/upstream.mjs) in its own process. */
export type TestUpstream = Peer & { readonly port: number; readonly address: string };

/** Start the HTTP/WebSocket test upstream named `name` (on `port`, or a free one). */
export async function startUpstream(script: string, name: string, port = 0): Promise<TestUpstream> {
  const child = spawn(process.execPath, [script, name, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = new Peer(child);
  let bound = 0;
  await waitFor(
    () => {
      if (p.exited) throw new Error(`upstream ${name} exited:\n${p.output}`);
      const m = /listening (\d+)/.exec(p.output);
      if (m) bound = Number(m[1]);
      return bound > 0;
    },
    10_000,
    `upstream ${name}`,
  );
  return Object.assign(p, { port: bound, address: `127.0.0.1:${bound}` });
}

/**
 * A TCP port on 127.0.0.1 that accepts no connection (a process listening with a full accept queue
 * that never accepts): a connect to it never completes. Stopped by pid.
 */
export async function unansweredPort(): Promise<{ port: number; peer: Peer }> {
  const script =
    'import socket,sys,time\n' +
    's=socket.socket();s.bind(("127.0.0.1",0));s.listen(0)\n' +
    'port=s.getsockname()[1]\n' +
    'fill=[socket.socket() for _ in range(4)]\n' +
    '[(c.setblocking(False),c.connect_ex(("127.0.0.1",port))) for c in fill]\n' +
    'time.sleep(0.2)\n' +
    'print("listening",port,flush=True)\n' +
    'time.sleep(120)\n';
  const p = new Peer(spawn('python3', ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let port = 0;
  await waitFor(
    () => {
      const m = /listening (\d+)/.exec(p.output);
      if (m) port = Number(m[1]);
      if (p.exited && !m) throw new Error(`blackhole exited:\n${p.output}`);
      return port > 0;
    },
    10_000,
    'blackhole port',
  );
  return { port, peer: p };
}

/** Whether redis-server is installed. */
export const hasRedis = () => runs('redis-server', ['--version']);

/** Start a throwaway redis-server (no persistence) on 127.0.0.1:`port`. */
export async function startRedis(port: number): Promise<Peer> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const p = new Peer(child);
  await waitFor(
    async () => {
      if (p.exited) throw new Error(`redis-server exited:\n${p.output}`);
      return accepts(port);
    },
    10_000,
    'redis-server',
  );
  return p;
}

/** The echo app the router tests run (it reports what routing left in its environ as headers). */
const ROUTE_ECHO = join(FIXTURES, 'apps', 'route_echo.py');

/** A tsgi front in router mode: an HTTP listener and a subscription server (both on free ports). */
export async function startFront(extra: string[] = []): Promise<{ front: TsgiProcess; ss: string }> {
  const front = await startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--http-subscription-server',
    '127.0.0.1:0',
    ...extra,
  ]);
  const ss = (await front.waitForLine(/subscription server on udp:\/\/(\S+)/))[1]!;
  return { front, ss };
}

/** A real uWSGI node (echo app on a uwsgi socket) announcing `key` to the subscription server `ss` every second. */
export async function startUwsgiNode(ss: string, key: string): Promise<Peer> {
  const port = await freePort();
  return startUwsgi(
    [
      '--plugin',
      'python3',
      '--socket',
      `127.0.0.1:${port}`,
      '--wsgi-file',
      ROUTE_ECHO,
      '--master',
      '--subscribe-to',
      `${ss}:${key}`,
      '--subscribe-freq',
      '1',
    ],
    port,
  );
}

/** A tsgi vassal (echo app, uwsgi socket on a free port) announcing itself every second with `subscribe`. */
export function startVassal(subscribe: string[]): Promise<TsgiProcess> {
  return startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--socket',
    '127.0.0.1:0',
    '--wsgi-file',
    ROUTE_ECHO,
    ...subscribe,
    '--subscribe-freq',
    '1',
  ]);
}
