import { chownSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../core/config/ini-reader.js';
import { TsgiError } from '../core/errors.js';
import { primaryGid, resolveGid, resolveUid } from '../core/net/users.js';
import { INLINE_CONFIG_SCHEME } from './messages.js';
import type { VassalSpec } from './scanner.js';

/** The `tsgi` entry point vassals run (`dist/core/cli.js`). */
export const TSGI_CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'core', 'cli.js');

/** Config files and settings the emperor adds to every vassal's command line (uWSGI's `vassals-*`). */
export interface VassalTemplates {
  readonly inheritBefore: readonly string[];
  readonly includeBefore: readonly string[];
  readonly set: readonly string[];
  readonly inherit: readonly string[];
  readonly include: readonly string[];
}

/**
 * A vassal's `tsgi` arguments, in uWSGI's order (`core/emperor.c`, `vassal_new_argv`):
 * `--inherit` (vassals-inherit-before), `--include` (vassals-include-before), `--set` (vassal-set),
 * `--ini <file>` (or `--ini emperor://<name>` for an in-band config), then `--inherit`
 * (vassals-inherit) and `--include` (vassals-include).
 */
export function vassalArgs(spec: VassalSpec, t: VassalTemplates): string[] {
  const pairs = (flag: string, values: readonly string[]) => values.flatMap((v) => [flag, v]);
  const ini = spec.source.kind === 'file' ? spec.source.path : INLINE_CONFIG_SCHEME + spec.name;
  return [
    ...pairs('--inherit', t.inheritBefore),
    ...pairs('--include', t.includeBefore),
    ...pairs('--set', t.set),
    '--ini',
    ini,
    ...pairs('--inherit', t.inherit),
    ...pairs('--include', t.include),
  ];
}

/** Who a vassal runs as: null fields mean "as the emperor". */
export interface Identity {
  readonly uid: number | null;
  readonly gid: number | null;
}

/** Why a vassal is not started (logged once per config version). */
export class VassalRefused extends TsgiError {
  constructor(message: string) {
    super('TSGI_ERR_EMPEROR_REFUSED', message);
  }
}

/**
 * Decide a vassal's uid and gid.
 * - A file vassal runs as the emperor, or in tyrant mode as the owner of its file (uid or gid 0 is
 *   refused, as uWSGI does).
 * - An in-band (Redis) vassal runs as the `uid`/`gid` of its own config whenever the emperor is root
 *   or a tyrant: one without a non-root uid (and gid, default the uid's primary group) is refused, so
 *   text from Redis is never run as root. An unprivileged emperor runs it as itself.
 * @throws {VassalRefused} with the reason.
 */
export function vassalIdentity(spec: VassalSpec, tyrant: boolean, emperorUid: number): Identity {
  if (spec.source.kind === 'file') {
    if (!tyrant) return { uid: null, gid: null };
    const o = spec.owner!;
    if (o.uid === 0 || o.gid === 0)
      throw new VassalRefused(
        `its file is owned by uid ${o.uid} gid ${o.gid}; tyrant mode never runs a vassal as root (chown the file to the tenant)`,
      );
    return { uid: o.uid, gid: o.gid };
  }
  if (!tyrant && emperorUid !== 0) return { uid: null, gid: null };
  const { uid, gid } = configIdentity(spec.name, spec.source.text);
  if (uid === null || uid === 0 || gid === 0)
    throw new VassalRefused(
      'a Redis vassal run by a root or tyrant emperor needs a non-root `uid` (and `gid`) in its config',
    );
  return { uid, gid: gid ?? primaryGid(uid) ?? uid };
}

/**
 * The `uid`/`gid` an in-band config asks for (resolved to numbers), null where absent. The text comes
 * from Redis and the emperor may be root, so it is read with no access to anything else: no files
 * (`ini =`, `@(file)`), no `exec://`, no DNS, an empty environment. A config that needs those to
 * name its user is refused; the vassal itself reads the whole config after dropping to that user.
 */
function configIdentity(name: string, text: string): { uid: number | null; gid: number | null } {
  const denied = (what: string) => () => {
    throw new Error(`the emperor does not read ${what} for a Redis vassal's uid/gid`);
  };
  try {
    const { entries } = loadConfig(['--ini', INLINE_CONFIG_SCHEME + name], {
      inline: { name, text },
      env: {},
      readFile: denied('files'),
      exec: denied('exec://'),
      resolveHost: () => null,
      isPluginLoaded: () => false,
      onPrint: () => {},
    });
    const last = (key: string) => entries.filter((e) => e.key === key).pop();
    const u = last('uid');
    const g = last('gid');
    return {
      uid: u ? resolveUid(u.value, 'uid', u.origin) : null,
      gid: g ? resolveGid(g.value, 'gid', g.origin) : null,
    };
  } catch (err) {
    throw new VassalRefused((err as Error).message);
  }
}

/**
 * Create a Redis vassal's working directory (`<emperor-redis-dir>/<name>`) if missing, owned by the
 * vassal's identity when the emperor is root. @throws the fs error.
 */
export function prepareWorkdir(dir: string, id: Identity): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (id.uid !== null && process.getuid?.() === 0) chownSync(dir, id.uid, id.gid ?? -1);
}
