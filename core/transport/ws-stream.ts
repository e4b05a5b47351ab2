import type { Socket } from 'node:net';
import type { TsgiRequest } from '../request/request.js';
import {
  CloseCode,
  type WebSocketEvents,
  type WebSocketHandshake,
  type WebSocketLink,
} from '../request/websocket.js';
import { encodeCredit, encodeWsClose, Frame, INITIAL_WINDOW, WsKind, wsMessageHeader } from './frames.js';

/** The flow-control state of a stream, shared with the channel that owns it. */
export interface StreamState {
  readonly id: number;
  readonly req: TsgiRequest;
  /** Bytes the master may still send the worker (here: client messages). */
  sendWindow: number;
  /** Bytes handed to the client and not yet credited back to the worker. */
  unacked: number;
  /** Waiting for the client to drain before crediting. */
  blocked: boolean;
  finished: boolean;
}

/**
 * The master's side of one WebSocket stream on the framed transport (docs/transport.md,
 * "WebSockets"): it completes the edge's handshake when the worker answers `HEAD 101`, forwards
 * whole client messages as `WS_MESSAGE` frames within the worker's window (pausing the client when it
 * is used up), relays the worker's messages to the client and credits them back as the client drains,
 * and carries close codes both ways.
 */
export class WebSocketStream implements WebSocketEvents {
  /** The accepted connection (null until the worker accepts). */
  link: WebSocketLink | null = null;
  /** The client is paused because the worker's window is used up. */
  private paused = false;
  /** The app closed (or the stream ended): client messages are no longer forwarded. */
  private appClosed = false;
  /** The client connection ended. */
  private clientClosed = false;

  constructor(
    private readonly st: StreamState,
    private readonly socket: Socket,
    private readonly handshake: WebSocketHandshake,
  ) {}

  /**
   * The worker accepted (`HEAD 101`): complete the handshake with its headers, the subprotocol taken
   * from its `Sec-WebSocket-Protocol` header. Returns false when the client is already gone.
   * @throws {Error} for headers the edge refuses (nothing was written to the client).
   */
  accept(headers: string[]): boolean {
    let subprotocol: string | null = null;
    const extra: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'sec-websocket-protocol') subprotocol = headers[i + 1]!;
      else extra.push(headers[i]!, headers[i + 1]!);
    }
    const link = this.handshake.accept(subprotocol, extra, this);
    if (!link) return false;
    this.link = link;
    const req = this.st.req;
    req.status = 101;
    req.upgraded = true;
    req.headerCount = headers.length / 2;
    if (this.paused) link.pause();
    return true;
  }

  onMessage(data: Buffer, binary: boolean): void {
    const st = this.st;
    if (st.finished || this.appClosed) return;
    this.socket.cork();
    this.socket.write(wsMessageHeader(Frame.WS_MESSAGE, st.id, binary, data.length));
    this.socket.write(data);
    this.socket.uncork();
    st.req.bytesIn += data.length;
    st.sendWindow -= data.length;
    if (st.sendWindow <= 0 && !this.paused) {
      this.paused = true;
      this.link?.pause();
    }
  }

  onClose(code: number, reason: string): void {
    if (this.clientClosed) return;
    this.clientClosed = true;
    if (this.st.finished || this.appClosed || this.socket.destroyed) return;
    this.socket.write(encodeWsClose(Frame.WS_CLOSE, this.st.id, code, reason));
  }

  onDrain(): void {
    this.st.blocked = false;
    this.credit();
  }

  /** The worker credited its window: resume reading the client if it was paused. */
  windowOpened(): void {
    if (this.paused && this.st.sendWindow > 0) {
      this.paused = false;
      this.link?.resume();
    }
  }

  /** A `WS_MESSAGE` from the worker: `buf[start]` is the kind, the message follows. */
  fromWorker(buf: Buffer, start: number, end: number, stable: boolean): void {
    const st = this.st;
    const len = end - start - 1;
    st.unacked += len;
    const link = this.link;
    if (!link || this.clientClosed || this.appClosed || len < 0) {
      this.credit();
      return;
    }
    // The client's socket may keep the buffer: copy it when it is the reader's reusable one.
    const body = buf.subarray(start + 1, end);
    const ok = link.send(stable ? body : Buffer.from(body), buf[start] === WsKind.BINARY);
    st.req.bytesOut += len;
    if (!ok) st.blocked = true;
    else if (!st.blocked && st.unacked >= INITIAL_WINDOW / 2) this.credit();
  }

  /** A `WS_CLOSE` from the worker: start the closing handshake with the app's code and reason. */
  closeFromWorker(code: number, reason: string): void {
    this.appClosed = true;
    if (!this.clientClosed) this.link?.close(code, reason);
  }

  /** The worker let go of the stream (`END`): close a connection it left open with 1000. */
  end(): void {
    if (!this.appClosed && !this.clientClosed) this.link?.close(CloseCode.NORMAL, '');
    this.appClosed = true;
  }

  /** The app failed (`ABORT`) or its worker died: close with 1011. */
  lost(reason: string): void {
    if (!this.appClosed && !this.clientClosed) this.link?.close(CloseCode.INTERNAL_ERROR, reason);
    this.appClosed = true;
  }

  /** The worker is retiring: the edge closes the connection after its mercy. */
  retire(stopping: boolean): void {
    if (!this.clientClosed) this.link?.retire(stopping);
  }

  private credit(): void {
    const st = this.st;
    if (st.finished || st.unacked === 0 || this.socket.destroyed) return;
    this.socket.write(encodeCredit(Frame.CREDIT, st.id, st.unacked));
    st.unacked = 0;
  }
}
