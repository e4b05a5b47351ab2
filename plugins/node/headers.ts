/**
 * CGI vars ↔ HTTP/1.1 messages, for talking HTTP to a worker (the Node runner): the request line and
 * header list rebuilt from the vars the edge produced (RFC 3875 §4.1.18: `HTTP_*` vars are the
 * request's headers, upper-cased with `-` turned into `_`), and the response head cleaned of
 * hop-by-hop fields (RFC 9110 §7.6.1) before it goes to the client's edge. Strings are latin-1.
 */

/** Request headers that belong to the hop between client and master, never forwarded to a worker. */
const HOP_VARS: ReadonlySet<string> = new Set([
  'HTTP_CONNECTION',
  'HTTP_KEEP_ALIVE',
  'HTTP_PROXY_CONNECTION',
  'HTTP_TRANSFER_ENCODING',
  'HTTP_TE',
  'HTTP_TRAILER',
  'HTTP_UPGRADE',
  'HTTP_EXPECT',
  // framing comes from the body the master sends, not from what the client said
  'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE',
]);

const names = new Map<string, string>();

/** `HTTP_X_FORWARDED_FOR` → `X-Forwarded-For` (cached: the same few names recur). */
export function headerName(varName: string): string {
  let n = names.get(varName);
  if (n === undefined) {
    n = varName
      .slice(5)
      .toLowerCase()
      .replace(/(^|_)([a-z])/g, (_m, sep: string, c: string) => (sep ? '-' : '') + c.toUpperCase())
      .replace(/_/g, '-');
    if (names.size < 1024) names.set(varName, n);
  }
  return n;
}

/** The request target: `REQUEST_URI` as the client sent it, else rebuilt from the path vars. */
export function requestTarget(vars: ReadonlyMap<string, string>): string {
  const uri = vars.get('REQUEST_URI');
  if (uri) return uri;
  const path = percentEncodePath(`${vars.get('SCRIPT_NAME') ?? ''}${vars.get('PATH_INFO') ?? ''}`) || '/';
  const qs = vars.get('QUERY_STRING');
  return qs ? `${path}?${qs}` : path;
}

/** Percent-encode the bytes of a decoded (latin-1) path that may not appear raw in a request target. */
function percentEncodePath(path: string): string {
  return path.replace(
    /[^A-Za-z0-9\-._~!$&'()*+,;=:@/]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
  );
}

/**
 * The header list for the worker, flat `[name, value, ...]`: every `HTTP_*` var but the hop-by-hop
 * ones, `Content-Type` and `Content-Length` from the CGI vars (the length only when `bodyLength` is
 * known, >= 0), `Host` from `SERVER_NAME`/`SERVER_PORT` when the client sent none, and the
 * conventional proxy headers: `X-Forwarded-For` (the client's list plus `REMOTE_ADDR`) and
 * `X-Forwarded-Proto` (the scheme the master saw: `HTTPS` on or `UWSGI_SCHEME`).
 */
export function requestHeaders(vars: ReadonlyMap<string, string>, bodyLength: number): string[] {
  const out: string[] = [];
  let forwardedFor = '';
  let host = false;
  for (const [k, v] of vars) {
    if (k.charCodeAt(0) !== 72 /* H */ || !k.startsWith('HTTP_') || HOP_VARS.has(k)) continue;
    if (k === 'HTTP_X_FORWARDED_FOR') {
      forwardedFor = v;
      continue;
    }
    if (k === 'HTTP_X_FORWARDED_PROTO') continue;
    if (k === 'HTTP_HOST') host = true;
    out.push(headerName(k), v);
  }
  if (!host) {
    const name = vars.get('SERVER_NAME') ?? 'localhost';
    const port = vars.get('SERVER_PORT');
    out.push('Host', port && port !== '80' && port !== '443' ? `${name}:${port}` : name);
  }
  const ctype = vars.get('CONTENT_TYPE');
  if (ctype) out.push('Content-Type', ctype);
  if (bodyLength >= 0) out.push('Content-Length', String(bodyLength));
  const remote = vars.get('REMOTE_ADDR');
  if (remote) out.push('X-Forwarded-For', forwardedFor ? `${forwardedFor}, ${remote}` : remote);
  else if (forwardedFor) out.push('X-Forwarded-For', forwardedFor);
  out.push('X-Forwarded-Proto', scheme(vars));
  return out;
}

function scheme(vars: ReadonlyMap<string, string>): string {
  const s = vars.get('UWSGI_SCHEME');
  if (s) return s;
  const https = vars.get('HTTPS');
  return https && https.toLowerCase() !== 'off' ? 'https' : 'http';
}

/** Response headers of the worker↔master hop that the client's edge must not see. */
const HOP_RESPONSE = /^(connection|keep-alive|transfer-encoding|proxy-connection|trailer|upgrade)$/i;

/** A worker's raw response headers without the hop-by-hop ones (names and order kept). */
export function responseHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length <= 17 && HOP_RESPONSE.test(n)) continue;
    out.push(n, raw[i + 1]!);
  }
  return out;
}

/**
 * A raw HTTP/1.1 response head (status line, `name: value` lines, the empty line), latin-1: what
 * goes to a client whose connection was taken over from its edge (a switched protocol's 101).
 */
export function rawResponseHead(status: number, reason: string, headers: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}
