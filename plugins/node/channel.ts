import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { StreamOutcome, WorkerChannel } from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import { requestHeaders, requestTarget, responseHeaders } from './headers.js';

/** Largest response head accepted from a worker, bytes (node's llhttp limit on the client side). */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024;

interface Exchange {
  readonly req: TsgiRequest;
  readonly sink: ResponseSink;
  readonly done: (outcome: StreamOutcome) => void;
  readonly creq: ClientRequest;
  finished: boolean;
}

/**
 * The master's side of a worker spoken to in HTTP/1.1 over a unix socket (the Node runner): each
 * request goes out on a keep-alive connection of a per-worker agent (at most `slots` connections,
 * one request in flight on each), its body streamed with backpressure; the response's status,
 * headers (hop-by-hop ones removed) and body drive the sink with backpressure. A connection error
 * before the head is a 502, after it a reset; the client leaving (or harakiri) destroys that
 * connection, which is how an HTTP server learns a request was cancelled.
 */
export class HttpChannel implements WorkerChannel {
  private readonly agent: Agent;
  private readonly open_ = new Map<TsgiRequest, Exchange>();
  private closed = false;

  /**
   * @param socketPath the unix socket the worker's server listens on
   * @param slots concurrent requests (and keep-alive connections) at most
   * @param onClose called once by `close()`, after the agent's connections are closed
   */
  constructor(
    private readonly socketPath: string,
    slots: number,
    private readonly onClose: () => void,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: slots, maxFreeSockets: slots, scheduling: 'lifo' });
  }

  get inflight(): number {
    return this.open_.size;
  }

  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void {
    const length = req.body ? req.contentLength : 0;
    let creq: ClientRequest;
    try {
      creq = request({
        agent: this.agent,
        socketPath: this.socketPath,
        method: req.var('REQUEST_METHOD') || 'GET',
        path: requestTarget(req.vars),
        headers: requestHeaders(req.vars, req.body ? length : -1),
        setHost: false,
        maxHeaderSize: MAX_RESPONSE_HEAD_BYTES,
      });
    } catch (err) {
      // node refuses a target or header it cannot write (control characters from a uwsgi/FastCGI edge)
      req.status = 400;
      sink.fail(400, `request cannot be sent to the worker: ${(err as Error).message}`);
      done('complete');
      return;
    }
    const x: Exchange = { req, sink, done, creq, finished: false };
    this.open_.set(req, x);
    creq.on('response', (res) => this.onResponse(x, res));
    creq.on('error', (err) => this.fail(x, 502, `worker connection failed: ${err.message}`, 'worker-lost'));
    sink.onAbort(() => {
      creq.destroy();
      this.finish(x, 'client-gone');
    });
    const body = req.body;
    if (!body) {
      creq.end();
      return;
    }
    body.start(
      (chunk) => {
        if (x.finished) return;
        req.bytesIn += chunk.length;
        if (!creq.write(chunk)) {
          body.pause();
          creq.once('drain', () => body.resume());
        }
      },
      () => {
        if (!x.finished) creq.end();
      },
      (err) => this.fail(x, (err as { statusCode?: number }).statusCode ?? 400, err.message, 'client-gone'),
    );
  }

  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void {
    const x = this.open_.get(req);
    if (!x || x.finished) return;
    if (answer) {
      if (!x.sink.headSent) req.status = answer.status;
      x.sink.fail(answer.status, answer.detail);
    }
    x.creq.destroy();
    this.finish(x, 'client-gone');
  }

  failAll(status: number, reason: string): void {
    for (const x of [...this.open_.values()]) this.fail(x, status, reason, 'worker-lost');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.agent.destroy();
    this.onClose();
  }

  private onResponse(x: Exchange, res: IncomingMessage): void {
    if (x.finished) {
      res.destroy();
      return;
    }
    const { req, sink } = x;
    const headers = responseHeaders(res.rawHeaders);
    req.status = res.statusCode ?? 502;
    req.headerCount = headers.length / 2;
    let bytes = 0;
    for (const h of headers) bytes += h.length + 2;
    req.headerBytes = bytes;
    try {
      sink.head(req.status, res.statusMessage ?? '', headers, -1);
    } catch (err) {
      this.fail(x, 502, `invalid response head from the worker: ${(err as Error).message}`, 'worker-error');
      return;
    }
    res.on('data', (chunk: Buffer) => {
      if (x.finished) return;
      req.bytesOut += chunk.length;
      if (!sink.write(chunk)) {
        res.pause();
        sink.onDrain(() => res.resume());
      }
    });
    res.on('end', () => {
      if (x.finished) return;
      sink.end();
      this.finish(x, 'complete');
    });
    res.on('aborted', () =>
      this.fail(x, 502, 'the worker closed the connection mid-response', 'worker-error'),
    );
    res.on('error', () => this.fail(x, 502, 'the worker closed the connection mid-response', 'worker-error'));
  }

  private fail(x: Exchange, status: number, detail: string, outcome: StreamOutcome): void {
    if (x.finished) return;
    if (!x.sink.headSent) x.req.status = status;
    x.sink.fail(status, detail);
    x.creq.destroy();
    this.finish(x, outcome);
  }

  private finish(x: Exchange, outcome: StreamOutcome): void {
    if (x.finished) return;
    x.finished = true;
    this.open_.delete(x.req);
    // A response that ended before its request body was sent whole leaves the connection unusable.
    if (outcome === 'complete' && !x.creq.writableFinished) x.creq.destroy();
    x.done(outcome);
  }
}
