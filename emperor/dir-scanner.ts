import { type FSWatcher, lstatSync, readdirSync, type Stats, statSync, watch } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { fromBytes, toBytes } from '../core/config/bytes.js';
import { globMark, hasMagic } from '../core/config/glob.js';
import type { Logger } from '../core/log/logger.js';
import type { Scanner, Snapshot, VassalSpec } from './scanner.js';

/** Config extensions uWSGI's emperor accepts that tsgi does not read (named once, then ignored). */
const FOREIGN_EXTENSIONS = new Set(['.xml', '.yml', '.yaml', '.json', '.js']);

/** How a directory or glob scanner looks at files. */
export interface DirScannerOptions {
  /** Seconds between full rescans. */
  readonly freqS: number;
  /** lstat instead of stat: a symlink's own mtime counts (`emperor-nofollow`). */
  readonly nofollow: boolean;
  /** Owner of the symlink itself in tyrant mode (`emperor-tyrant-nofollow`). */
  readonly tyrantNofollow: boolean;
  /** The emperor's working directory (relative sources resolve against it). */
  readonly cwd: string;
  readonly log: Logger;
}

/** Debounce between a watcher event and the rescan it triggers, ms (editors write in bursts). */
const WATCH_DEBOUNCE_MS = 25;

/**
 * Vassals from `*.ini` files in a directory (`dir://` or a plain path) or matching a glob
 * (`glob://` or a path with `*?[`), as uWSGI's directory and glob monitors: the name is the file name
 * (glob: the matched path), the working directory is the vassals directory (glob: the emperor's),
 * a newer mtime or another inode (an editor replacing the file, a symlink pointing elsewhere) is a new
 * version. fs.watch makes changes visible at once; a full rescan every `freqS` is the truth (missed
 * events, rsync, network filesystems).
 */
export class DirScanner implements Scanner {
  private readonly pattern: string;
  private readonly glob: boolean;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly named = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private onSnapshot: ((s: Snapshot) => void) | null = null;
  private unreadable: string | null = null;

  constructor(
    readonly arg: string,
    private readonly opts: DirScannerOptions,
  ) {
    const raw = arg.replace(/^(dir|glob):\/\//, '');
    this.glob = arg.startsWith('glob://') || (!arg.startsWith('dir://') && hasMagic(toBytes(raw)));
    this.pattern = this.glob ? raw : resolve(opts.cwd, raw);
  }

  start(onSnapshot: (s: Snapshot) => void): void {
    this.onSnapshot = onSnapshot;
    this.scanNow();
    this.timer = setInterval(() => this.scanNow(), this.opts.freqS * 1000);
  }

  scanNow(): void {
    const found = this.glob ? this.listGlob() : this.listDir();
    if (!found) return;
    this.watch(found.dirs);
    const snap = new Map<string, VassalSpec>();
    for (const { name, path } of found.files) {
      const spec = this.specOf(name, path);
      if (spec) snap.set(name, spec);
    }
    this.onSnapshot?.(snap);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.timer = this.debounce = null;
    this.onSnapshot = null;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private listDir(): { files: Array<{ name: string; path: string }>; dirs: string[] } | null {
    let names: string[];
    try {
      names = readdirSync(this.pattern);
    } catch (err) {
      this.noteUnreadable(`cannot read the vassals directory ${this.pattern}: ${(err as Error).message}`);
      return null;
    }
    this.noteUnreadable(null);
    const files = names.filter((n) => this.accepts(n)).map((n) => ({ name: n, path: join(this.pattern, n) }));
    return { files, dirs: [this.pattern] };
  }

  private listGlob(): { files: Array<{ name: string; path: string }>; dirs: string[] } {
    // glob(3) as the config reader's for-glob runs it: a pattern matching nothing comes back as
    // itself, directories come back with a trailing slash; neither is a vassal.
    const files = globMark(toBytes(this.pattern), this.opts.cwd)
      .map(fromBytes)
      .filter((p) => !p.endsWith('/') && p !== this.pattern && this.accepts(basename(p)))
      .map((p) => ({ name: p, path: resolve(this.opts.cwd, p) }));
    const segments = this.pattern.split('/');
    const fixed = segments
      .slice(
        0,
        segments.findIndex((x) => hasMagic(toBytes(x))),
      )
      .join('/');
    const root = resolve(this.opts.cwd, fixed || (this.pattern.startsWith('/') ? '/' : '.'));
    return { files, dirs: [...new Set([root, ...files.map((f) => dirname(f.path))])] };
  }

  /** `.ini` files are vassals; other uWSGI config formats are named once; anything else is ignored. */
  private accepts(name: string): boolean {
    const ext = extname(name);
    if (ext === '.ini') return name.length < 255;
    if (FOREIGN_EXTENSIONS.has(ext) && !this.named.has(name)) {
      this.named.add(name);
      this.opts.log.warn(`${name}: tsgi reads only .ini vassal configs; ignored`);
    }
    return false;
  }

  private specOf(name: string, path: string): VassalSpec | null {
    let st: Stats;
    let owner: Stats;
    try {
      st = this.opts.nofollow ? lstatSync(path) : statSync(path);
      if (!st.isFile() && !(this.opts.nofollow && st.isSymbolicLink())) return null;
      owner = this.opts.tyrantNofollow ? lstatSync(path) : st;
    } catch {
      return null; // vanished between readdir and stat, or a dangling symlink
    }
    return {
      name,
      monitor: this.arg,
      version: `${st.mtimeMs}:${st.ino}:${st.size}`,
      mtimeS: Math.floor(st.mtimeMs / 1000),
      cwd: this.glob ? this.opts.cwd : this.pattern,
      source: { kind: 'file', path },
      owner: { uid: owner.uid, gid: owner.gid },
    };
  }

  private noteUnreadable(message: string | null): void {
    if (message && this.unreadable === null)
      this.opts.log.error(`${message}; keeping the running vassals, retrying every ${this.opts.freqS} s`);
    else if (!message && this.unreadable !== null) this.opts.log.info(`${this.pattern} is readable again`);
    this.unreadable = message;
  }

  /** Watch exactly `dirs` (a hint: any event triggers a debounced full rescan). */
  private watch(dirs: readonly string[]): void {
    for (const [dir, w] of this.watchers)
      if (!dirs.includes(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, () => this.soon());
        w.on('error', () => {
          w.close();
          this.watchers.delete(dir);
        });
        this.watchers.set(dir, w);
      } catch {
        // Not watchable (gone, too many watches): the periodic rescan still sees changes.
      }
    }
  }

  private soon(): void {
    if (this.debounce || !this.onSnapshot) return;
    this.debounce = setTimeout(() => {
      this.debounce = null;
      this.scanNow();
    }, WATCH_DEBOUNCE_MS);
  }
}
