import type { Duplex } from 'node:stream';
import type { Logger } from '../../core/log/logger.js';
import type { TsgiRequest } from '../../core/request/request.js';
import { REASONS, type ResponseSink, sendError } from '../../core/request/sink.js';
import type { ForwardOptions, ForwardResult } from '../../core/request/upstream.js';
import type { UpstreamNode, UpstreamPool, UpstreamProtocol } from './pool.js';

/**
 * Sending a request to an upstream pool: pick a node, forward through the client of its protocol,
 * and when the connection could not even be made (nothing was sent, nothing answered) mark the node
 * failed and try the next one, up to the pool's `retries`. The clients are the protocol plugins'
 * client sides (`http-client`, `uwsgi-client`, `fastcgi-client`); they share one shape, so every
 * proxy action and the front router go through here.
 */

/** Per-call settings understood by the clients (each ignores what does not apply to it). */
export interface ProxyOptions extends ForwardOptions {
  /** HTTP: the Host header to send. */
  readonly host?: string;
  /** HTTP: the request target to send. */
  readonly uri?: string;
  /** uwsgi: packet modifiers. */
  readonly modifier1?: number;
  readonly modifier2?: number;
}

/** A protocol client as the proxy uses it. */
export interface ProxyBackend {
  forward(req: TsgiRequest, sink: ResponseSink, address: string, opts?: ProxyOptions): Promise<ForwardResult>;
  /** HTTP only: pass an upgrade (WebSocket) through. */
  upgrade?(
    req: TsgiRequest,
    client: { readonly socket: Duplex; readonly head: Buffer },
    address: string,
    opts?: ProxyOptions,
  ): Promise<ForwardResult>;
}

/** The clients available to this instance, by protocol. */
export type Backends = Partial<Record<UpstreamProtocol, ProxyBackend>>;

const CONNECT_FAILURES = new Set(['TSGI_ERR_UPSTREAM_CONNECT', 'TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT']);

/** Whether the request can be sent again after a failed connect (its body was not read yet). */
function replayable(req: TsgiRequest): boolean {
  return req.body === null || req.contentLength >= 0;
}

/**
 * Proxy `req` to `pool`, answering `sink` exactly once; when every node of the pool failed to
 * connect, the `fallback` pool (uWSGI's `<router>-fallback`) gets the request. Resolves when the
 * exchange is over; never rejects. A WebSocket handshake (an `Upgrade` request on an edge that can hand its connection
 * over) to an HTTP node is passed through byte for byte.
 */
export async function proxyRequest(
  first: UpstreamPool,
  backends: Backends,
  req: TsgiRequest,
  sink: ResponseSink,
  opts: ProxyOptions,
  log: Logger,
  fallback: UpstreamPool | null = null,
): Promise<void> {
  let pool = first;
  if (req.vars.has('HTTP_UPGRADE') && sink.takeover) {
    const client = sink.takeover();
    if (client) return upgradeRequest(pool, backends, req, client, opts, log);
  }
  const tried = new Set<UpstreamNode>();
  for (let attempt = 0; ; attempt++) {
    let node = pool.pick(tried);
    if (!node && fallback && pool !== fallback && replayable(req)) {
      pool = fallback;
      node = pool.pick(tried);
    }
    if (!node) {
      sendError(sink, 502, `no upstream node of '${pool.name}' is available`);
      return;
    }
    tried.add(node);
    const backend = backends[node.protocol];
    if (!backend) {
      sendError(sink, 502, `no ${node.protocol} client is available for ${node.address}`);
      return;
    }
    const mayRetry =
      replayable(req) &&
      ((attempt < pool.settings.retries && pool.nodes.length > tried.size) ||
        (fallback !== null && pool !== fallback));
    const out = mayRetry ? new HeldErrorSink(sink) : sink;
    pool.acquire(node);
    const r = await backend.forward(req, out, node.address, nodeOptions(pool, node, opts));
    pool.release(node);
    if (r.outcome === 'upstream-error' && r.error && CONNECT_FAILURES.has(r.error.code)) {
      if (node.failedAtMs === Number.NEGATIVE_INFINITY)
        log.warn(`tsgi: ${pool.name} => marking ${node.address} as failed (${r.error.message})`);
      pool.markFailed(node);
      if (out instanceof HeldErrorSink && out.discard()) continue;
    } else if (r.outcome === 'complete') pool.markOk(node);
    if (out instanceof HeldErrorSink) out.release();
    return;
  }
}

