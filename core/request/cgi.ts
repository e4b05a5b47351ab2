import { RequestError } from '../errors.js';

/**
 * CGI vars helpers shared by the edges that receive ready-made vars from a web server in front
 * (uwsgi vars, FastCGI params) and by the HTTP edge. Values are latin-1 binary strings.
 */

/**
 * Percent-decode a request path into a latin-1 binary string (each `%XX` becomes the byte 0xXX);
 * malformed escapes stay literal, as uWSGI leaves them.
 */
export function percentDecode(path: string): string {
  if (!path.includes('%')) return path;
  let out = '';
  let last = 0;
  for (let i = path.indexOf('%'); i !== -1 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
    const hex = path.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) continue;
    out += path.slice(last, i) + String.fromCharCode(Number.parseInt(hex, 16));
    last = i + 3;
    i += 2;
  }
  return out + path.slice(last);
}

/**
 * Vars with which a client makes uWSGI load, switch or configure apps, or touch the process
 * (uWSGI's "dynamic apps", `core/protocol.c`): tsgi never acts on them, and its edges drop them so
 * that no app or later hop does either. `UWSGI_SCHEME` is not among them (it sets the URL scheme).
 */
export const APP_LOADING_VARS: ReadonlySet<string> = new Set([
  'UWSGI_APPID',
  'UWSGI_CACHE_GET',
  'UWSGI_CALLABLE',
  'UWSGI_CHDIR',
  'UWSGI_FILE',
  'UWSGI_HOME',
  'UWSGI_MODULE',
  'UWSGI_POSTFILE',
  'UWSGI_PYHOME',
  'UWSGI_SCRIPT',
  'UWSGI_SETENV',
  'UWSGI_TOUCH_RELOAD',
]);

/**
 * Add one var a web server sent: a repeated `HTTP_*` var is joined as HTTP joins repeated headers
 * (`, `, or `; ` for `HTTP_COOKIE`), any other repeated var keeps its last value.
 */
export function addRequestVar(vars: Map<string, string>, name: string, value: string): void {
  const prev = vars.get(name);
  if (prev !== undefined && name.startsWith('HTTP_'))
    vars.set(name, `${prev}${name === 'HTTP_COOKIE' ? '; ' : ', '}${value}`);
  else vars.set(name, value);
}

/** What an edge knows about the connection, used where the web server in front left a var out. */
export interface ConnectionVars {
  readonly serverName: string;
  readonly serverPort: string;
  readonly remoteAddr: string;
  readonly remotePort: string;
}

/**
 * Parse `CONTENT_LENGTH`: bytes, or -1 when absent or empty (nginx sends `CONTENT_LENGTH` empty for
 * a request without a body in its stock params).
 * @throws {RequestError} TSGI_ERR_REQUEST_CONTENT_LENGTH (400) for anything but decimal digits.
 */
export function parseContentLength(value: string | undefined): number {
  if (value === undefined || value === '') return -1;
  if (!/^\d{1,15}$/.test(value))
    throw new RequestError(
      'TSGI_ERR_REQUEST_CONTENT_LENGTH',
      400,
      `invalid CONTENT_LENGTH '${value.slice(0, 40)}'`,
    );
  return Number(value);
}

/**
 * Complete and sanitise the vars a web server sent on a uwsgi or FastCGI connection, in place:
 * - drops {@link APP_LOADING_VARS} (returns the names dropped), an empty `CONTENT_LENGTH`, and
 *   `HTTP_CONTENT_LENGTH` / `HTTP_CONTENT_TYPE` (nginx sends them; PEP 3333 forbids them);
 * - when `PATH_INFO` is absent (nginx's stock `fastcgi_params`, where `SCRIPT_NAME` is the whole
 *   path): `SCRIPT_NAME` becomes '' and `PATH_INFO` comes from `DOCUMENT_URI` (already decoded by
 *   nginx), else from `REQUEST_URI` without its query, percent-decoded; else '/';
 * - fills `REQUEST_METHOD` (GET), `SCRIPT_NAME` (''), `QUERY_STRING` (''), `SERVER_PROTOCOL`
 *   (HTTP/1.0), `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT` (from `connection()`,
 *   called only when one is missing) where absent, since PEP 3333 requires them. Vars given by the
 *   web server always win.
 */
export function completeEdgeVars(vars: Map<string, string>, connection: () => ConnectionVars): string[] {
  const dropped: string[] = [];
  for (const name of vars.keys())
    if (name.startsWith('UWSGI_') && APP_LOADING_VARS.has(name)) dropped.push(name);
  for (const name of dropped) vars.delete(name);
  if (vars.get('CONTENT_LENGTH') === '') vars.delete('CONTENT_LENGTH');
  // nginx passes every request header as HTTP_*, these two included; PEP 3333 forbids them (uWSGI's
  // PSGI and Rack plugins drop them too).
  vars.delete('HTTP_CONTENT_LENGTH');
  vars.delete('HTTP_CONTENT_TYPE');
  if (!vars.has('PATH_INFO')) {
    vars.set('SCRIPT_NAME', '');
    vars.set('PATH_INFO', derivedPathInfo(vars));
  }
  setDefault(vars, 'REQUEST_METHOD', 'GET');
  setDefault(vars, 'SCRIPT_NAME', '');
  setDefault(vars, 'QUERY_STRING', '');
  setDefault(vars, 'SERVER_PROTOCOL', 'HTTP/1.0');
  // nginx sends all four: ask the socket (a system call for the peer) only when one is missing.
  if (
    !vars.has('SERVER_NAME') ||
    !vars.has('SERVER_PORT') ||
    !vars.has('REMOTE_ADDR') ||
    !vars.has('REMOTE_PORT')
  ) {
    const conn = connection();
    setDefault(vars, 'SERVER_NAME', conn.serverName);
    setDefault(vars, 'SERVER_PORT', conn.serverPort);
    setDefault(vars, 'REMOTE_ADDR', conn.remoteAddr);
    setDefault(vars, 'REMOTE_PORT', conn.remotePort);
  }
  return dropped;
}

function derivedPathInfo(vars: Map<string, string>): string {
  const doc = vars.get('DOCUMENT_URI');
  if (doc) return doc;
  const uri = vars.get('REQUEST_URI');
  if (!uri) return '/';
  const q = uri.indexOf('?');
  return percentDecode(q === -1 ? uri : uri.slice(0, q)) || '/';
}

function setDefault(vars: Map<string, string>, name: string, value: string): void {
  if (!vars.has(name)) vars.set(name, value);
}

/**
 * The vars a connection contributes, from its socket: the peer address without the IPv4-mapped
 * prefix, '' for unix sockets.
 */
export function connectionVars(
  remoteAddress: string | undefined,
  remotePort: number | undefined,
  serverName: string,
  serverPort: number,
): ConnectionVars {
  let addr = remoteAddress ?? '';
  if (addr.startsWith('::ffff:')) addr = addr.slice(7);
  return {
    serverName,
    serverPort: String(serverPort),
    remoteAddr: addr,
    remotePort: remotePort === undefined ? '' : String(remotePort),
  };
}
