import { ConfigError, type ConfigOrigin } from '../errors.js';

/** A listen address as uWSGI writes it, parsed. */
export type ParsedAddress =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string };

/**
 * Parse a uWSGI socket address: `host:port`, `:port` (every IPv4 interface, as uWSGI binds it),
 * `[v6addr]:port`, `host:0` (a free port), or a unix socket path (anything without a colon).
 * Abstract sockets (`@name`) are not supported.
 * @throws {ConfigError} TSGI_ERR_CONFIG_ADDRESS for a malformed address or port.
 */
export function parseAddress(text: string, option: string, origin: ConfigOrigin | null): ParsedAddress {
  const t = text.trim();
  const bad = (why: string) =>
    new ConfigError('TSGI_ERR_CONFIG_ADDRESS', `${why}: '${text}'`, origin, option);
  if (t === '') throw bad('empty address');
  if (t.startsWith('@')) throw bad('abstract unix sockets are not supported');
  const colon = t.lastIndexOf(':');
  if (colon < 0) return { kind: 'unix', path: t };
  let host = t.slice(0, colon);
  const portText = t.slice(colon + 1);
  if (!/^\d+$/.test(portText)) throw bad('port must be a number');
  const port = Number(portText);
  if (port > 65535) throw bad('port must be at most 65535');
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || host === '*') host = '0.0.0.0';
  return { kind: 'tcp', host, port };
}

/** Format a bound TCP address for logs: `127.0.0.1:8080`, `[::1]:8080`. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
