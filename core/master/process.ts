import { unlinkSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log/logger.js';
import { primaryGid, resolveGid, resolveUid } from '../net/users.js';
import type { Generation } from './generation.js';

/** The master's pidfiles: written at boot (`pidfile` before, `pidfile2` after dropping privileges). */
export class Pidfiles {
  private readonly paths: string[] = [];

  /** Write the master's pid to `path` (nothing when null). @throws the fs error. */
  write(path: string | null): void {
    if (!path) return;
    writeFileSync(path, `${process.pid}\n`);
    this.paths.push(path);
  }

  /** Write every pidfile again (FIFO `P`). */
  rewrite(): void {
    for (const p of this.paths) writeFileSync(p, `${process.pid}\n`);
  }

  /** Remove them (`vacuum`, at exit). */
  remove(): void {
    for (const p of this.paths)
      try {
        unlinkSync(p);
      } catch {}
  }
}

/**
 * Drop to `uid`/`gid` after binding (only as root; otherwise a warning).
 * @throws {ConfigError} for an unknown user or group.
 */
export function dropPrivileges(gen: Generation, log: Logger): void {
  const { uid: user, gid: group } = gen.core;
  if (!user && !group) return;
  const uid = user ? resolveUid(user, 'uid', gen.config.origin('uid')) : null;
  const gid = group
    ? resolveGid(group, 'gid', gen.config.origin('gid'))
    : uid !== null
      ? primaryGid(uid)
      : null;
  if (process.getuid?.() !== 0) {
    // Already the requested user (a vassal started as its owner): nothing to do, nothing to say.
    const same = (uid === null || uid === process.getuid?.()) && (gid === null || gid === process.getgid?.());
    if (!same) log.warn('tsgi: uid/gid given but not running as root; not changing user');
    return;
  }
  if (gid !== null) {
    process.setgroups?.([gid]);
    process.setgid?.(gid);
  }
  if (uid !== null) process.setuid?.(uid);
  log.info(`tsgi: running as uid ${process.getuid?.()} gid ${process.getgid?.()}`);
}
