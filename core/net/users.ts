import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigOrigin } from '../errors.js';

function lookup(file: string, name: string, idField: number): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[idField] !== undefined) return Number(f[idField]);
  }
  return null;
}

/**
 * Resolve a user given by name or number to a uid (from /etc/passwd; no NSS).
 * @throws {ConfigError} TSGI_ERR_CONFIG_USER when the name is unknown.
 */
export function resolveUid(user: string, option: string, origin: ConfigOrigin | null): number {
  if (/^\d+$/.test(user)) return Number(user);
  const id = lookup('/etc/passwd', user, 2);
  if (id === null) throw new ConfigError('TSGI_ERR_CONFIG_USER', `unknown user '${user}'`, origin, option);
  return id;
}

/**
 * Resolve a group given by name or number to a gid (from /etc/group).
 * @throws {ConfigError} TSGI_ERR_CONFIG_USER when the name is unknown.
 */
export function resolveGid(group: string, option: string, origin: ConfigOrigin | null): number {
  if (/^\d+$/.test(group)) return Number(group);
  const id = lookup('/etc/group', group, 2);
  if (id === null) throw new ConfigError('TSGI_ERR_CONFIG_USER', `unknown group '${group}'`, origin, option);
  return id;
}

/** The primary gid of a user (from /etc/passwd), or null. */
export function primaryGid(uid: number): number | null {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (Number(f[2]) === uid && f[3] !== undefined) return Number(f[3]);
    }
  } catch {}
  return null;
}
