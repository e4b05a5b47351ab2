/**
 * Vassal sources ("imperial monitors" in uWSGI). A scanner reads its source and reports the whole
 * set of vassals it sees, each time it looks; the emperor reconciles the running vassals against
 * that set (add, reload on a new version, stop when gone). Watchers and notifications only make a
 * scanner look sooner; the periodic full read is the truth.
 */

/** Where a vassal's config comes from. */
export type VassalSource =
  /** An ini file on disk, passed to the vassal as `--ini <path>`. */
  | { readonly kind: 'file'; readonly path: string }
  /** Ini text held by the emperor (Redis), passed as `--ini emperor://<name>` and sent over IPC. */
  | { readonly kind: 'inline'; readonly text: string };

/** One vassal as a scanner sees it. */
export interface VassalSpec {
  /** Unique name: the file name (`hello.ini`, as uWSGI names vassals) or the Redis field. */
  readonly name: string;
  /** The scanner's argument, shown as `monitor` in the stats. */
  readonly monitor: string;
  /** Changes whenever the config changes (mtime and inode, or a hash of the text): a new version reloads the vassal. */
  readonly version: string;
  /** Last modification, epoch seconds (stats `last_mod`). */
  readonly mtimeS: number;
  /** Working directory of the vassal. */
  readonly cwd: string;
  readonly source: VassalSource;
  /** Owner of the config file (tyrant mode), or null for a source without owners. */
  readonly owner: { readonly uid: number; readonly gid: number } | null;
}

/** A full view of one source: vassal name → spec. */
export type Snapshot = ReadonlyMap<string, VassalSpec>;

/** A vassal source. */
export interface Scanner {
  /** The argument it was made from (`/etc/vassals`, `redis://host:6379/0?key=vassals`). */
  readonly arg: string;
  /** Start looking; `onSnapshot` gets every full view (possibly unchanged). */
  start(onSnapshot: (snapshot: Snapshot) => void): void;
  /** Look again now (SIGWINCH, tests). */
  scanNow(): void;
  /** Stop watching and release connections. Never rejects. */
  stop(): Promise<void>;
}
