import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { EdgeProtocol, ListenerInfo, ListenSpec, RequestHandler } from '../plugin/types.js';

/** One accepted connection as a {@link ConnectionEdge} tracks it. */
export interface EdgeConnection {
  readonly socket: Socket;
  /** Graceful stop: close now if no request is in flight, else once the last one is answered. */
  closeWhenIdle(): void;
}

/**
 * The bookkeeping every edge that parses its own wire protocol shares (uwsgi, FastCGI): the
 * listeners it asked for, the set of open connections for graceful and immediate stops, and
 * once-per-name warnings about request vars it ignores. Subclasses build one connection object
 * per accepted socket in `connection`.
 */
export abstract class ConnectionEdge<C extends EdgeConnection> implements EdgeProtocol {
  private readonly conns = new Set<C>();
  private readonly warned = new Set<string>();
  /** Set by `drain`: new requests on open connections are the last ones. */
  draining = false;

  /** @param proto the protocol name, as log lines start (`uwsgi`, `fastcgi`) */
  constructor(
    private readonly specs: ListenSpec[],
    readonly log: Logger,
    private readonly proto: string,
  ) {}

  /** Build the connection object for an accepted socket. */
  protected abstract connection(socket: Socket, listener: ListenerInfo, handle: RequestHandler): C;

  listeners(): ListenSpec[] {
    return this.specs;
  }

  accept(socket: Socket, listener: ListenerInfo, handle: RequestHandler): void {
    const conn = this.connection(socket, listener, handle);
    this.conns.add(conn);
    socket.once('close', () => this.conns.delete(conn));
  }

  drain(): void {
    this.draining = true;
    for (const c of this.conns) c.closeWhenIdle();
  }

  openConnections(): number {
    return this.conns.size;
  }

  destroyAll(): void {
    for (const c of this.conns) c.socket.destroy();
  }

  /** Log once per var name that a client sent request vars tsgi ignores (see `APP_LOADING_VARS`). */
  warnIgnored(names: readonly string[], peer: string): void {
    for (const n of names) {
      if (this.warned.has(n)) continue;
      this.warned.add(n);
      this.log.warn(
        `${this.proto}: ignoring ${n} sent by ${peer}: tsgi never loads or changes apps from request vars`,
      );
    }
  }
}
