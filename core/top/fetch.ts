import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { parseAddress } from '../net/address.js';

/** Longest stats document read, bytes (a 1024-worker instance with cores is far below it). */
const MAX_BYTES = 64 * 1024 * 1024;

/** Strip an HTTP response head if the text starts with one (a `stats-http` server). */
function withoutHttpHead(text: string): string {
  if (!text.startsWith('HTTP/')) return text;
  const end = text.indexOf('\r\n\r\n');
  return end === -1 ? '' : text.slice(end + 4);
}

function parse(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${where} did not send a JSON stats document`);
  }
}

/**
 * Read one stats document from a uWSGI-style stats server: TCP `host:port`, `:port`, a unix socket
 * path, or an `http://` URL. Plain servers write the JSON and close on connect; a `stats-http` server
 * waits for a request, so when nothing arrives within 300 ms a `GET /` is sent on the same connection.
 * @throws Error on connection failure, timeout (`timeoutMs`), or a reply that is not JSON.
 */
export function fetchStats(addr: string, timeoutMs = 3000): Promise<unknown> {
  if (/^https?:\/\//.test(addr)) return fetchHttp(addr, timeoutMs);
  const a = parseAddress(addr, 'top', null);
  return new Promise((resolve, reject) => {
    const sock =
      a.kind === 'unix' ? connect(a.path) : connect(a.port, a.host === '0.0.0.0' ? '127.0.0.1' : a.host);
    const chunks: Buffer[] = [];
    let size = 0;
    let nudge: NodeJS.Timeout | null = null;
    const timer = setTimeout(
      () => sock.destroy(new Error(`no answer from ${addr} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    sock.on('connect', () => {
      nudge = setTimeout(() => sock.write('GET / HTTP/1.0\r\nHost: stats\r\n\r\n'), 300);
    });
    sock.on('data', (d: Buffer) => {
      if (nudge) clearTimeout(nudge);
      nudge = null;
      chunks.push(d);
      size += d.length;
      if (size > MAX_BYTES) sock.destroy(new Error(`${addr} sent more than ${MAX_BYTES} bytes`));
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      if (nudge) clearTimeout(nudge);
      reject(err);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      if (nudge) clearTimeout(nudge);
      try {
        resolve(parse(withoutHttpHead(Buffer.concat(chunks).toString('utf8')), addr));
      } catch (err) {
        reject(err);
      }
    });
  });
}

function fetchHttp(url: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`${url} answered ${res.statusCode}`);
          resolve(parse(Buffer.concat(chunks).toString('utf8'), url));
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
