import type { Socket } from 'node:net';
import { checkHeader, hasBodyFraming } from '../../core/request/cgi-head.js';
import { REASONS, type ResponseSink, sendError } from '../../core/request/sink.js';

/**
 * Encode an HTTP/1.x response head as a uwsgi server sends it (raw HTTP, the response is delimited
 * by closing the connection): status line, headers, `Content-Length` when `bodyLength` is known and
 * the app gave none, blank line. `protocol` is the request's `SERVER_PROTOCOL` when it is HTTP/1.0
 * or HTTP/1.1, else HTTP/1.1.
 * @throws {Error} for a header name that is not a token or a value with CR, LF or NUL.
 */
export function encodeHttpHead(
  protocol: string,
  status: number,
  reason: string,
  headers: readonly string[],
  bodyLength: number,
): Buffer {
  const proto = protocol === 'HTTP/1.0' || protocol === 'HTTP/1.1' ? protocol : 'HTTP/1.1';
  let text = `${proto} ${status} ${reason || REASONS[status] || ''}\r\n`;
  for (let i = 0; i + 1 < headers.length; i += 2) {
    checkHeader(headers[i]!, headers[i + 1]!);
    text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  }
  if (bodyLength >= 0 && !hasBodyFraming(headers)) text += `Content-Length: ${bodyLength}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/**
 * The {@link ResponseSink} of a uwsgi edge connection: raw HTTP on the socket, then the connection
 * is closed (that is how a uwsgi response ends). The head goes out with the first body chunk in
 * one write. A HEAD request's body is not sent.
 */
export class RawHttpSink implements ResponseSink {
  headSent = false;
  private finished = false;
  private abortCb: (() => void) | null = null;
  private gone = false;

  constructor(
    private readonly socket: Socket,
    private readonly protocol: string,
    private readonly isHead: boolean,
  ) {}

  /** The connection closed: before `end`, that is the client going away. */
  closed(): void {
    if (this.finished || this.gone) return;
    this.gone = true;
    const cb = this.abortCb;
    this.abortCb = null;
    cb?.();
  }

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (this.headSent) throw new Error('response head sent twice');
    const buf = encodeHttpHead(this.protocol, status, reason, headers, bodyLength);
    this.headSent = true;
    if (this.gone) return;
    this.socket.cork();
    this.socket.write(buf);
    process.nextTick(uncork, this.socket);
  }

  write(chunk: Buffer): boolean {
    if (this.gone || this.isHead || chunk.length === 0) return true;
    return this.socket.write(chunk);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.gone) this.socket.end();
  }

  fail(status: number, detail: string): void {
    if (this.finished) return;
    if (this.headSent) {
      this.finished = true;
      this.socket.destroy();
      return;
    }
    sendError(this, status, detail);
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    if (this.gone) cb();
    else this.abortCb = cb;
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}
