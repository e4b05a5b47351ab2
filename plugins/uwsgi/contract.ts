import type { EdgeProtocol, ListenSpec } from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import type { ForwardOptions, ForwardResult, UpstreamClient } from '../../core/request/upstream.js';

/**
 * The public face of the uwsgi plugin for other plugins: the `uwsgi-client` contract. Ask the
 * registry for it (`ctx.registry.contract('uwsgi', 'uwsgi-client')`, typed through the declaration
 * merge below); never import the plugin's other modules.
 *
 * ```ts
 * const uwsgi = ctx.registry.contract('uwsgi', 'uwsgi-client');
 * const { outcome, error } = await uwsgi.forward(req, sink, '127.0.0.1:3031', { modifier1: 0 });
 * ```
 */

/** Per-call settings of a uwsgi forward: the shared ones plus the packet's modifiers. */
export interface UwsgiForwardOptions extends ForwardOptions {
  /** modifier1 of the request packet (0 = WSGI, the default; 5 PSGI, 7 Rack, 14 PHP, ...). */
  readonly modifier1?: number;
  /** modifier2 of the request packet (default 0). */
  readonly modifier2?: number;
}

/**
 * A client for any uwsgi server (uWSGI `--socket`, another tsgi's `socket`): one connection per
 * request; the request's vars go as a uwsgi packet, its body follows with `CONTENT_LENGTH` set (a
 * body of unknown length, i.e. chunked, is spooled first: 1 MiB in memory, the rest in a temp file,
 * as nginx does); the response (raw HTTP, or a CGI `Status:` head, ended by the close) drives the
 * sink with backpressure both ways. Hop-by-hop headers of the response are dropped.
 *
 * Errors reach the sink as statuses (see {@link UpstreamError}): 502 refused or broken connection or
 * malformed response, 504 connect or read timeout, 431 vars over the protocol's 65535 bytes.
 */
export interface UwsgiClient extends UpstreamClient {
  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: UwsgiForwardOptions,
  ): Promise<ForwardResult>;
  /** uWSGI's ping (modifier1 100): true when the server answers with a pong within `timeoutMs`. */
  ping(address: string, timeoutMs: number): Promise<boolean>;
}

/**
 * The uwsgi protocol's server side for listeners another plugin owns (the router's `fastrouter`):
 * an edge over those listen specs with this instance's limits (`buffer-size`, `limit-post`,
 * `socket-timeout`). The owner passes the edge its own request handler.
 */
export interface UwsgiServer {
  edge(listeners: ListenSpec[]): EdgeProtocol;
}

declare module '../../core/plugin/types.js' {
  interface Contracts {
    /** The uwsgi protocol client (provided by the `uwsgi` plugin). */
    'uwsgi-client': UwsgiClient;
    /** The uwsgi protocol server for other plugins' listeners (provided by the `uwsgi` plugin). */
    'uwsgi-server': UwsgiServer;
  }
}
