import { performance } from 'node:perf_hooks';

/**
 * A request body as the edge delivers it: chunks in order with backpressure. The edge adapts its
 * source (a node:http IncomingMessage, uwsgi or FastCGI stream records) to this shape.
 */
export interface BodySource {
  /**
   * Start delivering. `onData` gets each chunk (bytes), `onEnd` the end of the body, `onError` a broken
   * body (client gone, malformed chunking, over `limit-post`). Called at most once.
   */
  start(onData: (chunk: Buffer) => void, onEnd: () => void, onError: (err: Error) => void): void;
  /** Stop delivering chunks until `resume` (the worker's window is full). */
  pause(): void;
  resume(): void;
}

/**
 * One request in flight through the master: the CGI/WSGI vars the edge produced, its body, and the
 * bookkeeping the dispatcher, logs and stats read. The shape is fixed at construction: plugins never
 * add properties (per-request extension goes through the request vars).
 *
 * Vars are CGI names in upper case (`REQUEST_METHOD`, `PATH_INFO`, `HTTP_HOST`, ...; PEP 3333 §environ,
 * the uwsgi protocol doc) and every value is a latin-1 "binary string": one character per byte, as
 * the uwsgi vars block carries it.
 */
export class TsgiRequest {
  /** Monotonic time the request was parsed, ms (performance.now()). */
  readonly startedAtMs = performance.now();
  /** Wall-clock time the request was parsed, ms since the epoch (for logs). */
  readonly startedAtEpochMs = Date.now();
  /** Worker serving it (0 = not dispatched yet). */
  workerId = 0;
  /** Monotonic time a worker started on it, ms (0 = still queued); harakiri counts from here. */
  dispatchedAtMs = 0;
  /** Status sent to the client (0 until the head is sent). */
  status = 0;
  /** Response body bytes sent to the client. */
  bytesOut = 0;
  /** Request body bytes received from the client. */
  bytesIn = 0;
  /** Response headers sent, and their size in bytes (for the request log). */
  headerCount = 0;
  headerBytes = 0;
  /**
   * The connection switched protocols (an accepted WebSocket): from then on the request is a
   * long-lived session governed by the edge's `websockets-*` limits, and harakiri no longer applies.
   */
  upgraded = false;

  constructor(
    /** CGI vars in the order the edge produced them. Routing may change them before dispatch. */
    readonly vars: Map<string, string>,
    /**
     * The body, or null when the request has none (no Content-Length and no chunked encoding).
     * Replaced by `post-buffering` with a replay of the buffered body.
     */
    public body: BodySource | null,
    /** Body length in bytes; -1 when unknown (chunked); 0 without body. Set by `post-buffering`. */
    public contentLength: number,
    /** The edge protocol that parsed it: `http`, `uwsgi`, `fastcgi`. */
    readonly proto: string,
  ) {}

  /** A var's value, or '' when absent. */
  var(name: string): string {
    return this.vars.get(name) ?? '';
  }
}
