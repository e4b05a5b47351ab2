import type { IncomingMessage, ServerResponse } from 'node:http';
import { RequestError } from '../../core/errors.js';
import type { BodySource } from '../../core/request/request.js';
import { REASONS, type ResponseSink } from '../../core/request/sink.js';

function hasHeader(headers: string[], lowerName: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === lowerName) return true;
  return false;
}

/**
 * A {@link ResponseSink} over node:http's ServerResponse. `closeAfter` adds `Connection: close`
 * (draining, or a listener without keep-alive).
 */
export class HttpSink implements ResponseSink {
  headSent = false;
  private abortCb: (() => void) | null = null;
  private aborted = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly closeAfter: () => boolean,
  ) {
    res.on('close', () => {
      if (res.writableFinished) return;
      this.aborted = true;
      const cb = this.abortCb;
      this.abortCb = null;
      cb?.();
    });
  }

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (this.headSent) throw new Error('response head sent twice');
    this.headSent = true;
    if (bodyLength >= 0 && !hasHeader(headers, 'content-length') && !hasHeader(headers, 'transfer-encoding'))
      headers.push('Content-Length', String(bodyLength));
    if (this.closeAfter()) headers.push('Connection', 'close');
    this.res.writeHead(status, reason || REASONS[status] || '', headers);
  }

  write(chunk: Buffer): boolean {
    if (this.aborted) return true;
    return this.res.write(chunk);
  }

  end(): void {
    if (!this.aborted) this.res.end();
  }

  /** Errors always close the connection: the request body may be unread. */
  fail(status: number, detail: string): void {
    if (this.aborted) return;
    if (this.headSent) {
      this.aborted = true;
      this.res.destroy();
      return;
    }
    this.headSent = true;
    const reason = REASONS[status] ?? 'Error';
    const body = `${status} ${reason}${detail ? `: ${detail}` : ''}\n`;
    this.res.writeHead(status, reason, [
      'Content-Type',
      'text/plain; charset=utf-8',
      'Content-Length',
      String(Buffer.byteLength(body)),
      'Connection',
      'close',
    ]);
    this.res.end(body);
  }

  onDrain(cb: () => void): void {
    this.res.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    if (this.aborted) cb();
    else this.abortCb = cb;
  }
}

/**
 * The body of an IncomingMessage as a {@link BodySource}, enforcing `limit-post` (bytes, 0 = none):
 * a chunked body that grows past it errors with 413.
 */
export class IncomingBody implements BodySource {
  private received = 0;
  private onError: ((err: Error) => void) | null = null;
  /** A failure reported before `start` (the request was still queued). */
  private early: Error | null = null;
  /** The body ended (complete or failed). */
  ended = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limitBytes: number,
  ) {}

  start(onData: (chunk: Buffer) => void, onEnd: () => void, onError: (err: Error) => void): void {
    const req = this.req;
    if (this.early) {
      onError(this.early);
      return;
    }
    let failed = false;
    const fail = (err: Error) => {
      if (failed || this.ended) return;
      failed = true;
      this.ended = true;
      onError(err);
    };
    this.onError = fail;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      this.received += chunk.length;
      if (this.limitBytes > 0 && this.received > this.limitBytes) {
        req.pause();
        fail(
          new RequestError(
            'TSGI_ERR_HTTP_BODY_TOO_LARGE',
            413,
            `request body exceeds limit-post (${this.limitBytes} bytes)`,
          ),
        );
        return;
      }
      onData(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      this.ended = true;
      onEnd();
    });
    req.on('aborted', () =>
      fail(new RequestError('TSGI_ERR_HTTP_CLIENT_GONE', 400, 'client closed the request body')),
    );
    req.on('error', (err) => fail(err));
  }

  /** Fail the body from outside (the connection's parser found it malformed). */
  fail(err: Error): void {
    if (this.onError) this.onError(err);
    else if (!this.ended) {
      this.ended = true;
      this.early = err;
    }
  }

  pause(): void {
    this.req.pause();
  }

  resume(): void {
    this.req.resume();
  }
}
