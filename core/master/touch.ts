import { statSync } from 'node:fs';

/**
 * uWSGI's `touch-*` options (`core/master_checks.c: uwsgi_check_touches`): the master polls each
 * file's modification time once per cycle; a change (or the file appearing) triggers the action.
 * The first look only records the time.
 */

/** Modification time of `path` in ms, or 0 when it does not exist. */
export function mtimeMs(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * Whether a file was touched between two looks: its mtime changed and it exists now (a file that
 * disappears triggers nothing; one that appears does).
 */
export function touched(before: number, now: number): boolean {
  return now !== 0 && now !== before;
}

/** A set of watched files for one action, remembering each file's last seen mtime. */
export class TouchWatch {
  private readonly seen = new Map<string, number>();

  /**
   * @param paths files to watch
   * @param previous a watch whose remembered times carry over (a reload keeps the baselines of
   *   files still watched, so touching a file once triggers once)
   */
  constructor(
    readonly paths: readonly string[],
    previous?: TouchWatch,
  ) {
    for (const p of paths) this.seen.set(p, previous?.seen.get(p) ?? mtimeMs(p));
  }

  /** The first touched file since the last call, or null. Updates every file's remembered time. */
  poll(): string | null {
    let hit: string | null = null;
    for (const [p, before] of this.seen) {
      const now = mtimeMs(p);
      if (touched(before, now) && hit === null) hit = p;
      this.seen.set(p, now);
    }
    return hit;
  }
}
