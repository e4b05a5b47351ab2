import { connect, type Socket } from 'node:net';
import { RequestError } from '../errors.js';
import { parseAddress } from '../net/address.js';
import { postBuffer } from './post-buffering.js';
import type { BodySource, TsgiRequest } from './request.js';
import { type ResponseSink, sendError } from './sink.js';

/**
 * The shared shape of tsgi's upstream clients (the uwsgi and FastCGI protocol plugins provide them as
 * contracts; the router's proxy actions and the PHP runner use them): forward one {@link TsgiRequest}
 * to a server at an address and drive a {@link ResponseSink} with its answer, streaming both ways
 * with backpressure.
 */

/** How a forwarded exchange ended. */
export type ForwardOutcome =
  /** The upstream's response was delivered whole. */
  | 'complete'
  /** The client went away (the sink's `onAbort`); the upstream exchange was cancelled. */
  | 'client-gone'
  /** `ForwardOptions.signal` fired; the sink was answered with the abort reason's status. */
  | 'aborted'
  /** Connecting, sending or reading failed, or the upstream broke its protocol; see `error`. */
  | 'upstream-error';

/** The result of {@link UpstreamClient.forward}. The promise never rejects. */
export interface ForwardResult {
  readonly outcome: ForwardOutcome;
  /** Set for `upstream-error` (and for a request body that broke: its own status, e.g. 413). */
  readonly error: RequestError | null;
}

/**
 * An upstream failure with the status the client gets: `TSGI_ERR_UPSTREAM_CONNECT` (502: refused,
 * unreachable, bad address), `TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT` (504), `TSGI_ERR_UPSTREAM_TIMEOUT`
 * (504: no byte from the upstream for `readTimeoutMs`), `TSGI_ERR_UPSTREAM_CLOSED` (502: the
 * connection ended before the response did), `TSGI_ERR_UPSTREAM_PROTOCOL` (502: a malformed or
 * oversized response), `TSGI_ERR_UPSTREAM_OVERLOADED` (503: the upstream refused the request),
 * `TSGI_ERR_UPSTREAM_REQUEST` (431: the request cannot be encoded in the upstream's protocol).
 */
export class UpstreamError extends RequestError {}

/** Per-call settings of a forward. Every field is optional; defaults are the client's. */
export interface ForwardOptions {
  /** Give up connecting after this long, ms (504). Default: the instance's `socket-timeout`. */
  readonly connectTimeoutMs?: number;
  /**
   * Fail when the upstream sends nothing for this long while tsgi waits for it, ms (504). Time the
   * client spends not reading (backpressure) does not count. Default 60000.
   */
  readonly readTimeoutMs?: number;
  /** Largest response head accepted from the upstream, bytes (502 above it). Default 65536. */
  readonly maxHeadBytes?: number;
  /**
   * Cancels the exchange (harakiri, router timeouts). The sink is answered with
   * `signal.reason.statusCode` when the reason is a {@link RequestError}, else 502; the outcome is
   * `aborted`.
   */
  readonly signal?: AbortSignal;
}

/** A client of one upstream protocol. */
export interface UpstreamClient {
  /**
   * Send `req` (its vars and body) to the server at `address` (`host:port`, `[v6]:port` or a unix
   * socket path, uWSGI's address syntax) and answer `sink` with its response, exactly once: the
   * response as the upstream sent it, or an error page with the {@link UpstreamError}'s status
   * (before the head), or a reset connection (after it). Resolves when the exchange is over.
   */
  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: ForwardOptions,
  ): Promise<ForwardResult>;
}

/** Defaults of {@link ForwardOptions}, in ms and bytes. */
export interface ForwardDefaults {
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly maxHeadBytes: number;
}

/** Resolve `opts` against the client's defaults. */
export function forwardSettings(
  defaults: ForwardDefaults,
  opts: ForwardOptions | undefined,
): ForwardDefaults {
  return {
    connectTimeoutMs: opts?.connectTimeoutMs ?? defaults.connectTimeoutMs,
    readTimeoutMs: opts?.readTimeoutMs ?? defaults.readTimeoutMs,
    maxHeadBytes: opts?.maxHeadBytes ?? defaults.maxHeadBytes,
  };
}

/**
 * Open a connection to an upstream address (uWSGI address syntax).
 * @throws {UpstreamError} TSGI_ERR_UPSTREAM_CONNECT (502) for a bad address or a refused or failed
 *   connection, TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT (504) after `timeoutMs`.
 */
