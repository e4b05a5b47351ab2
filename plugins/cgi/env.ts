import { utf8Text } from '../../core/request/script-path.js';
import type { CgiScript } from './map.js';

/**
 * The environment of a CGI script (RFC 3875 §4.1 meta-variables), built as uWSGI's cgi plugin does:
 * the worker environment (the master's plus `env =`), every request var on top, then
 * `GATEWAY_INTERFACE`, `SERVER_SOFTWARE`, `REDIRECT_STATUS` (php-cgi wants it), `SCRIPT_NAME`,
 * `SCRIPT_FILENAME`, `PATH_INFO` and `PATH_TRANSLATED` (absent without extra path),
 * `DOCUMENT_ROOT` (the request's if it brought one, else the script's directory); then `cgi-unset` names and `HTTP_PROXY` removed
 * (httpoxy: a client's `Proxy:` header must not become the script's proxy setting).
 */

/** What tsgi reports as SERVER_SOFTWARE. */
export const SERVER_SOFTWARE = 'tsgi';

/**
 * Build the script's environment.
 * @param base the worker environment (master's plus `env =`)
 * @param vars the request vars (latin-1 binary strings)
 * @param unset `cgi-unset` names
 */
export function scriptEnv(
  base: NodeJS.ProcessEnv,
  vars: ReadonlyMap<string, string>,
  s: CgiScript,
  unset: readonly string[],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  for (const [k, v] of vars) env[k] = utf8Text(v);
  env.GATEWAY_INTERFACE ??= 'CGI/1.1';
  env.SERVER_SOFTWARE ??= SERVER_SOFTWARE;
  env.REDIRECT_STATUS ??= '200';
  const docroot = vars.get('DOCUMENT_ROOT');
  env.DOCUMENT_ROOT = docroot ? utf8Text(docroot) : s.root;
  env.SCRIPT_FILENAME = s.file;
  env.SCRIPT_NAME = s.scriptName;
  if (s.pathInfo !== null) {
    env.PATH_INFO = s.pathInfo;
    env.PATH_TRANSLATED = env.DOCUMENT_ROOT + s.pathInfo;
  } else {
    delete env.PATH_INFO;
    delete env.PATH_TRANSLATED;
  }
  delete env.HTTP_PROXY;
  for (const name of unset) delete env[name];
  return env;
}

/**
 * The command-line words of an "indexed" query (RFC 3875 §4.4): a QUERY_STRING without `=` is split
 * on `+` and each word percent-decoded; any other query gives no arguments.
 */
export function searchWords(query: string): string[] {
  if (query === '' || query.includes('=')) return [];
  return query.split('+').map((w) => {
    try {
      return decodeURIComponent(w);
    } catch {
      return w;
    }
  });
}
