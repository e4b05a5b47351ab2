import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TsgiRequest } from '../../core/request/request.js';
import { type ResponseSink, sendError } from '../../core/request/sink.js';
import type {
  HttpClient,
  HttpForwardError,
  HttpForwardOptions,
  HttpForwardResult,
  UpgradedClient,
} from './contract.js';

/**
 * The HTTP protocol's client side (RFC 9112) on node:http: one keep-alive pool of connections per
 * upstream address (node's Agent, LIFO so idle connections age out), the request rebuilt from its
 * CGI vars, bodies streamed with backpressure both ways. The request body starts flowing only once
 * the connection is up, so a refused connection leaves it untouched and the caller may try another
 * node; a pooled connection the server closed while idle is retried once on a fresh one.
 */

/** Defaults of {@link HttpForwardOptions}, ms. */
export interface HttpClientDefaults {
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
}

/** Request headers never forwarded: they describe one hop (RFC 9110 §7.6.1) or are rebuilt here. */
const HOP_VARS = new Set([
  'HTTP_CONNECTION',
  'HTTP_KEEP_ALIVE',
  'HTTP_PROXY_CONNECTION',
  'HTTP_TE',
  'HTTP_TRAILER',
  'HTTP_TRANSFER_ENCODING',
  'HTTP_UPGRADE',
  'HTTP_HOST',
  'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE',
  'HTTP_X_FORWARDED_FOR',
  'HTTP_X_FORWARDED_PROTO',
  'HTTP_X_FORWARDED_HOST',
]);

