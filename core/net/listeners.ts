import { chmodSync, chownSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { ConfigError, TsgiError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ListenerInfo, ListenSpec } from '../plugin/types.js';
import { formatHostPort, parseAddress } from './address.js';

/** A bound listening socket owned by the master. */
export interface Listener {
  readonly spec: ListenSpec;
  readonly info: ListenerInfo;
  readonly server: Server;
  /** Identity across reloads: protocol plus configured address. */
  readonly key: string;
}

/** Options applied to every listener. */
export interface BindOptions {
  /** Kernel listen backlog (capped at net.core.somaxconn with a warning). */
  readonly backlog: number;
  /** Mode for unix sockets, or null to leave the umask's. */
  readonly chmod: number | null;
  /** `user[:group]` owner for unix sockets, or null. */
  readonly chown: { uid: number; gid: number } | null;
  /**
   * Accepted connections start paused: nothing is read until the taker calls `resume()` (the
   * master's listeners, so a connection accepted before an edge is wired waits unread).
   */
  readonly pauseOnConnect?: boolean;
}

/**
 * The identity of each listen spec across reloads: protocol plus configured address, plus an
 * occurrence number when the same address is listed twice (two `:0` listeners are two sockets).
 */
export function listenerKeys(specs: readonly ListenSpec[]): string[] {
  const seen = new Map<string, number>();
  return specs.map((spec) => {
    const base = `${spec.proto} ${spec.address}`;
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    return n === 0 ? base : `${base} #${n + 1}`;
  });
}

/** The kernel's cap on listen backlogs (net.core.somaxconn), or null where unreadable. */
export function somaxconn(): number | null {
  try {
    return Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

/**
 * Bind one listener. Unix sockets: a stale socket file is removed first (refused if the path is not a
 * socket, or if a live server answers on it); mode and owner applied after bind.
 * Connections are not accepted until `server.on('connection')` is wired by the caller.
 * @throws {ConfigError} TSGI_ERR_CONFIG_ADDRESS for a bad address; {TsgiError} TSGI_ERR_LISTEN_* when
 * the bind fails (address in use, permission), naming the address.
 */
export async function bindListener(spec: ListenSpec, key: string, opts: BindOptions): Promise<Listener> {
  const addr = parseAddress(spec.address, `${spec.proto}-socket`, spec.origin);
  // allowHalfOpen: a client that half-closes after its request (nc, some proxies) still gets the response;
  // edges end their sockets themselves.
  const server = createServer({
    noDelay: true,
    pauseOnConnect: opts.pauseOnConnect ?? false,
    allowHalfOpen: true,
  });
  if (addr.kind === 'unix') await removeStaleSocket(addr.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new TsgiError(
          'TSGI_ERR_LISTEN_BIND',
          `cannot bind ${spec.proto} listener ${spec.address}: ${err.code ?? err.message}`,
        ),
      ),
    );
    if (addr.kind === 'unix') server.listen({ path: addr.path, backlog: opts.backlog }, resolve);
    else server.listen({ host: addr.host, port: addr.port, backlog: opts.backlog, exclusive: true }, resolve);
  });
  server.removeAllListeners('error');
  server.on('error', () => {});
  let info: ListenerInfo;
  if (addr.kind === 'unix') {
    if (opts.chmod !== null) chmodSync(addr.path, opts.chmod);
    if (opts.chown) chownSync(addr.path, opts.chown.uid, opts.chown.gid);
    info = { proto: spec.proto, address: spec.address, bound: addr.path, port: 0, host: '', unix: true };
  } else {
    const a = server.address();
    if (!a || typeof a === 'string')
      throw new TsgiError('TSGI_ERR_LISTEN_BIND', `no address for ${spec.address}`);
    info = {
      proto: spec.proto,
      address: spec.address,
      bound: formatHostPort(a.address, a.port),
      port: a.port,
      host: a.address,
      unix: false,
    };
  }
  return { spec, info, server, key };
}

async function removeStaleSocket(path: string): Promise<void> {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket())
    throw new ConfigError(
      'TSGI_ERR_CONFIG_ADDRESS',
      `'${path}' exists and is not a socket; refusing to replace it`,
      null,
      null,
    );
  const live = await new Promise<boolean>((resolve) => {
    const c: Socket = createConnection({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live)
    throw new TsgiError('TSGI_ERR_LISTEN_BIND', `unix socket '${path}' is in use by a running server`);
  unlinkSync(path);
}

/** Stop accepting on a listener; removes its unix socket file if `unlink`. */
export function closeListener(l: Listener, unlink: boolean, log?: Logger): void {
  l.server.close();
  if (unlink && l.info.unix) {
    try {
      unlinkSync(l.info.bound);
    } catch (err) {
      log?.warn(`cannot remove ${l.info.bound}: ${(err as Error).message}`);
    }
  }
}

/** The stable line every bound listener logs: `tsgi: listening on http://127.0.0.1:8080`. */
export function listeningLine(info: ListenerInfo): string {
  return `tsgi: listening on ${info.proto}://${info.bound}`;
}