export function connectUpstream(address: string, timeoutMs: number): Promise<Socket> {
  let addr: ReturnType<typeof parseAddress>;
  try {
    addr = parseAddress(address, 'upstream', null);
  } catch (err) {
    return Promise.reject(
      new UpstreamError('TSGI_ERR_UPSTREAM_CONNECT', 502, `bad upstream address '${address}'`, {
        cause: err,
      }),
    );
  }
  return new Promise((resolve, reject) => {
    const sock =
      addr.kind === 'unix'
        ? connect({ path: addr.path })
        : connect({
            host: addr.host === '0.0.0.0' ? '127.0.0.1' : addr.host,
            port: addr.port,
            noDelay: true,
          });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new UpstreamError(
          'TSGI_ERR_UPSTREAM_CONNECT_TIMEOUT',
          504,
          `timed out connecting to upstream ${address} after ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        new UpstreamError(
          'TSGI_ERR_UPSTREAM_CONNECT',
          502,
          `cannot connect to upstream ${address}: ${err.code ?? err.message}`,
          { cause: err },
        ),
      );
    });
  });
}

/**
 * The bookkeeping of one forwarded request, shared by the protocol clients: it answers the sink
 * exactly once, keeps the request's counters (`status`, `bytesIn`, `bytesOut`, header count), runs
 * the read timeout (paused while the client applies backpressure), and turns client aborts and
 * the caller's abort signal into an end of the exchange. The protocol client supplies the wire side
 * through `stop` (tear the upstream exchange down; called once, when the exchange ends early).
 */
export class Exchange {
  /** Resolves once with the exchange's result. */
  readonly result: Promise<ForwardResult>;
  private settle!: (r: ForwardResult) => void;
  private settled = false;
  private timer: NodeJS.Timeout | null = null;
  private held = false;
  private readonly onSignal: (() => void) | null = null;

  constructor(
    readonly req: TsgiRequest,
    readonly sink: ResponseSink,
    private readonly readTimeoutMs: number,
    private readonly what: string,
    private readonly signal: AbortSignal | undefined,
    private readonly stop: (outcome: ForwardOutcome) => void,
  ) {
    this.result = new Promise((resolve) => {
      this.settle = resolve;
    });
    sink.onAbort(() => this.finish('client-gone', null));
    if (signal) {
      this.onSignal = () => this.abortBySignal();
      if (signal.aborted) queueMicrotask(this.onSignal);
      else signal.addEventListener('abort', this.onSignal, { once: true });
    }
  }

  /** Whether the exchange is over (further calls are ignored). */
  get done(): boolean {
    return this.settled;
  }

  /** Start (or restart) the read timeout: call when tsgi starts waiting for the upstream and on every read. */
  touch(): void {
    if (this.settled || this.held) return;
    if (this.timer) this.timer.refresh();
    else
      this.timer = setTimeout(
        () =>
          this.error(
            new UpstreamError(
              'TSGI_ERR_UPSTREAM_TIMEOUT',
              504,
              `${this.what} sent nothing for ${this.readTimeoutMs} ms`,
            ),
          ),
        this.readTimeoutMs,
      );
  }

  /** The client is not reading (true) or reads again (false); the read timeout waits meanwhile. */
  hold(held: boolean): void {
    this.held = held;
    if (held) this.clearTimer();
    else this.touch();
  }

  /** Forward the response head to the sink. */
  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (this.settled) return;
    this.req.status = status;
    this.req.headerCount = headers.length / 2;
    let bytes = 0;
    for (const h of headers) bytes += h.length + 2;
    this.req.headerBytes = bytes;
    this.sink.head(status, reason, headers, bodyLength);
  }

  /**
   * Forward body bytes; returns false when the client's buffer is full: the caller stops reading the
   * upstream until `onDrain` fires (the read timeout waits too).
   */
  write(chunk: Buffer, onDrain: () => void): boolean {
    if (this.settled) return true;
    this.req.bytesOut += chunk.length;
    if (this.sink.write(chunk)) return true;
    this.hold(true);
    this.sink.onDrain(() => {
      if (this.settled) return;
      this.hold(false);
      onDrain();
    });
    return false;
  }

  /** The response is complete. */
  end(): void {
    if (this.settled) return;
    this.sink.end();
    this.finish('complete', null);
  }

  /** The exchange failed: answer the client with the error's status (or reset after the head). */
  error(err: RequestError): void {
    if (this.settled) return;
    if (!this.sink.headSent) this.req.status = err.statusCode;
    sendError(this.sink, err.statusCode, err.message);
    this.finish('upstream-error', err);
  }

  /**
   * Pump a request body (the request's own, or a replay of it) with backpressure: `write` sends one chunk upstream and returns
   * false when the upstream socket's buffer is full (then `drain` registers the callback to call
   * when it has room), `end` marks the body complete. A broken body (client gone, over
   * `limit-post`) ends the exchange with the body's status.
   */
  pumpBody(
    body: BodySource | null,
    write: (chunk: Buffer) => boolean,
    drain: (cb: () => void) => void,
    end: () => void,
  ): void {
    if (!body) {
      end();
      return;
    }
    body.start(
      (chunk) => {
        if (this.settled) return;
        this.req.bytesIn += chunk.length;
        if (!write(chunk)) {
          body.pause();
          drain(() => body.resume());
        }
      },
      () => {
        if (!this.settled) end();
      },
      (err) => this.error(bodyError(err)),
    );
  }

  /**
   * The request body with its length known: as it is when the request declared a length, else read
   * to its end first with `post-buffering`'s machinery ({@link postBuffer}: memory, then an
   * unlinked temp file; `CONTENT_LENGTH` set) for protocols that need `CONTENT_LENGTH`. Resolves
   * null when the exchange ended meanwhile (the client left, or the body broke and the client got
   * its error).
   */
  async sizedBody(): Promise<{ body: BodySource | null; length: number } | null> {
    const req = this.req;
    if (!req.body) return { body: null, length: 0 };
    if (req.contentLength < 0) {
      const buffered = await new Promise<boolean>((resolve) => {
        postBuffer(req, this.watchBuffering(resolve), SPOOL_MEMORY_BYTES, () => resolve(true));
      });
      if (!buffered || this.settled) return null;
    }
    return { body: req.contentLength > 0 ? req.body : null, length: req.contentLength };
  }

  /**
   * The sink as `postBuffer` sees it: its error page (a broken body) or the client leaving ends the
   * exchange and resolves `done(false)`.
   */
  private watchBuffering(done: (ok: boolean) => void): ResponseSink {
    const sink = this.sink;
    const failed = (status: number) => {
      done(false);
      this.finish(
        'upstream-error',
        new RequestError('TSGI_ERR_REQUEST_BODY', status, 'the request body could not be read'),
      );
    };
    return {
      get headSent() {
        return sink.headSent;
      },
      head: (status, reason, headers, length) => {
        this.req.status = status;
        sink.head(status, reason, headers, length);
        failed(status);
      },
      write: (chunk) => sink.write(chunk),
      end: () => sink.end(),
      fail: (status, detail) => {
        sink.fail(status, detail);
        failed(status);
      },
      onDrain: (cb) => sink.onDrain(cb),
      onAbort: (cb) =>
        sink.onAbort(() => {
          cb();
          done(false);
          this.finish('client-gone', null);
        }),
    };
  }

  private abortBySignal(): void {
    if (this.settled) return;
    const reason = this.signal?.reason;
    const status = reason instanceof RequestError ? reason.statusCode : 502;
    if (!this.sink.headSent) this.req.status = status;
    sendError(this.sink, status, reason instanceof Error ? reason.message : 'request aborted');
    this.finish('aborted', null);
  }

  private finish(outcome: ForwardOutcome, error: RequestError | null): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimer();
    if (this.onSignal) this.signal?.removeEventListener('abort', this.onSignal);
    if (outcome !== 'complete') this.stop(outcome);
    this.settle({ outcome, error });
  }

  private clearTimer(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

/** Bytes of a body of unknown length kept in memory while it is buffered for an upstream; the rest goes to a temp file. */
export const SPOOL_MEMORY_BYTES = 1024 * 1024;

/** A broken request body as the error the client gets (its own status, e.g. 413, else 400). */
function bodyError(err: unknown): RequestError {
  if (err instanceof RequestError) return err;
  const status = (err as { statusCode?: number }).statusCode ?? 400;
  return new RequestError('TSGI_ERR_REQUEST_BODY', status, `request body failed: ${(err as Error).message}`);
}
