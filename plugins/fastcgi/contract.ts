import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import type { ForwardOptions, ForwardResult, UpstreamClient } from '../../core/request/upstream.js';

/**
 * The public face of the FastCGI plugin for other plugins: the `fastcgi-client` contract. Ask the
 * registry for it (`ctx.registry.contract('fastcgi', 'fastcgi-client')`, typed through the
 * declaration merge below); never import the plugin's other modules.
 *
 * ```ts
 * // router: proxy to php-fpm through the keep-alive pool
 * const fcgi = ctx.registry.contract('fastcgi', 'fastcgi-client');
 * await fcgi.forward(req, sink, '/run/php/php-fpm.sock');
 * // PHP runner: one connection per php-cgi worker
 * const conn = await fcgi.connect('/run/tsgi/php-1.sock', { connectTimeoutMs: 4000 });
 * conn.onClose(() => ...);                 // php-cgi exited (PHP_FCGI_MAX_REQUESTS) or crashed
 * const r = await conn.forward(req, sink); // FCGI_KEEP_CONN, one request at a time
 * ```
 *
 * Requests go out as BEGIN_REQUEST (responder role, FCGI_KEEP_CONN), PARAMS (the request's vars,
 * as given: set `SCRIPT_FILENAME` and friends before forwarding), STDIN (the body, streamed with
 * backpressure; a body of unknown length is spooled first so that `CONTENT_LENGTH` is set, as php-cgi
 * needs). The response's CGI head (`Status:`, `Location:`) and STDOUT body drive the sink with
 * backpressure; STDERR lines go to the instance log; END_REQUEST ends the response (its
 * FCGI_OVERLOADED / FCGI_CANT_MPX_CONN statuses give 503). Errors reach the sink as statuses (see
 * {@link UpstreamError}): 502 refused or broken connection or malformed response, 504 connect or
 * read timeout.
 */

/** A keep-alive connection to one FastCGI server (one php-cgi process): one request at a time. */
export interface FastcgiConnection {
  /** The address it is connected to. */
  readonly address: string;
  /** A request is in flight. */
  readonly busy: boolean;
  /** The connection is gone (closed by either side); it takes no more requests. */
  readonly closed: boolean;
  /**
   * Forward one request on this connection. Rejects only when called while `busy` or `closed`
   * (TSGI_ERR_FASTCGI_BUSY); every other failure answers the sink and resolves.
   */
  forward(req: TsgiRequest, sink: ResponseSink, opts?: ForwardOptions): Promise<ForwardResult>;
  /**
   * Ask the server for its FCGI_GET_VALUES (§4.1), e.g. `FCGI_MAX_CONNS`, `FCGI_MAX_REQS`,
   * `FCGI_MPXS_CONNS`. Resolves with the values it answered; rejects after `timeoutMs` or when the
   * connection closes (TSGI_ERR_UPSTREAM_TIMEOUT, TSGI_ERR_UPSTREAM_CLOSED).
   */
  getValues(names: readonly string[], timeoutMs: number): Promise<Map<string, string>>;
  /** Called once when the connection is gone. */
  onClose(cb: () => void): void;
  /** Close it (an in-flight request is failed as if the upstream had gone away). */
  close(): void;
}

/**
 * The FastCGI client: `forward` through a keep-alive pool per address (idle connections are
 * reused; a connection the server closed while idle is retried once on a fresh one for a request
 * without a body), or `connect` for a dedicated connection.
 *
 * A FastCGI server that serves one connection at a time (a lone `php-cgi -b` without
 * `PHP_FCGI_CHILDREN`) cannot take a second connection while the pool keeps one open: point the
 * pool at servers with enough children, or use one `connect`ed connection per process.
 */
export interface FastcgiClient extends UpstreamClient {
  /**
   * Open a dedicated connection.
   * @throws {UpstreamError} TSGI_ERR_UPSTREAM_CONNECT, TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT
   */
  connect(address: string, opts?: Pick<ForwardOptions, 'connectTimeoutMs'>): Promise<FastcgiConnection>;
}

declare module '../../core/plugin/types.js' {
  interface Contracts {
    /** The FastCGI client with its keep-alive pool (provided by the `fastcgi` plugin). */
    'fastcgi-client': FastcgiClient;
  }
}
