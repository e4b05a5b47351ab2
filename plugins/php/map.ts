import { realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { indexFile, isUnder, ScriptLookupCache, utf8Text } from '../../core/request/script-path.js';

/**
 * Which PHP script a request runs, as uWSGI's php plugin decides it
 * (`plugins/php/php_plugin.c: uwsgi_php_request`): `php-app` runs one front controller for every
 * request; otherwise the request path is walked under the document root ({@link lookupScript}),
 * a missing script falls back to `php-fallback`/`php-fallback2` or is a 404, a directory redirects
 * to its slash or runs its `php-index` file, and the script must pass `php-allowed-ext` and
 * `php-allowed-script`. tsgi keeps every script's real path under the document root (or a
 * `php-allowed-docroot`) whatever the options say.
 */

/** What the mapping is configured with (paths are real paths). */
export interface PhpMapConfig {
  /** `php-docroot` (real path), or null to use the request's DOCUMENT_ROOT, else `cwd`. */
  readonly docroot: string | null;
  readonly cwd: string;
  /** `php-index` names. */
  readonly index: readonly string[];
  /** `php-allowed-ext` suffixes (empty = any). */
  readonly allowedExt: readonly string[];
  /** `php-allowed-docroot`: other roots scripts may live under. */
  readonly allowedDocroot: readonly string[];
  /** `php-allowed-script`: when given, the only scripts that may run. */
  readonly allowedScript: readonly string[];
  /** `php-app`: the script every request runs. */
  readonly app: string | null;
  /** `php-fallback` (absolute) and `php-fallback2` (under the document root). */
  readonly fallback: string | null;
  readonly fallback2: string | null;
  /** `php-fallback-qs`: QUERY_STRING becomes `NAME=<original path>&<original query>`. */
  readonly fallbackQs: string | null;
}

/** The vars a mapped request gets (latin-1 binary strings, as request vars are). */
export interface PhpScript {
  readonly kind: 'script';
  readonly docroot: string;
  readonly filename: string;
  readonly scriptName: string;
  readonly pathInfo: string;
  /** A new QUERY_STRING (php-fallback-qs), or null to keep it. */
  readonly query: string | null;
}

/** The outcome of mapping. */
export type PhpTarget =
  | PhpScript
  | { readonly kind: 'redirect'; readonly location: string }
  | { readonly kind: 'error'; readonly status: 403 | 404; readonly detail: string };

const lookups = new ScriptLookupCache();
const docroots = new ScriptLookupCache();

/** A text path (from the walk) back to the binary form its var had (see {@link utf8Text}). */
function binary(text: string, decoded: boolean): string {
  return decoded ? Buffer.from(text, 'utf8').toString('latin1') : text;
}

/** The request's DOCUMENT_ROOT as a real directory, or null. */
async function requestRoot(path: string): Promise<string | null> {
  const found = await docroots.lookup(path, '', ['/']);
  return found.kind === 'directory' ? found.real : null;
}

async function real(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch {
    return null;
  }
}

/**
 * Map a request (its PATH_INFO, QUERY_STRING and DOCUMENT_ROOT vars, latin-1 binary strings).
 */
export async function mapPhp(cfg: PhpMapConfig, vars: ReadonlyMap<string, string>): Promise<PhpTarget> {
  const reqRoot = vars.get('DOCUMENT_ROOT');
  const docroot = cfg.docroot ?? (reqRoot ? await requestRoot(utf8Text(reqRoot)) : null) ?? cfg.cwd;
  const pathBin = vars.get('PATH_INFO') ?? '';
  const query = vars.get('QUERY_STRING') ?? '';
  if (pathBin.includes('\0')) return { kind: 'error', status: 404, detail: 'NUL in the request path' };
  const path = utf8Text(pathBin);
  const decoded = path !== pathBin;
  if (cfg.app) return check(cfg, docroot, { filename: cfg.app, scriptName: '', pathInfo: '', query: null });

  const found = await lookups.lookup(docroot, path, cfg.allowedDocroot);
  if (found.kind === 'outside')
    return {
      kind: 'error',
      status: 403,
      detail: `PHP security error: ${found.real} is not under the document root ${docroot}`,
    };
  if (found.kind === 'missing') {
    const fallback = cfg.fallback ?? (cfg.fallback2 ? join(docroot, cfg.fallback2) : null);
    if (!fallback) return { kind: 'error', status: 404, detail: found.detail };
    const file = await real(fallback);
    if (!file) return { kind: 'error', status: 404, detail: `php fallback ${fallback} does not exist` };
    return check(cfg, docroot, {
      filename: file,
      scriptName: cfg.fallback2 ?? pathBin,
      pathInfo: '',
      query: cfg.fallbackQs ? `${cfg.fallbackQs}=${pathBin}${query ? `&${query}` : ''}` : null,
    });
  }
  if (found.kind === 'directory') {
    if (!path.endsWith('/')) return { kind: 'redirect', location: `${pathBin}/${query ? `?${query}` : ''}` };
    const index = await indexFile(found.real, cfg.index);
    if (!index) return { kind: 'error', status: 404, detail: `no php-index file in ${found.real}` };
    return check(cfg, docroot, {
      filename: join(found.real, index),
      scriptName: binary(path + index, decoded),
      pathInfo: '',
      query: null,
    });
  }
  return check(cfg, docroot, {
    filename: found.real,
    scriptName: binary(found.urlPath, decoded),
    pathInfo: found.pathInfo === null ? '' : binary(found.pathInfo, decoded),
    query: null,
  });
}

function check(cfg: PhpMapConfig, docroot: string, s: Omit<PhpScript, 'kind' | 'docroot'>): PhpTarget {
  const file = s.filename;
  if (cfg.allowedExt.length > 0 && !cfg.allowedExt.some((ext) => file.endsWith(ext)))
    return {
      kind: 'error',
      status: 403,
      detail: `PHP security error: ${file} does not end with an allowed extension (serve static files with check-static = ${docroot} and static-skip-ext = .php)`,
    };
  if (cfg.allowedScript.length > 0 && !cfg.allowedScript.includes(file))
    return { kind: 'error', status: 403, detail: `PHP security error: ${file} is not an allowed script` };
  const configured = file === cfg.app || file === cfg.fallback;
  if (!configured && !isUnder(file, docroot) && !cfg.allowedDocroot.some((r) => isUnder(file, r)))
    return {
      kind: 'error',
      status: 403,
      detail: `PHP security error: ${file} is not under the document root ${docroot}`,
    };
  // node writes paths as UTF-8: the var carries those bytes
  return { kind: 'script', docroot: binary(docroot, true), ...s, filename: binary(file, true) };
}
