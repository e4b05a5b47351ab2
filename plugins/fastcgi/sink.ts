import type { Socket } from 'node:net';
import { encodeCgiHead } from '../../core/request/cgi-head.js';
import { type ResponseSink, sendError } from '../../core/request/sink.js';
import { writeStream } from './io.js';
import {
  encodeEndRequest,
  FCGI_HEADER_BYTES,
  ProtocolStatus,
  RecordType,
  writeRecordHeader,
} from './record.js';

/**
 * The {@link ResponseSink} of one FastCGI request: the head as CGI lines (`Status: 200 OK`) and the
 * body as STDOUT records, then an empty STDOUT record and END_REQUEST (appStatus 0,
 * FCGI_REQUEST_COMPLETE) in one write. The head goes out with the first body chunk (corked). A
 * failure after the head resets the connection, so the web server sees a truncated response, never
 * a complete wrong one. A HEAD request's body is not sent.
 */
export class FastcgiSink implements ResponseSink {
  headSent = false;
  private finished = false;
  private gone = false;
  /** The client went away (ABORT_REQUEST or the connection closed) before `end`. */
  private clientGone = false;
  private abortCb: (() => void) | null = null;

  /** @param onFinished called once when END_REQUEST has been written */
  constructor(
    private readonly socket: Socket,
    private readonly requestId: number,
    private readonly isHead: boolean,
    private readonly onFinished: () => void,
  ) {}

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (this.headSent) throw new Error('response head sent twice');
    const head = encodeCgiHead(status, reason, headers, bodyLength);
    this.headSent = true;
    if (this.gone) return;
    this.socket.cork();
    writeStream(this.socket, RecordType.STDOUT, this.requestId, head);
    process.nextTick(uncork, this.socket);
  }

  write(chunk: Buffer): boolean {
    if (this.gone || this.finished || this.isHead || chunk.length === 0) return true;
    return writeStream(this.socket, RecordType.STDOUT, this.requestId, chunk);
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.gone) {
      const tail = Buffer.allocUnsafe(FCGI_HEADER_BYTES);
      writeRecordHeader(tail, 0, RecordType.STDOUT, this.requestId, 0);
      this.socket.cork();
      this.socket.write(tail);
      this.socket.write(encodeEndRequest(this.requestId, 0, ProtocolStatus.REQUEST_COMPLETE));
      this.socket.uncork();
    }
    this.onFinished();
  }

  fail(status: number, detail: string): void {
    if (this.finished) return;
    if (this.headSent) {
      this.finished = true;
      this.gone = true;
      this.socket.destroy();
      return;
    }
    sendError(this, status, detail);
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    if (this.clientGone) cb();
    else this.abortCb = cb;
  }

  /** The web server sent ABORT_REQUEST: confirm with END_REQUEST and tell the consumer the client is gone. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.gone) this.socket.write(encodeEndRequest(this.requestId, 0, ProtocolStatus.REQUEST_COMPLETE));
    this.gone = true;
    this.fireAbort();
  }

  /** The connection closed: before `end`, that is the client going away. */
  closed(): void {
    if (this.gone) return;
    this.gone = true;
    if (!this.finished) this.fireAbort();
  }

  private fireAbort(): void {
    this.clientGone = true;
    const cb = this.abortCb;
    this.abortCb = null;
    cb?.();
  }
}

function uncork(socket: Socket): void {
  socket.uncork();
}
