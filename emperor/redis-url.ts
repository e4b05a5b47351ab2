import { ConfigError } from '../core/errors.js';

/** Where Redis vassals live, parsed from `redis://` / `rediss://` URLs. */
export interface RedisSource {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** TLS (`rediss://`), with SNI on the host name. */
  readonly tls: boolean;
  /** The hash holding vassals: field = vassal name, value = ini text. */
  readonly key: string;
  /** The URL with the password masked, for logs and stats. */
  readonly display: string;
}

/** The hash read when the URL names none (`?key=`). */
export const DEFAULT_VASSALS_KEY = 'tsgi:vassals';

/**
 * Parse `redis://[[user]:password@]host[:port][/db][?key=HASH]` (RFC 3986 URL; `rediss://` for TLS;
 * port 6379, db 0 and key `tsgi:vassals` by default; user and password percent-decoded).
 * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE for anything else, naming the `emperor` option.
 */
export function parseRedisUrl(text: string): RedisSource {
  const bad = (why: string) => new ConfigError('TSGI_ERR_CONFIG_VALUE', `${why}: '${text}'`, null, 'emperor');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a valid URL');
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw bad('expected redis:// or rediss://');
  if (!u.hostname) throw bad('no host');
  const port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw bad('the path must be a database number');
  const key = u.searchParams.get('key') ?? DEFAULT_VASSALS_KEY;
  if (key === '') throw bad('empty key');
  const masked = new URL(u.href);
  if (masked.password) masked.password = '***';
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: path === '' ? 0 : Number(path),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
    key,
    display: masked.href,
  };
}
