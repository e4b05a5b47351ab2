import { coreOptions } from '../config/core-options.js';
import type { InstanceConfig } from '../config/resolve.js';
import { ConfigError } from '../errors.js';
import type { ListenSpec } from '../plugin/types.js';

/** The protocols a plain `socket` listener can speak in tsgi. */
export type SocketProtocol = 'uwsgi' | 'http' | 'fastcgi';

const NAMES: Readonly<Record<string, SocketProtocol>> = {
  uwsgi: 'uwsgi',
  http: 'http',
  http11: 'http',
  fastcgi: 'fastcgi',
};

/**
 * The protocol of the instance's `socket` listeners: uWSGI's `protocol` (alias `socket-protocol`),
 * uwsgi when not given. Each protocol plugin serves the `socket` addresses when this names it.
 * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE for a protocol tsgi does not speak (scgi, puwsgi, ...).
 */
export function socketProtocol(config: InstanceConfig): SocketProtocol {
  const name = config.values(coreOptions).protocol;
  if (name === null) return 'uwsgi';
  const p = NAMES[name.trim().toLowerCase()];
  if (!p)
    throw new ConfigError(
      'TSGI_ERR_CONFIG_VALUE',
      `protocol '${name}' is not supported: tsgi's socket listeners speak uwsgi, http (http11) or fastcgi`,
      config.origin('protocol'),
      'protocol',
    );
  return p;
}

/** The listen specs of one list option's addresses (`socket`, `fastcgi-socket`, ...), with their config origins. */
export function listenSpecs(
  config: InstanceConfig,
  proto: string,
  option: string,
  addresses: readonly string[],
): ListenSpec[] {
  const origins = config.origins(option);
  return addresses.map((address, i) => ({ proto, address, origin: origins[i] ?? null }));
}
