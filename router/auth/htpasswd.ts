import { readFile, stat } from 'node:fs/promises';

/**
 * htpasswd files (`user:hash` per line, Apache's format), read asynchronously and kept in memory:
 * a file is stat'ed again at most once a second and re-read when its size or mtime changed, so an
 * edited file takes effect without a reload, as uWSGI's (which opens the file on every request).
 */
export class HtpasswdFiles {
  private readonly files = new Map<
    string,
    { entries: Array<[string, string]>; mtimeMs: number; size: number; checkedAtMs: number }
  >();

  /** The `[user, hash]` lines of `path`, in file order; empty when the file cannot be read. */
  async entries(path: string): Promise<ReadonlyArray<readonly [string, string]>> {
    const now = performance.now();
    const cached = this.files.get(path);
    if (cached && now - cached.checkedAtMs < 1000) return cached.entries;
    const st = await stat(path).catch(() => null);
    if (!st) {
      this.files.delete(path);
      return [];
    }
    if (cached && cached.mtimeMs === st.mtimeMs && cached.size === st.size) {
      cached.checkedAtMs = now;
      return cached.entries;
    }
    const text = await readFile(path, 'latin1').catch(() => '');
    const entries = parseHtpasswd(text);
    this.files.set(path, { entries, mtimeMs: st.mtimeMs, size: st.size, checkedAtMs: now });
    return entries;
  }
}

/** `user:hash` lines; blank lines, `#` comments and lines without a colon are skipped. */
export function parseHtpasswd(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
  }
  return out;
}
