import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endToEndHeaders, HOP_BY_HOP } from '../../core/request/headers.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import {
  Exchange,
  type ForwardDefaults,
  type ForwardResult,
  forwardSettings,
  UpstreamError,
} from '../../core/request/upstream.js';
import type { HttpClient, HttpForwardOptions, UpgradedClient } from './contract.js';

/**
 * The HTTP protocol's client side (RFC 9112) on node:http: one keep-alive pool of connections per
 * upstream address (node's Agent, LIFO so idle connections age out), the request rebuilt from its
 * CGI vars, bodies streamed with backpressure both ways through the shared {@link Exchange}. The
 * request body starts flowing only once the connection is up, so a refused connection leaves it
 * unread and the caller may try another node; a pooled connection the server closed while idle is
 * retried once on another one for a request without a body.
 */

/** Request vars never sent as headers: hop-by-hop ones (RFC 9110 §7.6.1) and those rebuilt here. */
const REBUILT = new Set([
  'HTTP_HOST',
  'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE',
  'HTTP_X_FORWARDED_FOR',
  'HTTP_X_FORWARDED_PROTO',
  'HTTP_X_FORWARDED_HOST',
]);

const headerNameCache = new Map<string, string>();

/** `HTTP_USER_AGENT` → `User-Agent`. */
export function headerName(variable: string): string {
  let n = headerNameCache.get(variable);
  if (n === undefined) {
    n = variable
      .slice(5)
      .toLowerCase()
      .split('_')
      .map((w) => (w ? w[0]!.toUpperCase() + w.slice(1) : w))
      .join('-');
    if (headerNameCache.size < 1000) headerNameCache.set(variable, n);
  }
  return n;
}

/**
 * The headers to send upstream for `req`: every `HTTP_*` var but hop-by-hop ones, Content-Type and
 * Content-Length from the CGI vars, Host (the override or the client's), and X-Forwarded-For (the
 * client's list plus REMOTE_ADDR), X-Forwarded-Proto (kept when the client sent one, else
 * `UWSGI_SCHEME`, or `https` when HTTPS is on) and X-Forwarded-Host (likewise, else the client's
 * Host). With `upgrade`, the Connection and Upgrade headers of the handshake are kept.
 */
export function upstreamHeaders(
  req: TsgiRequest,
  hostOverride: string | undefined,
  upgrade: boolean,
): string[] {
  const v = req.vars;
  const out: string[] = [];
  for (const [k, val] of v) {
    if (!k.startsWith('HTTP_') || REBUILT.has(k)) continue;
    const name = headerName(k);
    if (!HOP_BY_HOP.has(name.toLowerCase())) out.push(name, val);
  }
  const ct = v.get('CONTENT_TYPE');
  if (ct) out.push('Content-Type', ct);
  if (req.contentLength > 0 || (req.contentLength === 0 && req.body))
    out.push('Content-Length', String(req.contentLength));
  const clientHost = v.get('HTTP_HOST');
  const host = hostOverride ?? clientHost;
  if (host) out.push('Host', host);
  const prior = v.get('HTTP_X_FORWARDED_FOR');
  const remote = v.get('REMOTE_ADDR') ?? '';
  out.push('X-Forwarded-For', prior ? `${prior}, ${remote}` : remote);
  const scheme = v.get('UWSGI_SCHEME') || (/^(on|1)$/i.test(v.get('HTTPS') ?? '') ? 'https' : 'http');
  out.push('X-Forwarded-Proto', v.get('HTTP_X_FORWARDED_PROTO') ?? scheme);
  const fwdHost = v.get('HTTP_X_FORWARDED_HOST') ?? clientHost;
  if (fwdHost) out.push('X-Forwarded-Host', fwdHost);
  if (upgrade) out.push('Connection', 'Upgrade', 'Upgrade', v.get('HTTP_UPGRADE') ?? '');
  return out;
}

/** `host:port`, `[v6]:port`, `:port` or a unix socket path, as node:http request options. */
function target(address: string): { host?: string; port?: number; socketPath?: string } | null {
  const colon = address.lastIndexOf(':');
  if (colon === -1) return address ? { socketPath: address } : null;
  let host = address.slice(0, colon);
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return null;
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '' || host === '0.0.0.0' || host === '*') host = '127.0.0.1';
  return { host, port };
}

type Target = NonNullable<ReturnType<typeof target>>;

export class HttpUpstreamClient implements HttpClient {
  private readonly agent = new Agent({
    keepAlive: true,
    maxFreeSockets: 64,
    scheduling: 'lifo',
    keepAliveMsecs: 1000,
  });

  constructor(private readonly defaults: ForwardDefaults) {}

  /**
   * Close idle pooled connections; those carrying a request finish it and are closed then (a
   * graceful reload retires the old generation's client while its exchanges may still run).
   */
  close(): void {
    for (const list of Object.values(this.agent.freeSockets)) for (const sock of list ?? []) sock.destroy();
    this.agent.on('free', (sock: Socket) => sock.destroy());
  }

  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<ForwardResult> {
    const s = forwardSettings(this.defaults, opts);
    let current: ClientRequest | null = null;
    const ex = new Exchange(req, sink, s.readTimeoutMs, `http upstream ${address}`, opts?.signal, () =>
      current?.destroy(),
    );
    const dest = target(address);
    if (!dest)
      ex.error(new UpstreamError('TSGI_ERR_UPSTREAM_CONNECT', 502, `bad upstream address '${address}'`));
    else
      this.attempt(ex, dest, address, opts, s, true, (c) => {
        current = c;
      });
    return ex.result;
  }

