import type { IncomingMessage } from 'node:http';
import { percentDecode } from '../../core/request/cgi.js';

/**
 * Build the CGI vars of an HTTP/1.x request (RFC 3875 §4.1 meta-variables, as uWSGI's http parser and
 * PEP 3333 name them). Values are latin-1 binary strings: node:http hands header values and the
 * request target over as latin-1, byte for byte.
 */

const headerVarCache = new Map<string, string>();

/** `Content-Type` → `CONTENT_TYPE`-style names: `X-Forwarded-For` → `HTTP_X_FORWARDED_FOR`. */
export function headerVarName(name: string): string {
  let v = headerVarCache.get(name);
  if (v === undefined) {
    v = `HTTP_${name.toUpperCase().replace(/-/g, '_')}`;
    if (headerVarCache.size < 1000) headerVarCache.set(name, v);
  }
  return v;
}

/** Per-listener constant vars (`SERVER_NAME`, `SERVER_PORT`), computed once. */
export interface ListenerVars {
  readonly serverName: string;
  readonly serverPort: string;
}

/**
 * The vars of one request: `REQUEST_METHOD`, `REQUEST_URI`, `PATH_INFO` (decoded), `QUERY_STRING`,
 * `SERVER_PROTOCOL`, `SCRIPT_NAME` (''), `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT`,
 * `CONTENT_TYPE`/`CONTENT_LENGTH` when sent, and `HTTP_*` for every other header (repeated headers
 * joined with `, `, cookies with `; `). Header names containing `_` are dropped: `X_Forwarded_For` and
 * `X-Forwarded-For` would map to the same var (gunicorn's `header_map = drop`, nginx's default).
 */
export function buildVars(req: IncomingMessage, lv: ListenerVars): Map<string, string> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const vars = new Map<string, string>();
  vars.set('REQUEST_METHOD', req.method ?? 'GET');
  vars.set('REQUEST_URI', url);
  vars.set('PATH_INFO', percentDecode(absolutePath(rawPath)));
  vars.set('QUERY_STRING', q === -1 ? '' : url.slice(q + 1));
  vars.set('SERVER_PROTOCOL', `HTTP/${req.httpVersion}`);
  vars.set('SCRIPT_NAME', '');
  vars.set('SERVER_NAME', lv.serverName);
  vars.set('SERVER_PORT', lv.serverPort);
  const sock = req.socket;
  let addr = sock.remoteAddress ?? '';
  if (addr.startsWith('::ffff:')) addr = addr.slice(7);
  vars.set('REMOTE_ADDR', addr);
  vars.set('REMOTE_PORT', sock.remotePort === undefined ? '' : String(sock.remotePort));
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.includes('_')) continue;
    let key: string;
    const lower = name.length === 12 || name.length === 14 ? name.toLowerCase() : '';
    if (lower === 'content-type') key = 'CONTENT_TYPE';
    else if (lower === 'content-length') key = 'CONTENT_LENGTH';
    else key = headerVarName(name);
    const prev = vars.get(key);
    if (prev === undefined) vars.set(key, value);
    else vars.set(key, `${prev}${key === 'HTTP_COOKIE' ? '; ' : ', '}${value}`);
  }
  return vars;
}

/**
 * The path part of a request target: origin-form as is; absolute-form (`http://host/p`) reduced to
 * its path; `*` (OPTIONS) gives an empty path (PEP 3333: PATH_INFO is empty or starts with `/`).
 */
function absolutePath(target: string): string {
  if (target.startsWith('/')) return target;
  if (target === '*') return '';
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/]*(\/.*)?$/.exec(target);
  if (m) return m[1] ?? '/';
  return target;
}
