import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import {
  bindListener,
  closeListener,
  type Listener,
  listenerKeys,
  listeningLine,
  somaxconn,
} from '../net/listeners.js';
import { primaryGid, resolveGid, resolveUid } from '../net/users.js';
import type { RequestHandler } from '../plugin/types.js';
import type { Generation } from './generation.js';

/**
 * The instance's bound listeners, kept across reloads: a reload binds what is new, keeps what is
 * unchanged (the kernel backlog keeps queueing meanwhile) and closes what was removed.
 */
export class ListenerSet {
  private readonly byKey = new Map<string, Listener>();
  /**
   * Connections accepted by a listener that is not wired to an edge yet (bound at boot or by a
   * reload, before its workers are ready): kept unread (listeners pause on connect) until `wire`.
   */
  private readonly parked = new Map<string, Set<Socket>>();

  constructor(private readonly log: Logger) {}

  /** Every bound listener. */
  all(): Listener[] {
    return [...this.byKey.values()];
  }

  /**
   * Bind the listeners of `gen` that are not bound yet (backlog `listen`, capped at somaxconn with a
   * warning; unix sockets chmod/chown'ed); returns the new ones.
   * @throws the bind error, after closing the ones this call bound.
   */
  async bind(gen: Generation): Promise<Listener[]> {
    const cap = somaxconn();
    let backlog = gen.core.listen;
    if (cap !== null && backlog > cap) {
      this.log.warn(
        `tsgi: listen = ${backlog} is above net.core.somaxconn (${cap}); the kernel backlog is capped at ${cap}`,
      );
      backlog = cap;
    }
    const chmod = gen.config.has('chmod-socket') ? gen.core['chmod-socket'] : null;
    const chown = chownSpec(gen);
    const added: Listener[] = [];
    try {
      const keys = listenerKeys(gen.listens);
      for (const [i, spec] of gen.listens.entries()) {
        const key = keys[i]!;
        if (this.byKey.has(key)) continue;
        const l = await bindListener(spec, key, { backlog, chmod, chown, pauseOnConnect: true });
        this.byKey.set(key, l);
        this.park(l);
        added.push(l);
        this.log.info(listeningLine(l.info));
      }
    } catch (err) {
      this.close(added);
      throw err;
    }
    return added;
  }

  /**
   * Point every listener of `gen` at its edge: new connections go to the new generation's edges.
   * Connections already open stay with the edge that accepted them (a reload does not close them,
   * so keep-alive clients never see a reset); their requests reach the current workers.
   */
  wire(gen: Generation, handle: RequestHandler): void {
    const keys = listenerKeys(gen.listens);
    for (const [i, spec] of gen.listens.entries()) {
      const l = this.byKey.get(keys[i]!);
      const edge = gen.edges.get(spec.proto);
      if (!l || !edge) continue;
      l.server.removeAllListeners('connection');
      l.server.on('connection', (socket: Socket) => {
        edge.accept(socket, l.info, handle);
        socket.resume();
      });
      const waiting = this.parked.get(l.key);
      this.parked.delete(l.key);
      for (const socket of waiting ?? []) {
        if (socket.destroyed) continue;
        edge.accept(socket, l.info, handle);
        socket.resume();
      }
    }
  }

  private park(l: Listener): void {
    const waiting = new Set<Socket>();
    this.parked.set(l.key, waiting);
    l.server.on('connection', (socket: Socket) => {
      waiting.add(socket);
      socket.on('error', () => {});
      socket.once('close', () => waiting.delete(socket));
    });
  }

  private dropParked(key: string): void {
    for (const s of this.parked.get(key) ?? []) s.destroy();
    this.parked.delete(key);
  }

  /** Close the listeners `gen` no longer has. */
  closeRemoved(gen: Generation): void {
    const wanted = new Set(listenerKeys(gen.listens));
    for (const [key, l] of this.byKey) {
      if (wanted.has(key)) continue;
      this.log.info(`tsgi: closing listener ${l.info.proto}://${l.info.bound} (removed from the config)`);
      closeListener(l, true, this.log);
      this.byKey.delete(key);
      this.dropParked(key);
    }
  }

  /** Close some listeners (a reload that failed after binding them); unix sockets are removed. */
  close(list: readonly Listener[]): void {
    for (const l of list) {
      closeListener(l, true, this.log);
      this.byKey.delete(l.key);
      this.dropParked(l.key);
    }
  }

  /** Close every listener; unix sockets are removed with `vacuum`. */
  closeAll(vacuum: boolean): void {
    for (const l of this.byKey.values()) closeListener(l, vacuum, this.log);
    for (const key of this.byKey.keys()) this.dropParked(key);
    this.byKey.clear();
  }
}

function chownSpec(gen: Generation): { uid: number; gid: number } | null {
  const spec = gen.core['chown-socket'];
  if (!spec) return null;
  const origin = gen.config.origin('chown-socket');
  const [u, g] = spec.split(':');
  const uid = resolveUid(u!, 'chown-socket', origin);
  const gid = g ? resolveGid(g, 'chown-socket', origin) : (primaryGid(uid) ?? uid);
  return { uid, gid };
}
