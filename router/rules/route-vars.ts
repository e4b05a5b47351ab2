import { randomUUID } from 'node:crypto';
import { mimeTypes } from '../../core/deps.js';

/**
 * uWSGI's route variables, `${name[arg]}` in rule arguments (core/routing.c, core/cookie.c,
 * core/querystring.c of uWSGI 2.0): `cookie`, `qs`, `mime`, `time`, `httptime`, `base64`, `hex` and
 * `uwsgi`. Values are latin-1 binary strings like every request var.
 */

/** What a route variable reads from the request being routed. */
export interface RouteVarSource {
  variable(name: string): string | undefined;
  /** A cookie's value ({@link cookieValue} of HTTP_COOKIE; the source may parse it once per request). */
  cookie(name: string): string | null;
  /** A query parameter ({@link queryValue} of QUERY_STRING). */
  query(name: string): string | null;
  /** The response status once known (0 before). */
  readonly status: number;
  /** Response body bytes sent so far. */
  readonly bytesOut: number;
  /** Wall-clock start of the request, ms since the epoch. */
  readonly startedAtEpochMs: number;
}

type RouteVar = (src: RouteVarSource, arg: string) => string | null;

const ROUTE_VARS: ReadonlyMap<string, RouteVar> = new Map<string, RouteVar>([
  ['cookie', (src, name) => src.cookie(name)],
  ['qs', (src, name) => src.query(name)],
  ['mime', (src, name) => mimeOf(src.variable(name))],
  ['time', (_src, what) => timeValue(what)],
  ['httptime', (_src, delta) => httpDate(Math.floor(Date.now() / 1000) + leadingInt(delta))],
  ['base64', (src, name) => encoded(src.variable(name), 'base64')],
  ['hex', (src, name) => encoded(src.variable(name), 'hex')],
  ['uwsgi', uwsgiValue],
]);

/**
 * The value of route variable `name[arg]`: a string, null when the variable has no value for this
 * request, undefined when no route variable is called `name`.
 */
export function routeVariable(src: RouteVarSource, name: string, arg: string): string | null | undefined {
  const fn = ROUTE_VARS.get(name);
  return fn ? fn(src, arg) : undefined;
}

/**
 * Every cookie of a `Cookie` header: pairs split on `;`, blanks trimmed, for each name the first
 * non-empty value (uWSGI's `uwsgi_get_cookie` looks a name up that way).
 */
export function parseCookies(header: string): Map<string, string> {
  return firstValues(header.split(';').map((p) => p.trim()));
}

/** Every parameter of a query string, raw (not percent-decoded), first non-empty value per name (`uwsgi_get_qs`). */
export function parseQuery(qs: string): Map<string, string> {
  return firstValues(qs.split('&'));
}

function firstValues(pairs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (value !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

/** A cookie's value from a `Cookie` header; an empty value counts as absent. */
export function cookieValue(header: string, name: string): string | null {
  return parseCookies(header).get(name) ?? null;
}

/** A query-string parameter; empty counts as absent. */
export function queryValue(qs: string, name: string): string | null {
  return parseQuery(qs).get(name) ?? null;
}

/** MIME type for a file name by its extension (the `mime-types` database), or null. */
export function mimeOf(name: string | undefined): string | null {
  if (!name) return null;
  const t = mimeTypes().lookup(name);
  return t === false ? null : t;
}

/** An HTTP date (RFC 9110 §5.6.7 IMF-fixdate) for a Unix time in seconds. */
export function httpDate(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toUTCString();
}

function timeValue(what: string): string | null {
  if (what === 'unix') return String(Math.floor(Date.now() / 1000));
  if (what === 'micros') return String(Math.floor((performance.timeOrigin + performance.now()) * 1000));
  return null;
}

function encoded(value: string | undefined, how: 'base64' | 'hex'): string | null {
  if (value === undefined) return null;
  const out = Buffer.from(value, 'latin1').toString(how);
  return how === 'hex' ? out.toUpperCase() : out;
}

function uwsgiValue(src: RouteVarSource, what: string): string | null {
  switch (what) {
    case 'wid':
      return '0';
    case 'pid':
      return String(process.pid);
    case 'uuid':
      return randomUUID();
    case 'status':
      return String(src.status);
    case 'rtime':
      return String(Math.max(0, Math.round((Date.now() - src.startedAtEpochMs) * 1000)));
    case 'lq':
      return '0';
    case 'rsize':
      return String(src.bytesOut);
    case 'sor':
      return String(src.startedAtEpochMs * 1000);
    default:
      return null;
  }
}

/** uWSGI's `uwsgi_str_num`: the leading decimal digits of a text, 0 when none. */
export function leadingInt(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
