import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import type { Duplex } from 'node:stream';
import { websocketTally } from '../../core/metrics/websocket.js';
import type { StreamOutcome, WorkerChannel } from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import { rawResponseHead, requestHeaders, requestTarget, responseHeaders } from './headers.js';

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
 *
 * An upgrade request (a WebSocket handshake, RFC 9110 §7.8) whose edge can hand its connection
 * over (`sink.takeover`) goes out on a connection of its own with `Connection: Upgrade`; when the
 * worker answers 101 the client connection and that one are joined byte for byte, and the request
 * is over for the master (logged as 101, its slot free, out of harakiri's reach) while the tunnel
 * lives on until either side closes it, or until `close()` (the worker retired or gone). Any other
 * answer is relayed like a normal response.
 */
export class HttpChannel implements WorkerChannel {
  private readonly agent: Agent;
  private readonly open_ = new Map<TsgiRequest, Exchange>();
  /** Joined WebSocket (upgraded) connections: the client's side of each. */
  private readonly tunnels = new Set<Duplex>();
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
    const upgrade = sink.takeover !== undefined && req.vars.has('HTTP_UPGRADE');
    const headers = requestHeaders(req.vars, req.body ? length : -1);
    if (upgrade) headers.push('Connection', 'Upgrade', 'Upgrade', req.var('HTTP_UPGRADE'));
    let creq: ClientRequest;
    try {
      creq = request({
        // an upgraded connection never goes back to the pool
        agent: upgrade ? false : this.agent,
        socketPath: this.socketPath,
        method: req.var('REQUEST_METHOD') || 'GET',
        path: requestTarget(req.vars),
        headers,
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
    if (upgrade) creq.on('upgrade', (res, socket, head) => this.onUpgraded(x, res, socket, head));
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
    for (const t of this.tunnels) t.destroy();
    this.onClose();
  }

  /** The worker switched protocols: join the client's connection to the worker's, end the request. */
  private onUpgraded(x: Exchange, res: IncomingMessage, worker: Duplex, head: Buffer): void {
    const client = x.finished || this.closed ? null : (x.sink.takeover?.() ?? null);
    if (!client) {
      worker.destroy();
      this.finish(x, 'client-gone');
      return;
    }
    x.req.status = res.statusCode ?? 101;
    const headers = responseHeaders(res.rawHeaders);
    x.req.headerCount = headers.length / 2 + 2;
    const text = rawResponseHead(x.req.status, res.statusMessage ?? '', [
      ...headers,
      'Connection',
      'Upgrade',
      'Upgrade',
      res.headers.upgrade ?? '',
    ]);
    x.req.headerBytes = text.length;
    client.socket.write(text, 'latin1');
    if (head.length) client.socket.write(head);
    if (client.head.length) worker.write(client.head);
    this.tunnels.add(client.socket);
    // a WebSocket counts in the instance's WebSocket gauges (its messages are the app's: not parsed here)
    const ws = x.sink.websocket !== undefined;
    if (ws) {
      websocketTally.open++;
      websocketTally.opened++;
    }
    client.socket.once('close', () => {
      this.tunnels.delete(client.socket);
      if (ws) websocketTally.open--;
    });
    for (const [from, to] of [
      [client.socket, worker],
      [worker, client.socket],
    ] as const) {
      from.on('error', () => to.destroy());
      from.once('close', () => to.destroy());
      from.pipe(to, { end: true });
    }
    this.finish(x, 'complete');
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
