import { isUtf8 } from 'node:buffer';
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Which file under a document root a request path names, as uWSGI's cgi and php plugins find it
 * (`uwsgi_cgi_walk`, `uwsgi_php_walk`): walk down the path one component at a time; the first
 * component that is not a directory is the script and the rest of the path is its PATH_INFO; the
 * script's real path (symlinks resolved) must stay under the root, or under one of the other
 * allowed roots. Used by the CGI and PHP runners. Paths are JavaScript strings (UTF-8 on disk).
 */

/** What a request path names under a root. */
export type ScriptLookup =
  /** A file: `path` as walked, `real` its real path, `urlPath` the part of the request path naming it. */
  | {
      readonly kind: 'file';
      readonly path: string;
      readonly real: string;
      readonly urlPath: string;
      readonly pathInfo: string | null;
    }
  /** The path names a directory (the caller redirects to its slash or runs its index file). */
  | { readonly kind: 'directory'; readonly path: string; readonly real: string }
  | { readonly kind: 'missing'; readonly detail: string }
  /** The real path left the root (a `..` or a symlink out of it). */
  | { readonly kind: 'outside'; readonly real: string };

/**
 * A latin-1 "binary string" var (one char per byte, as request vars are) as the text its bytes
 * encode in UTF-8, which is what node's fs and child_process functions encode strings back into:
 * valid UTF-8 keeps its exact bytes on the way out. Other bytes cannot be passed exactly; the
 * string is returned unchanged (its latin-1 characters).
 */
export function utf8Text(binary: string): string {
  if (!/[^\x00-\x7f]/.test(binary)) return binary;
  const bytes = Buffer.from(binary, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : binary;
}

/** Whether `path` is `root` or inside it. */
export function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root.endsWith('/') ? root : `${root}/`);
}

async function statOrNull(p: string) {
  try {
    return await stat(p);
  } catch {
    return null;
  }
}

/**
 * Look up `urlPath` (the request path below the root's mountpoint, decoded; '' or starting with
 * `/`) under `root` (a real path).
 * @param allowed other roots a script's real path may be under (`cgi-safe`, `php-allowed-docroot`)
 */
export async function lookupScript(
  root: string,
  urlPath: string,
  allowed: readonly string[] = [],
): Promise<ScriptLookup> {
  const parts = urlPath.split('/');
  let cur = root;
  let consumed = 0;
  let pathInfo: string | null = null;
  for (let i = 1; i < parts.length; i++) {
    const next = join(cur, parts[i]!);
    consumed += parts[i]!.length + 1;
    cur = next;
    if (i === parts.length - 1) break;
    const st = await statOrNull(next);
    if (!st) return { kind: 'missing', detail: `${next} does not exist` };
    if (!st.isDirectory()) {
      const tail = urlPath.slice(consumed);
      pathInfo = tail === '/' ? null : tail;
      break;
    }
  }
  let real: string;
  try {
    real = await realpath(cur);
  } catch {
    return { kind: 'missing', detail: `${cur} does not exist` };
  }
  if (!isUnder(real, root) && !allowed.some((r) => isUnder(real, r))) return { kind: 'outside', real };
  const st = await statOrNull(real);
  if (!st) return { kind: 'missing', detail: `${real} does not exist` };
  if (st.isDirectory()) return { kind: 'directory', path: cur, real };
  return { kind: 'file', path: cur, real, urlPath: urlPath.slice(0, consumed), pathInfo };
}

/** The first of `names` readable in `dir`, or null. */
export async function indexFile(dir: string, names: readonly string[]): Promise<string | null> {
  for (const name of names) {
    try {
      await access(join(dir, name), constants.R_OK);
      return name;
    } catch {}
  }
  return null;
}

/**
 * {@link lookupScript} results remembered for a moment, for runners that look a script up on every
 * request (the PHP runner): a realpath and a stat per request cost the master more CPU than the rest
 * of a request's path. PHP keeps its own realpath cache for 120 s by default; this one keeps a result
 * `ttlMs` (a deploy is seen within that), at most `max` of them (all are dropped when full).
 */
export class ScriptLookupCache {
  private readonly entries = new Map<
    string,
    { readonly until: number; readonly result: Promise<ScriptLookup> }
  >();

  constructor(
    private readonly ttlMs = 1000,
    private readonly max = 4096,
  ) {}

  /** Like {@link lookupScript}; concurrent lookups of one path share one. */
  lookup(root: string, urlPath: string, allowed: readonly string[] = []): Promise<ScriptLookup> {
    const key = `${root}\0${urlPath}\0${allowed.join('\0')}`;
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.result;
    if (this.entries.size >= this.max) this.entries.clear();
    const result = lookupScript(root, urlPath, allowed);
    this.entries.set(key, { until: now + this.ttlMs, result });
    return result;
  }
}