/** Response headers never relayed. */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
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
 * client's list plus REMOTE_ADDR), X-Forwarded-Proto (`UWSGI_SCHEME`, or `https` when HTTPS is on)
 * and X-Forwarded-Host (the client's Host, unless the client sent one).
 */
export function upstreamHeaders(
  req: TsgiRequest,
  hostOverride: string | undefined,
  upgrade: boolean,
): string[] {
  const v = req.vars;
  const out: string[] = [];
  for (const [k, val] of v) if (k.startsWith('HTTP_') && !HOP_VARS.has(k)) out.push(headerName(k), val);
  const ct = v.get('CONTENT_TYPE');
  if (ct) out.push('Content-Type', ct);
  if (req.contentLength >= 0 && (req.body || req.contentLength > 0))
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

const err = (code: `TSGI_ERR_${string}`, statusCode: number, message: string): HttpForwardError => ({
  code,
  statusCode,
  message,
});

/** One forward in progress: settles once, answers the sink once. */
class Exchange {
  settled = false;
  /** A response head reached the client. */
  responded = false;
  /** The current attempt's connection is up. */
  connected = false;
  /** Tear the current attempt down (set by each attempt). */
  stop: () => void = () => {};
  private resolve!: (r: HttpForwardResult) => void;
  readonly result = new Promise<HttpForwardResult>((r) => {
    this.resolve = r;
  });

  constructor(
    readonly req: TsgiRequest,
    readonly sink: ResponseSink,
  ) {}

  /** End the exchange: an error answers the client (an error page, or a reset after the head). */
  finish(outcome: HttpForwardResult['outcome'], error: HttpForwardError | null): void {
    if (this.settled) return;
    this.settled = true;
    if (outcome !== 'complete') this.stop();
    if (error && outcome === 'upstream-error') {
      if (!this.sink.headSent) this.req.status = error.statusCode;
      sendError(this.sink, error.statusCode, error.message);
    }
    this.resolve({ outcome, error });
  }
}

export class HttpUpstreamClient implements HttpClient {
  private readonly agent = new Agent({
    keepAlive: true,
    maxFreeSockets: 64,
    scheduling: 'lifo',
    keepAliveMsecs: 1000,
  });

  constructor(private readonly defaults: HttpClientDefaults) {}

  close(): void {
    this.agent.destroy();
  }

  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts: HttpForwardOptions = {},
  ): Promise<HttpForwardResult> {
    const ex = new Exchange(req, sink);
    const dest = target(address);
    if (!dest) {
      ex.finish('upstream-error', err('TSGI_ERR_UPSTREAM_CONNECT', 502, `bad upstream address '${address}'`));
      return ex.result;
    }
    sink.onAbort(() => ex.finish('client-gone', null));
    if (opts.signal) {
      const onSignal = () =>
        ex.finish('upstream-error', err('TSGI_ERR_UPSTREAM_ABORTED', 502, 'request aborted'));
      opts.signal.addEventListener('abort', onSignal, { once: true });
      void ex.result.then(() => opts.signal?.removeEventListener('abort', onSignal));
    }
    this.attempt(ex, dest, address, opts, true);
    return ex.result;
  }

  /**
   * One try on a pooled (or new) connection. A pooled connection that fails before any response
   * byte, for a request without a body, is retried once on another connection.
   */
  private attempt(
    ex: Exchange,
    dest: NonNullable<ReturnType<typeof target>>,
    address: string,
    opts: HttpForwardOptions,
    mayRetry: boolean,
  ): void {
    const { req } = ex;
    const readTimeoutMs = opts.readTimeoutMs ?? this.defaults.readTimeoutMs;
    ex.connected = false;
    const creq = request({
      ...dest,
      agent: this.agent,
      method: req.vars.get('REQUEST_METHOD') ?? 'GET',
      path: opts.uri ?? req.vars.get('REQUEST_URI') ?? '/',
      headers: upstreamHeaders(req, opts.host, false),
      setHost: false,
    });
    const connectTimer = setTimeout(
      () =>
        fail(err('TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT', 504, `timed out connecting to upstream ${address}`)),
      opts.connectTimeoutMs ?? this.defaults.connectTimeoutMs,
    );
    ex.stop = () => {
      clearTimeout(connectTimer);
      creq.destroy();
    };
    const fail = (e: HttpForwardError) => ex.finish('upstream-error', e);
    creq.on('socket', (socket: Socket) => {
      const up = () => {
        clearTimeout(connectTimer);
        if (ex.settled) return;
        ex.connected = true;
        creq.setTimeout(readTimeoutMs);
        this.pumpBody(ex, creq, fail);
      };
      if (socket.connecting) socket.once('connect', up);
      else up();
    });
    creq.on('timeout', () =>
      fail(err('TSGI_ERR_UPSTREAM_TIMEOUT', 504, `upstream ${address} sent nothing for ${readTimeoutMs} ms`)),
    );
    creq.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(connectTimer);
      if (ex.settled) return;
      if (!ex.connected) {
        fail(
          err(
            'TSGI_ERR_UPSTREAM_CONNECT',
            502,
            `cannot connect to upstream ${address}: ${e.code ?? e.message}`,
          ),
        );
        return;
      }
      if (creq.reusedSocket && !ex.responded && mayRetry && !req.body) {
        this.attempt(ex, dest, address, opts, false);
        return;
      }
      fail(
        err(
          'TSGI_ERR_UPSTREAM_CLOSED',
          502,
          `upstream ${address} closed the connection: ${e.code ?? e.message}`,
        ),
      );
    });
    creq.on('response', (res: IncomingMessage) => this.relay(ex, creq, res, readTimeoutMs, fail));
  }

  /** Stream the client's body upstream, pausing the client while the upstream socket is full. */
  private pumpBody(ex: Exchange, creq: ClientRequest, fail: (e: HttpForwardError) => void): void {
    const body = ex.req.body;
    if (!body) {
      creq.end();
      return;
    }
    body.start(
      (chunk) => {
        if (ex.settled) return;
        ex.req.bytesIn += chunk.length;
        if (!creq.write(chunk)) {
          body.pause();
          creq.once('drain', () => body.resume());
        }
      },
      () => creq.end(),
      (e) =>
        fail(
          err(
            'TSGI_ERR_REQUEST_BODY',
            (e as { statusCode?: number }).statusCode ?? 400,
            `request body failed: ${e.message}`,
          ),
        ),
    );
  }

  /** Relay the upstream's response to the client with backpressure. */
  private relay(
    ex: Exchange,
    creq: ClientRequest,
    res: IncomingMessage,
    readTimeoutMs: number,
    fail: (e: HttpForwardError) => void,
  ): void {
    if (ex.settled) {
      res.destroy();
      return;
    }
    ex.responded = true;
    const headers: string[] = [];
    const raw = res.rawHeaders;
    let length = -1;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (HOP_HEADERS.has(lower)) continue;
      if (lower === 'content-length') length = Number(raw[i + 1]);
      headers.push(raw[i]!, raw[i + 1]!);
    }
    const { req, sink } = ex;
    req.status = res.statusCode ?? 502;
    req.headerCount = headers.length / 2;
    sink.head(req.status, res.statusMessage ?? '', headers, Number.isFinite(length) ? length : -1);
    res.on('data', (chunk: Buffer) => {
      if (ex.settled) return;
      req.bytesOut += chunk.length;
      if (!sink.write(chunk)) {
        res.pause();
        creq.setTimeout(0);
        sink.onDrain(() => {
          creq.setTimeout(readTimeoutMs);
          res.resume();
        });
      }
    });
    res.on('end', () => {
      if (ex.settled) return;
      if (!res.complete) {
        fail(err('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection mid-response'));
        return;
      }
      sink.end();
      ex.finish('complete', null);
    });
    res.on('aborted', () =>
      fail(err('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection mid-response')),
    );
    res.on('error', () =>
      fail(err('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream connection failed mid-response')),
    );
  }

  upgrade(
    req: TsgiRequest,
    client: UpgradedClient,
    address: string,
    opts: HttpForwardOptions = {},
  ): Promise<HttpForwardResult> {
    return new Promise((resolve) => {
      const dest = target(address);
      if (!dest) {
        resolve({
          outcome: 'upstream-error',
          error: err('TSGI_ERR_UPSTREAM_CONNECT', 502, `bad upstream address '${address}'`),
        });
        return;
      }
      let connected = false;
      let done = false;
      const settle = (r: HttpForwardResult) => {
        if (done) return;
        done = true;
        resolve(r);
      };
      const creq = request({
        ...dest,
        agent: false,
        method: req.vars.get('REQUEST_METHOD') ?? 'GET',
        path: opts.uri ?? req.vars.get('REQUEST_URI') ?? '/',
        headers: upstreamHeaders(req, opts.host, true),
        setHost: false,
      });
      const timer = setTimeout(() => {
        creq.destroy();
        settle({
          outcome: 'upstream-error',
          error: err('TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT', 504, `timed out connecting to upstream ${address}`),
        });
      }, opts.connectTimeoutMs ?? this.defaults.connectTimeoutMs);
      creq.on('socket', (s: Socket) =>
        s.once('connect', () => {
          connected = true;
          clearTimeout(timer);
        }),
      );
      creq.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = connected ? 'TSGI_ERR_UPSTREAM_CLOSED' : 'TSGI_ERR_UPSTREAM_CONNECT';
        settle({
          outcome: 'upstream-error',
          error: err(code, 502, `upstream ${address}: ${e.code ?? e.message}`),
        });
      });
      creq.on('upgrade', (res: IncomingMessage, upstream: Socket, upHead: Buffer) => {
        req.status = 101;
        client.socket.write(responseHead(res), 'latin1');
        if (upHead.length) client.socket.write(upHead);
        if (client.head.length) upstream.write(client.head);
        join(client.socket, upstream, () => settle({ outcome: 'complete', error: null }));
      });
      creq.on('response', (res: IncomingMessage) => {
        req.status = res.statusCode ?? 502;
        client.socket.write(responseHead(res, true), 'latin1');
        res.pipe(client.socket);
        res.on('end', () => settle({ outcome: 'complete', error: null }));
        res.on('error', () => {
          client.socket.destroy();
          settle({ outcome: 'complete', error: null });
        });
      });
      creq.end();
    });
  }
}

/** A raw response head for a passed-through exchange (`close`: the connection ends after the body). */
function responseHead(res: IncomingMessage, close = false): string {
  let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}\r\n`;
  const raw = res.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (close && HOP_HEADERS.has(raw[i]!.toLowerCase())) continue;
    text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  }
  return `${text}${close ? 'Connection: close\r\n' : ''}\r\n`;
}

/** Join two connections byte for byte (each side's backpressure applies to the other); `done` once both are closed. */
function join(a: Duplex, b: Duplex, done: () => void): void {
  let closed = 0;
  const onClose = () => {
    if (++closed === 2) done();
  };
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on('error', () => to.destroy());
    from.once('close', () => {
      to.destroy();
      onClose();
    });
    from.pipe(to);
  }
}
