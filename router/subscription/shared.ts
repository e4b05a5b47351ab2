import type { Logger } from '../../core/log/logger.js';
import type { SubscriptionPacket } from './packet.js';
import { SubscriptionServer } from './server.js';
import { SubscriptionTable, type TableSettings } from './table.js';

/**
 * Subscription servers and their tables outlive a config generation: a graceful reload builds new
 * plugin instances, and the new front must keep the nodes the old one knew (nodes re-announce only
 * every `subscribe-freq` seconds) and the UDP port it listened on. So servers are kept per address
 * for the whole process and shared by the generations that use them, the last one closing them.
 */
interface Entry {
  readonly servers: SubscriptionServer[];
  readonly table: SubscriptionTable;
  /** The packet handler of each generation using it; packets go to the latest. */
  readonly handlers: Array<(p: SubscriptionPacket) => void>;
}

const servers = new Map<string, Entry>();

/** Shared subscription servers and their table, and how to let go of them. */
export interface SharedSubscription {
  readonly table: SubscriptionTable;
  /** This generation is done with them; the last one closes the sockets. */
  release(): void;
}

/**
 * The subscription servers on `addresses` of router `name` and their table, created on first use; a
 * later generation takes them over (its settings and packet handler apply from now on). Call from
 * `provision` (it binds sockets) and release in `cleanup`.
 */
export async function sharedSubscription(
  name: string,
  addresses: readonly string[],
  settings: TableSettings,
  onPacket: (table: SubscriptionTable, p: SubscriptionPacket) => void,
  log: Logger,
): Promise<SharedSubscription> {
  const id = `${name} ${addresses.join(' ')}`;
  let entry = servers.get(id);
  if (!entry) {
    const table = new SubscriptionTable(settings, log, name);
    const handlers: Entry['handlers'] = [];
    const deliver = (p: SubscriptionPacket) => handlers[handlers.length - 1]?.(p);
    entry = { table, handlers, servers: addresses.map((a) => new SubscriptionServer(a, name, deliver, log)) };
    servers.set(id, entry);
    try {
      for (const s of entry.servers) await s.listen();
    } catch (err) {
      for (const s of entry.servers) s.close();
      servers.delete(id);
      throw err;
    }
  } else entry.table.configure(settings);
  const e = entry;
  const handler = (p: SubscriptionPacket) => onPacket(e.table, p);
  e.handlers.push(handler);
  let released = false;
  return {
    table: e.table,
    release: () => {
      if (released) return;
      released = true;
      e.handlers.splice(e.handlers.indexOf(handler), 1);
      if (e.handlers.length > 0) return;
      for (const srv of e.servers) srv.close();
      servers.delete(id);
    },
  };
}
