import type { Socket } from 'node:net';
import { type OptionSpec, option } from '../config/option.js';
import type { InstanceConfig } from '../config/resolve.js';
import type { ConfigOrigin } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { channels, type MasterLifecycleEvent } from '../master/events.js';
import type { Master } from '../master/master.js';
import type { ListenerInfo } from '../plugin/types.js';
import { parseAddress } from './address.js';
import { bindListener, closeListener, type Listener } from './listeners.js';

/**
 * An option holding a service address (`host:port`, `:port`, or a unix socket path), checked when the
 * config is read so a typo fails the start with file, line and option.
 */
export function addressOption(c: {
  help: string;
  aliases?: readonly string[];
  origin?: 'uwsgi' | 'extension';
}): OptionSpec<string | null, false> {
  return {
    ...option.string(c),
    type: 'address',
    parse(text, name, origin) {
      parseAddress(text, name, origin);
      return text.trim();
    },
  };
}

/** A master-side service listener (stats, prometheus) and where its address comes from. */
export interface ServiceSpec {
  /** Name for logs and listener keys: `stats`, `prometheus`. */
  readonly name: string;
  /** The address the config asks for (TCP `host:port` or a unix path), with its origin; null = off. */
  address(config: InstanceConfig): { address: string; origin: ConfigOrigin | null } | null;
  /** Take one accepted connection. */
  onConnection(socket: Socket): void;
  /** The line logged once bound. */
  boundLine(info: ListenerInfo): string;
  /** Mode of a unix socket file (consoles use 0600); default: as created (umask). */
  readonly chmod?: number;
}

/**
 * Run a service listener for the life of the instance: bound from the current config, rebound when a
 * reload changes its address, closed when the instance stops (a unix socket file is removed then).
 * A bind failure is logged as an error and the instance keeps serving without the service. Returns
 * a function that closes it.
 */
export function runService(master: Master, log: Logger, spec: ServiceSpec): () => void {
  let current: { address: string; listener: Listener | null } | null = null;
  let closed = false;

  const close = () => {
    if (current?.listener) closeListener(current.listener, true, log);
    current = null;
  };

  const apply = (config: InstanceConfig) => {
    const want = spec.address(config);
    if (current?.address === want?.address) return;
    close();
    if (!want) return;
    const entry: { address: string; listener: Listener | null } = { address: want.address, listener: null };
    current = entry;
    bindListener(
      { proto: spec.name, address: want.address, origin: want.origin },
      `${spec.name} ${want.address}`,
      { backlog: 128, chmod: spec.chmod ?? null, chown: null },
    ).then(
      (l) => {
        if (closed || current !== entry) {
          closeListener(l, true, log);
          return;
        }
        entry.listener = l;
        l.server.on('connection', (s: Socket) => spec.onConnection(s));
        l.server.unref();
        log.info(spec.boundLine(l.info));
      },
      (err: Error) => log.error(`tsgi: ${spec.name} server not started: ${err.message}`),
    );
  };

  if (master.current) apply(master.current.config);
  const onLifecycle = (msg: unknown) => {
    const ev = msg as MasterLifecycleEvent;
    if (ev.phase === 'reloaded' && master.current) apply(master.current.config);
    else if (ev.phase === 'stopping') {
      closed = true;
      close();
    }
  };
  channels.lifecycle.subscribe(onLifecycle);
  return () => {
    closed = true;
    close();
    channels.lifecycle.unsubscribe(onLifecycle);
  };
}
