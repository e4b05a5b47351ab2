import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { indexFile, lookupScript } from '../../core/request/script-path.js';

/**
 * Which CGI script a request path names, as uWSGI's cgi plugin decides it
 * (`plugins/cgi/cgi_plugin.c: uwsgi_cgi_request`): the longest `cgi = MOUNT=DIR` whose mountpoint
 * prefixes the path (else the `cgi = DIR` entry without one), then the walk of
 * {@link lookupScript} (the real path kept under the directory, `cgi-safe` paths excepted), a
 * directory answered with a redirect to its slash or its `cgi-index` file, `cgi-allowed-ext` and
 * then `cgi-helper` or the executable bit. SCRIPT_NAME is the URL path naming the script.
 * Paths here are JavaScript strings (UTF-8 on disk).
 */

/** One `cgi` entry: `mount` is '' for the default entry (`cgi = DIR`). */
export interface CgiEntry {
  readonly mount: string;
  readonly path: string;
}

/** What the mapping is configured with. */
export interface CgiMapConfig {
  readonly entries: readonly CgiEntry[];
  /** `cgi-index` names, tried in order in a directory. */
  readonly index: readonly string[];
  /** `cgi-allowed-ext` suffixes; empty = any. */
  readonly allowedExt: readonly string[];
  /** `cgi-helper` as [suffix, command], in config order. */
  readonly helpers: ReadonlyArray<readonly [string, string]>;
  /** `cgi-safe` prefixes: scripts under them skip the under-the-directory check. */
  readonly safe: readonly string[];
  /** `cgi-dontresolve`: run the path as requested (a symlink) rather than its real path. */
  readonly dontResolve: boolean;
}

/** A request mapped to a script. */
export interface CgiScript {
  readonly kind: 'script';
  /** The file to run (its real path unless `cgi-dontresolve`). */
  readonly file: string;
  /** Interpreter from `cgi-helper`, or null to run the file itself. */
  readonly helper: string | null;
  /** The directory of the `cgi` entry (real path), or the script itself for a file entry. */
  readonly root: string;
  /** SCRIPT_NAME: the mountpoint plus the script's path under the directory. */
  readonly scriptName: string;
  /** PATH_INFO after the script, or null when there is none. */
  readonly pathInfo: string | null;
  /** Whether the entry is a single script rather than a directory. */
  readonly isFile: boolean;
  /** A non-parsed-header script (`nph-` name, RFC 3875 §5). */
  readonly nph: boolean;
}

/** The outcome of mapping a request path. */
export type CgiTarget =
  | CgiScript
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'error'; readonly status: 403 | 404; readonly detail: string };

const notFound = (detail: string): CgiTarget => ({ kind: 'error', status: 404, detail });
const forbidden = (detail: string): CgiTarget => ({ kind: 'error', status: 403, detail });

/** The entry for `path`: the longest mountpoint that prefixes it on a segment boundary, else the default. */
export function pickEntry(entries: readonly CgiEntry[], path: string): CgiEntry | null {
  let best: CgiEntry | null = null;
  let fallback: CgiEntry | null = null;
  for (const e of entries) {
    if (e.mount === '') fallback = e;
    else if (underMount(path, e.mount) && (!best || e.mount.length > best.mount.length)) best = e;
  }
  return best ?? fallback;
}

function underMount(path: string, mount: string): boolean {
  if (!path.startsWith(mount)) return false;
  return mount.endsWith('/') || path.length === mount.length || path[mount.length] === '/';
}

/**
 * Map a request path (PATH_INFO, decoded) to a script.
 * @param query the query string, kept on a redirect to the directory's slash
 */
export async function mapScript(cfg: CgiMapConfig, path: string, query: string): Promise<CgiTarget> {
  const entry = pickEntry(cfg.entries, path);
  if (!entry) return notFound('no cgi entry serves this path');
  const mount = entry.mount.endsWith('/') ? entry.mount.slice(0, -1) : entry.mount;
  let root: string;
  let isDir: boolean;
  try {
    root = await realpath(entry.path);
    isDir = (await stat(root)).isDirectory();
  } catch {
    return notFound(`cgi path ${entry.path} does not exist`);
  }
  const rest = path.slice(mount.length);
  if (!isDir) return script(cfg, root, root, mount, rest || null, true);
  const found = await lookupScript(root, rest, cfg.safe);
  if (found.kind === 'missing') return notFound(found.detail);
  if (found.kind === 'outside') return forbidden(`CGI security error: ${found.real} is not under ${root}`);
  if (found.kind === 'file')
    return script(
      cfg,
      cfg.dontResolve ? found.path : found.real,
      root,
      mount + found.urlPath,
      found.pathInfo,
      false,
    );
  if (!path.endsWith('/')) return { kind: 'redirect', location: `${path}/${query ? `?${query}` : ''}` };
  const index = await indexFile(found.real, cfg.index);
  if (!index) return notFound(`no cgi-index file in ${found.real}`);
  const file = join(cfg.dontResolve ? found.path : found.real, index);
  return script(cfg, file, root, `${mount}${rest}${index}`, null, false);
}

async function script(
  cfg: CgiMapConfig,
  file: string,
  root: string,
  scriptName: string,
  pathInfo: string | null,
  isFile: boolean,
): Promise<CgiTarget> {
  if (cfg.allowedExt.length > 0 && !cfg.allowedExt.some((ext) => file.endsWith(ext)))
    return forbidden(`${file} does not end with an allowed extension`);
  const helper = cfg.helpers.find(([ext]) => file.endsWith(ext))?.[1] ?? null;
  if (!helper) {
    try {
      await access(file, constants.X_OK);
    } catch {
      return forbidden(`${file} is not executable and no cgi-helper runs it`);
    }
  }
  return {
    kind: 'script',
    file,
    helper,
    root: isFile ? dirname(file) : root,
    scriptName,
    pathInfo,
    isFile,
    nph: basename(file).startsWith('nph-'),
  };
}
