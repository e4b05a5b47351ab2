import type { Duplex } from 'node:stream';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';

/**
 * The public face of the HTTP plugin's client side for other plugins: the `http-client` contract
 * (`ctx.registry.contract('http', 'http-client')`, typed through the declaration merge below). The
 * router's `http:` action and front router use it; never import the plugin's other modules.
 *
 * It has the shape of tsgi's other upstream clients (uwsgi, FastCGI): `forward(req, sink, address)`
 * answers the sink exactly once and resolves with how the exchange ended.
 */

/** How a forwarded exchange ended. */
export type HttpForwardOutcome = 'complete' | 'client-gone' | 'aborted' | 'upstream-error';

/**
 * A failure of the exchange and the status the client got: `TSGI_ERR_UPSTREAM_CONNECT` (502, refused
 * or unreachable; nothing was sent, so another node may be tried), `TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT`
 * (504, nothing sent either), `TSGI_ERR_UPSTREAM_TIMEOUT` (504, no byte for `readTimeoutMs`),
 * `TSGI_ERR_UPSTREAM_CLOSED` (502, the connection ended before the response did),
 * `TSGI_ERR_UPSTREAM_PROTOCOL` (502, a malformed response), `TSGI_ERR_REQUEST_BODY` (the client's
 * body broke: its own status).
 */
export interface HttpForwardError {
  readonly code: `TSGI_ERR_${string}`;
  readonly statusCode: number;
  readonly message: string;
}

/** The result of a forward; the promise never rejects. */
export interface HttpForwardResult {
  readonly outcome: HttpForwardOutcome;
  readonly error: HttpForwardError | null;
}

/** Per-call settings. */
export interface HttpForwardOptions {
  /** Give up connecting after this long, ms (504). Default: `socket-timeout`. */
  readonly connectTimeoutMs?: number;
  /** Fail when the upstream sends nothing for this long while tsgi waits for it, ms (504). Default 60000. */
  readonly readTimeoutMs?: number;
  /** The `Host` header to send (uWSGI's `http:ADDR,HOST`); default the request's own Host. */
  readonly host?: string;
  /** The request target to send (uWSGI's `http:ADDR,HOST,URI`); default REQUEST_URI. */
  readonly uri?: string;
  /** Cancels the exchange; the client gets 502 (or the reason's `statusCode`). */
  readonly signal?: AbortSignal;
}

/** The client connection of an upgrade request, taken over from the edge (RFC 9110 §7.8). */
export interface UpgradedClient {
  readonly socket: Duplex;
  /** Bytes the client sent after the request head (already read by the edge). */
  readonly head: Buffer;
}

/** HTTP/1.1 client for upstreams: keep-alive connection pool per address, streaming both ways. */
export interface HttpClient {
  /**
   * Send `req` to the HTTP server at `address` (`host:port`, `[v6]:port` or a unix socket path) and
   * answer `sink` with its response: hop-by-hop headers dropped, `X-Forwarded-For/Proto/Host` added,
   * bodies streamed with backpressure in both directions.
   */
  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<HttpForwardResult>;
  /**
   * Pass an upgrade request (WebSocket) through to the server at `address`: on `101` the two
   * connections are joined byte for byte until either side closes; any other answer is relayed and
   * the client connection closed. Connect failures resolve with the error before anything is
   * written to the client, so another node may be tried.
   */
  upgrade(
    req: TsgiRequest,
    client: UpgradedClient,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<HttpForwardResult>;
  /** Close idle pooled connections (instance stop). */
  close(): void;
}

declare module '../../core/plugin/types.js' {
  interface Contracts {
    /** The HTTP client for upstreams (provided by the `http` plugin). */
    'http-client': HttpClient;
  }
}