/** The call's options for one node: its modifiers, the pool's timeout over the caller's. */
function nodeOptions(pool: UpstreamPool, node: UpstreamNode, opts: ProxyOptions): ProxyOptions {
  const t = pool.settings.timeoutMs;
  return {
    ...opts,
    ...(t ? { connectTimeoutMs: t, readTimeoutMs: t } : {}),
    modifier1: node.modifier1,
    modifier2: node.modifier2,
  };
}

async function upgradeRequest(
  pool: UpstreamPool,
  backends: Backends,
  req: TsgiRequest,
  client: { readonly socket: Duplex; readonly head: Buffer },
  opts: ProxyOptions,
  log: Logger,
): Promise<void> {
  const tried = new Set<UpstreamNode>();
  let last = 'no upstream node is available';
  for (let attempt = 0; attempt <= pool.settings.retries; attempt++) {
    const node = pool.pick(tried);
    if (!node) break;
    tried.add(node);
    const upgrade = backends[node.protocol]?.upgrade;
    if (!upgrade) {
      last = `WebSocket passthrough needs an http upstream, ${node.address} is ${node.protocol}`;
      break;
    }
    pool.acquire(node);
    const r = await upgrade.call(
      backends[node.protocol],
      req,
      client,
      node.address,
      nodeOptions(pool, node, opts),
    );
    pool.release(node);
    if (r.outcome === 'upstream-error' && r.error && CONNECT_FAILURES.has(r.error.code)) {
      pool.markFailed(node);
      log.warn(`tsgi: ${pool.name} => marking ${node.address} as failed (${r.error.message})`);
      last = r.error.message;
      continue;
    }
    if (r.outcome === 'complete') pool.markOk(node);
    else if (r.error) rawError(client.socket, r.error.statusCode, r.error.message);
    return;
  }
  rawError(client.socket, 502, last);
}

/** Answer a taken-over connection with a plain error response and close it. */
function rawError(socket: Duplex, status: number, detail: string): void {
  if (socket.destroyed) return;
  const body = `${status} ${REASONS[status] ?? 'Error'}: ${detail}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * A sink that holds back a gateway-error page (502/503/504 head and the body that follows at once)
 * until the caller knows whether it came from a failed connect (then it is dropped and another node
 * tried) or from the upstream itself (then it is passed on). Anything else passes straight through;
 * a held head whose body keeps coming after the current turn of the event loop is the upstream's own
 * streaming answer and is released then, so only a small error page is ever buffered.
 */
export class HeldErrorSink implements ResponseSink {
  private held: Array<() => void> | null = null;
  private passing = false;
  private discarded = false;

  constructor(private readonly inner: ResponseSink) {}

  get headSent(): boolean {
    return this.held !== null || this.inner.headSent;
  }

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (!this.passing && (status === 502 || status === 503 || status === 504)) {
      this.held = [() => this.inner.head(status, reason, headers, bodyLength)];
      setImmediate(() => this.release());
      return;
    }
    this.passing = true;
    this.inner.head(status, reason, headers, bodyLength);
  }

  write(chunk: Buffer): boolean {
    if (this.held) {
      this.held.push(() => this.inner.write(chunk));
      return true;
    }
    if (this.discarded) return true;
    return this.inner.write(chunk);
  }

  end(): void {
    if (this.held) this.held.push(() => this.inner.end());
    else if (!this.discarded) this.inner.end();
  }

  fail(status: number, detail: string): void {
    if (this.held) this.held.push(() => this.inner.fail(status, detail));
    else if (!this.discarded) this.inner.fail(status, detail);
  }

  onDrain(cb: () => void): void {
    this.inner.onDrain(cb);
  }

  onAbort(cb: () => void): void {
    this.inner.onAbort(cb);
  }

  /** Drop a held error page (a connect failure: another node will answer). False when nothing is held. */
  discard(): boolean {
    if (!this.held) return false;
    this.held = null;
    this.discarded = true;
    return true;
  }

  /** Pass on whatever is held and everything after it. */
  release(): void {
    this.passing = true;
    const calls = this.held;
    this.held = null;
    if (calls) for (const c of calls) c();
  }
}
