import type { Duplex } from 'node:stream';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import type { ForwardOptions, ForwardResult, UpstreamClient } from '../../core/request/upstream.js';

/**
 * The public face of the HTTP plugin's client side for other plugins: the `http-client` contract
 * (`ctx.registry.contract('http', 'http-client')`, typed through the declaration merge below). The
 * router's `http:` action and front router use it; never import the plugin's other modules.
 *
 * ```ts
 * const http = ctx.registry.contract('http', 'http-client');
 * const { outcome, error } = await http.forward(req, sink, '127.0.0.1:8080', { host: 'example.com' });
 * ```
 */

/** Per-call settings of an HTTP forward: the shared ones plus what uWSGI's `http:` action takes. */
export interface HttpForwardOptions extends ForwardOptions {
  /** The `Host` header to send (uWSGI's `http:ADDR,HOST`); default the request's own Host. */
  readonly host?: string;
  /** The request target to send (uWSGI's `http:ADDR,HOST,URI`); default REQUEST_URI. */
  readonly uri?: string;
}

/** The client connection of an upgrade request, taken over from the edge (RFC 9110 §7.8). */
export interface UpgradedClient {
  readonly socket: Duplex;
  /** Bytes the client sent after the request head (already read by the edge). */
  readonly head: Buffer;
}

/**
 * HTTP/1.1 client for upstreams (RFC 9112): a keep-alive connection pool per address, the request
 * rebuilt from its CGI vars with hop-by-hop headers dropped and `X-Forwarded-For/Proto/Host` added,
 * bodies streamed with backpressure in both directions. Errors reach the sink as statuses (see
 * `UpstreamError`): 502 refused or broken connection, 504 connect or read timeout. The request body
 * starts flowing only once the connection is up, so a refused connection leaves it unread and the
 * caller may try another node.
 */
export interface HttpClient extends UpstreamClient {
  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<ForwardResult>;
  /**
   * Pass an upgrade request (WebSocket) through to the server at `address`: on `101` the two
   * connections are joined byte for byte until either side closes; any other answer is relayed and
   * the client connection closed. A failed connect resolves with the error before anything is
   * written to the client, so another node may be tried.
   */
  upgrade(
    req: TsgiRequest,
    client: UpgradedClient,
    address: string,
    opts?: HttpForwardOptions,
  ): Promise<ForwardResult>;
  /** Close idle pooled connections; busy ones close once their exchange is over (reload, stop). */
  close(): void;
}

declare module '../../core/plugin/types.js' {
  interface Contracts {
    /** The HTTP client for upstreams (provided by the `http` plugin). */
    'http-client': HttpClient;
  }
}