  /** One try on a pooled (or new) connection. */
  private attempt(
    ex: Exchange,
    dest: Target,
    address: string,
    opts: HttpForwardOptions | undefined,
    s: ForwardDefaults,
    mayRetry: boolean,
    track: (c: ClientRequest) => void,
  ): void {
    const req = ex.req;
    const creq = request({
      ...dest,
      agent: this.agent,
      method: req.vars.get('REQUEST_METHOD') ?? 'GET',
      path: opts?.uri ?? req.vars.get('REQUEST_URI') ?? '/',
      headers: upstreamHeaders(req, opts?.host, false),
      setHost: false,
      maxHeaderSize: s.maxHeadBytes,
    });
    track(creq);
    let connected = false;
    let responded = false;
    const timer = setTimeout(
      () =>
        ex.error(
          new UpstreamError(
            'TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT',
            504,
            `timed out connecting to upstream ${address}`,
          ),
        ),
      s.connectTimeoutMs,
    );
    creq.on('socket', (socket: Socket) => {
      const up = () => {
        clearTimeout(timer);
        if (ex.done) return;
        connected = true;
        ex.touch();
        ex.pumpBody(
          req.body,
          (chunk) => creq.write(chunk),
          (cb) => creq.once('drain', cb),
          () => creq.end(),
        );
      };
      if (socket.connecting) socket.once('connect', up);
      else up();
    });
    creq.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (ex.done) return;
      const why = e.code ?? e.message;
      if (!connected) {
        ex.error(
          new UpstreamError(
            'TSGI_ERR_UPSTREAM_CONNECT',
            502,
            `cannot connect to upstream ${address}: ${why}`,
          ),
        );
      } else if (creq.reusedSocket && !responded && mayRetry && !req.body) {
        this.attempt(ex, dest, address, opts, s, false, track);
      } else {
        ex.error(
          new UpstreamError(
            'TSGI_ERR_UPSTREAM_CLOSED',
            502,
            `upstream ${address} closed the connection: ${why}`,
          ),
        );
      }
    });
    creq.on('response', (res: IncomingMessage) => {
      responded = true;
      relay(ex, res);
    });
  }

  upgrade(
    req: TsgiRequest,
    client: UpgradedClient,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<ForwardResult> {
    const s = forwardSettings(this.defaults, opts);
    return new Promise((resolve) => {
      const fail = (code: `TSGI_ERR_${string}`, status: number, message: string) =>
        resolve({ outcome: 'upstream-error', error: new UpstreamError(code, status, message) });
      const dest = target(address);
      if (!dest) return fail('TSGI_ERR_UPSTREAM_CONNECT', 502, `bad upstream address '${address}'`);
      let connected = false;
      const creq = request({
        ...dest,
        agent: false,
        method: req.vars.get('REQUEST_METHOD') ?? 'GET',
        path: opts?.uri ?? req.vars.get('REQUEST_URI') ?? '/',
        headers: upstreamHeaders(req, opts?.host, true),
        setHost: false,
      });
      const timer = setTimeout(() => {
        creq.destroy();
        fail('TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT', 504, `timed out connecting to upstream ${address}`);
      }, s.connectTimeoutMs);
      creq.on('socket', (sock: Socket) =>
        sock.once('connect', () => {
          connected = true;
          clearTimeout(timer);
        }),
      );
      creq.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = connected ? 'TSGI_ERR_UPSTREAM_CLOSED' : 'TSGI_ERR_UPSTREAM_CONNECT';
        fail(code, 502, `upstream ${address}: ${e.code ?? e.message}`);
      });
      creq.on('upgrade', (res: IncomingMessage, upstream: Socket, upHead: Buffer) => {
        req.status = 101;
        client.socket.write(rawHead(res, res.rawHeaders), 'latin1');
        if (upHead.length) client.socket.write(upHead);
        if (client.head.length) upstream.write(client.head);
        join(client.socket, upstream, () => resolve({ outcome: 'complete', error: null }));
      });
      creq.on('response', (res: IncomingMessage) => {
        req.status = res.statusCode ?? 502;
        client.socket.write(
          rawHead(res, [...endToEndHeaders(res.rawHeaders), 'Connection', 'close']),
          'latin1',
        );
        res.pipe(client.socket);
        res.on('end', () => resolve({ outcome: 'complete', error: null }));
        res.on('error', () => {
          client.socket.destroy();
          resolve({ outcome: 'complete', error: null });
        });
      });
      creq.end();
    });
  }
}

/** Relay an upstream response through the exchange: head, body with backpressure, end. */
function relay(ex: Exchange, res: IncomingMessage): void {
  if (ex.done) {
    res.destroy();
    return;
  }
  const headers = endToEndHeaders(res.rawHeaders);
  const cl = res.headers['content-length'];
  const length = cl !== undefined && /^\d+$/.test(cl) ? Number(cl) : -1;
  ex.head(res.statusCode ?? 502, res.statusMessage ?? '', headers, length);
  res.on('data', (chunk: Buffer) => {
    ex.touch();
    if (!ex.write(chunk, () => res.resume())) res.pause();
  });
  res.on('end', () => {
    if (res.complete) ex.end();
    else
      ex.error(
        new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection mid-response'),
      );
  });
  res.on('close', () => {
    if (!res.complete)
      ex.error(
        new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection mid-response'),
      );
  });
  res.on('error', () => {});
}

/** A raw response head for a passed-through exchange. */
function rawHead(res: IncomingMessage, headers: readonly string[]): string {
  let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${text}\r\n`;
}

/** Join two connections byte for byte (each side's backpressure applies to the other); `done` once both closed. */
function join(a: Duplex, b: Duplex, done: () => void): void {
  let closed = 0;
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on('error', () => to.destroy());
    from.once('close', () => {
      to.destroy();
      if (++closed === 2) done();
    });
    from.pipe(to);
  }
}
