/**
 * The Node worker: runs inside the worker process, loads the app and serves it over HTTP/1.1 on the
 * unix socket the master named. It imports nothing from tsgi, so the app's module graph is its own.
 *
 * The master starts it as `node [--import LOADER]... worker.js` with:
 * - `TSGI_NODE_WORKER`: JSON `{ app, socket, workerId }` (removed from `process.env` at once);
 * - file descriptor 3: a socketpair to the master carrying JSON lines, worker → master
 *   `{"type":"ready","pid":N,"mode":"export"|"listen"}`; end-of-file from the master means "retire":
 *   stop accepting, finish, exit 0.
 *
 * The app is a module (ESM or CommonJS) that either exports a request listener (`module.exports`,
 * `export default`, `exports.default`: an Express app, a plain `(req, res)` function, a Koa app
 * whose `callback()` is used, an app with a Fetch-style `fetch(Request)` such as Hono's, or an
 * `http.Server`), or calls `listen(...)` on an `http.Server`
 * itself: the first such call is captured and bound to the master's socket instead (Passenger's
 * way), so an unmodified `app.listen(3000)` works. Later servers listen where they asked.
 */
import http from 'node:http';
import { Socket } from 'node:net';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';

interface WorkerConfig {
  readonly app: string;
  readonly socket: string;
  readonly workerId: number;
}

const config = JSON.parse(process.env.TSGI_NODE_WORKER ?? '{}') as WorkerConfig;
delete process.env.TSGI_NODE_WORKER;
const label = `tsgi: node worker ${config.workerId} (pid ${process.pid})`;

const control = new Socket({ fd: 3, readable: true, writable: true });
// Until the app is up, the control socket does not keep the process alive: an app that neither
// exports a listener nor starts anything ends the process, and the exit handler says why.
control.unref();
control.on('error', () => {});
control.on('end', retire);
control.on('close', retire);

let server: http.Server | null = null;
let mode: 'export' | 'listen' = 'listen';
let ready = false;
let retiring = false;
let adopted: (s: http.Server) => void = () => {};
/** Resolves with the server the master talks to. A pending promise does not keep the process alive. */
const serverAdopted = new Promise<http.Server>((res) => {
  adopted = res;
});

type ListenFn = (this: http.Server, ...args: unknown[]) => http.Server;
const proto = http.Server.prototype as unknown as { listen: ListenFn };
const originalListen = proto.listen;
/** The first `listen` on an http.Server goes to the master's socket, whatever address it names. */
proto.listen = function captureListen(this: http.Server, ...args: unknown[]) {
  if (server !== null) return originalListen.apply(this, args);
  const cb = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  adopt(this);
  return originalListen.call(this, config.socket, cb);
};

/** Make `s` the server the master talks to: no idle or request timeouts (the master owns them). */
function adopt(s: http.Server): void {
  server = s;
  s.keepAliveTimeout = 0;
  s.requestTimeout = 0;
  s.headersTimeout = 0;
  adopted(s);
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** What the module offers: a listener, a server, or nothing usable. */
function served(mod: Record<string, unknown>): Listener | http.Server | null {
  const def = mod.default as Record<string, unknown> | undefined;
  for (const c of [def, def?.default, mod.handler, def?.handler]) {
    if (c instanceof http.Server) return c;
    if (typeof c === 'function') return c as Listener;
    if (!c || typeof c !== 'object') continue;
    const o = c as { callback?: unknown; fetch?: unknown };
    if (typeof o.callback === 'function') return (o as { callback: () => Listener }).callback();
    if (typeof o.fetch === 'function') return fetchListener(o as FetchApp);
  }
  return null;
}

/** An app in the WHATWG Fetch shape (`export default app` of Hono, `{ fetch }` of Bun/Workers). */
interface FetchApp {
  fetch(request: Request): Response | Promise<Response>;
}

/**
 * A request listener around a Fetch-style app: the Node request becomes a `Request` (the URL from
 * `Host` and `X-Forwarded-Proto`, the body streamed, a signal aborted when the client leaves) and
 * the `Response` is written back streaming (every `Set-Cookie` kept). A throw or a rejected promise
 * is logged and answered 500 (or the connection reset once the head is out).
 */
function fetchListener(app: FetchApp): Listener {
  return (req, res) => {
    const scheme = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2)
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const aborter = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers, signal: aborter.signal };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      init.body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
      init.duplex = 'half';
    }
    const failed = (err: unknown) => {
      process.stderr.write(`${label}: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}\n`);
      if (res.headersSent) res.destroy();
      else {
        res.statusCode = 500;
        res.end();
      }
    };
    Promise.resolve()
      .then(() => app.fetch(new Request(`${scheme}://${req.headers.host ?? 'localhost'}${req.url}`, init)))
      .then((response) => {
        const out: string[] = [];
        response.headers.forEach((value, name) => {
          if (name !== 'set-cookie') out.push(name, value);
        });
        for (const c of response.headers.getSetCookie()) out.push('set-cookie', c);
        res.writeHead(response.status, response.statusText, out);
        if (!response.body) res.end();
        else
          Readable.fromWeb(response.body as import('node:stream/web').ReadableStream)
            .on('error', failed)
            .pipe(res);
      }, failed);
  };
}

function listening(s: http.Server): Promise<void> {
  if (s.listening) return Promise.resolve();
  return new Promise((res, rej) => {
    s.once('listening', res);
    s.once('error', rej);
  });
}

function retire(): void {
  if (retiring) return;
  retiring = true;
  if (!server?.listening) process.exit(0);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
}

process.on('exit', (code) => {
  if (!ready && !retiring && code === 0)
    process.stderr.write(
      `${label}: ${config.app} neither exports a request listener nor called listen() on an http.Server; exiting\n`,
    );
});
// The master decides when a worker stops (a terminal's Ctrl-C or a SIGTERM to the whole group must
// not cut its in-flight requests short), as in the Python worker; an app may add its own handlers.
for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(sig, () => {});
// harakiri-verbose sends SIGUSR2 before SIGKILL; a Node worker has no thread stacks to dump.
process.on('SIGUSR2', () => {
  process.stderr.write(`${label}: SIGUSR2 (harakiri); no stack dump for Node workers\n`);
});

async function main(): Promise<void> {
  const app = resolve(config.app);
  process.argv[1] = app;
  const mod = (await import(pathToFileURL(app).href)) as Record<string, unknown>;
  if (!server) {
    const offered = served(mod);
    if (offered) {
      mode = 'export';
      (offered instanceof http.Server ? offered : http.createServer(offered)).listen(config.socket);
    }
  }
  await listening(await serverAdopted);
  ready = true;
  control.ref();
  control.write(`${JSON.stringify({ type: 'ready', pid: process.pid, mode })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${label}: cannot load ${config.app}:\n${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
