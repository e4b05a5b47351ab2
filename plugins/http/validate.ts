import type { IncomingMessage } from 'node:http';

/** Why a request that node:http parsed is still refused, and with which status. */
export interface Refusal {
  readonly status: number;
  readonly detail: string;
}

// RFC 3986 authority as RFC 9112 §3.2.2/§3.2.3 uses it: reg-name / IPv4 / [IPv6], optional port.
const AUTHORITY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d*)?$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/([^/?#]*)/;

/**
 * Checks node:http leaves to the application but a server must make (RFC 9112, RFC 9110):
 * - HTTP major version 1 only (505 otherwise, RFC 9110 §15.6.6);
 * - the request-target form matches the method: origin-form `/...`, absolute-form with a valid
 *   authority, `*` only for OPTIONS (RFC 9112 §3.2.4), authority-form only for CONNECT;
 * - at most one Host (RFC 9112 §3.2: 400) and one Content-Type (ambiguous otherwise);
 * - no Transfer-Encoding on HTTP/1.0 (RFC 9112 §6.1: faulty framing).
 * Returns null when the request is acceptable.
 */
export function refuse(req: IncomingMessage): Refusal | null {
  if (req.httpVersionMajor !== 1) return { status: 505, detail: `HTTP/${req.httpVersion} is not supported` };
  const target = req.url ?? '';
  const method = req.method ?? '';
  if (target === '*') {
    if (method !== 'OPTIONS') return { status: 400, detail: "request-target '*' is only valid for OPTIONS" };
  } else if (!target.startsWith('/')) {
    const m = ABSOLUTE.exec(target);
    if (!m || !AUTHORITY.test(m[1]!)) return { status: 400, detail: 'malformed request-target' };
  }
  let hosts = 0;
  let types = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 4 && n.toLowerCase() === 'host') hosts++;
    else if (n.length === 12 && n.toLowerCase() === 'content-type') types++;
  }
  if (hosts > 1) return { status: 400, detail: 'more than one Host header' };
  if (types > 1) return { status: 400, detail: 'more than one Content-Type header' };
  if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined)
    return { status: 400, detail: 'Transfer-Encoding is not allowed in HTTP/1.0' };
  return null;
}
