import type { Socket } from 'node:net';
import { decodePairs, varsByteLength, writeVars } from '../../plugins/uwsgi/codec.js';
import type { StreamOutcome, WorkerChannel } from '../plugin/types.js';
import type { TsgiRequest } from '../request/request.js';
import { REASONS, type ResponseSink, sendError } from '../request/sink.js';
import {
  AbortReason,
  encodeCredit,
  encodeFrame,
  FRAME_HEADER_BYTES,
  Frame,
  FrameReader,
  INITIAL_WINDOW,
  writeFrameHeader,
} from './frames.js';
import { type StreamState, WebSocketStream } from './ws-stream.js';

/** Largest vars block a REQUEST frame carries, bytes (the uwsgi vars limit). */
export const MAX_REQUEST_VARS_BYTES = 65535;

interface Stream extends StreamState {
  readonly sink: ResponseSink;
  readonly done: (outcome: StreamOutcome) => void;
  bodyPaused: boolean;
  bodyEnded: boolean;
  aborted: boolean;
  /** The WebSocket side of a handshake stream (`WS_OPEN`), else null. */
  ws: WebSocketStream | null;
}

/** Control messages a worker sends on stream 0. */
export interface WorkerControl {
  readonly type: string;
  readonly [key: string]: unknown;
}

/**
 * The master's end of tsgi's framed worker transport (docs/transport.md) over one connected socket:
 * opens streams for requests, pumps request bodies within the worker's window, drives each
 * response sink from HEAD/DATA/END frames and credits the worker as the client drains.
 */
export class FramedChannel implements WorkerChannel {
  private readonly streams = new Map<number, Stream>();
  private nextId = 1;
  private closed = false;
  private readonly reader: FrameReader;

  /**
   * @param socket the connected transport (fd 3 of the worker, seen from the master)
   * @param onControl called for each CONTROL message (`ready`, `log`)
   * @param onProtocolError called once if the worker breaks the protocol (the caller kills it)
   */
  constructor(
    private readonly socket: Socket,
    private readonly onControl: (msg: WorkerControl) => void,
    private readonly onProtocolError: (err: Error) => void,
  ) {
    // Response bodies are relayed as they arrive, never reassembled into whole frames.
    this.reader = new FrameReader((t, s, b, st, en) => this.frame(t, s, b, st, en), Frame.RESP_DATA);
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.onProtocolError(err as Error);
      }
    });
    socket.on('error', () => {});
  }

  get inflight(): number {
    return this.streams.size;
  }

  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void {
    const id = this.nextId++;
    const st: Stream = {
      id,
      req,
      sink,
      done,
      sendWindow: INITIAL_WINDOW,
      bodyPaused: false,
      bodyEnded: req.body === null,
      unacked: 0,
      blocked: false,
      aborted: false,
      finished: false,
      ws: null,
    };
    const handshake = sink.websocket;
    if (handshake) st.ws = new WebSocketStream(st, this.socket, handshake);
    const varsLen = varsByteLength(req.vars);
    if (varsLen > MAX_REQUEST_VARS_BYTES) {
      req.status = 431;
      sendError(sink, 431, 'request header block too large');
      done('complete');
      return;
    }
    this.streams.set(id, st);
    const tail = req.body === null && !handshake ? FRAME_HEADER_BYTES : 0;
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + varsLen + tail);
    writeFrameHeader(buf, 0, handshake ? Frame.WS_OPEN : Frame.REQUEST, id, varsLen);
    writeVars(buf, FRAME_HEADER_BYTES, req.vars);
    if (tail) writeFrameHeader(buf, FRAME_HEADER_BYTES + varsLen, Frame.DATA_END, id, 0);
    sink.onAbort(() => this.abortStream(st, AbortReason.CLIENT_GONE));
    // A body already received (uwsgi, FastCGI, post-buffering) goes out in the same write.
    this.socket.cork();
    this.socket.write(buf);
    if (req.body) this.pumpBody(st);
    this.socket.uncork();
  }

  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void {
    for (const st of this.streams.values()) {
      if (st.req !== req || st.aborted || st.finished) continue;
      this.abortStream(st, answer ? AbortReason.HARAKIRI : AbortReason.CLIENT_GONE);
      if (!answer) continue;
      if (!st.sink.headSent) st.req.status = answer.status;
      st.sink.fail(answer.status, answer.detail);
    }
  }

  failAll(status: number, reason: string): void {
    for (const st of [...this.streams.values()]) {
      if (st.ws?.link) st.ws.lost(reason);
      else {
        if (!st.sink.headSent) st.req.status = status;
        if (!st.aborted) st.sink.fail(status, reason);
      }
      this.finish(st, 'worker-lost');
    }
  }

  retire(stopping: boolean): void {
    for (const st of this.streams.values()) st.ws?.retire(stopping);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
  }

  /** Send a CONTROL message to the worker. */
  control(msg: object): void {
    this.socket.write(encodeFrame(Frame.CONTROL, 0, JSON.stringify(msg)));
  }

  private pumpBody(st: Stream): void {
    const body = st.req.body!;
    body.start(
      (chunk) => {
        if (st.aborted || st.finished) return;
        st.req.bytesIn += chunk.length;
        const hdr = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
        writeFrameHeader(hdr, 0, Frame.DATA, st.id, chunk.length);
        this.socket.cork();
        this.socket.write(hdr);
        this.socket.write(chunk);
        this.socket.uncork();
        st.sendWindow -= chunk.length;
        if (st.sendWindow <= 0 && !st.bodyPaused) {
          st.bodyPaused = true;
          body.pause();
        }
      },
      () => {
        st.bodyEnded = true;
        if (!st.aborted && !st.finished) this.socket.write(encodeFrame(Frame.DATA_END, st.id));
      },
      (err) => {
        st.bodyEnded = true;
        if (st.finished) return;
        if (!st.sink.headSent)
          sendError(st.sink, (err as { statusCode?: number }).statusCode ?? 400, err.message);
        this.abortStream(st, AbortReason.CLIENT_GONE);
      },
    );
  }

  private abortStream(st: Stream, reason: number): void {
    if (st.aborted || st.finished) return;
    st.aborted = true;
    if (!st.bodyEnded && st.bodyPaused) st.req.body?.resume();
    const buf = Buffer.allocUnsafe(FRAME_HEADER_BYTES + 1);
    writeFrameHeader(buf, 0, Frame.ABORT, st.id, 1);
    buf[FRAME_HEADER_BYTES] = reason;
    if (!this.socket.destroyed) this.socket.write(buf);
  }

  private finish(st: Stream, outcome: StreamOutcome): void {
    if (st.finished) return;
    st.finished = true;
    this.streams.delete(st.id);
    st.done(outcome);
  }

  private frame(type: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) {
      if (type === Frame.RESP_CONTROL)
        this.onControl(JSON.parse(buf.toString('utf8', start, end)) as WorkerControl);
      return;
    }
    const st = this.streams.get(id);
    if (!st) return;
    switch (type) {
      case Frame.HEAD:
        if (st.ws && buf.readUInt16LE(start) === 101) this.onAccept(st, st.ws, buf, start, end);
        else this.onHead(st, buf, start, end);
        break;
      case Frame.RESP_DATA:
        this.onData(st, buf.subarray(start, end));
        break;
      case Frame.END:
        if (st.ws?.link) st.ws.end();
        else if (!st.aborted) st.sink.end();
        // A one-byte payload of 1: the app raised and the worker sent its error page.
        this.finish(
          st,
          st.aborted ? 'client-gone' : end > start && buf[start] === 1 ? 'worker-error' : 'complete',
        );
        break;
      case Frame.RESP_ABORT:
        if (st.ws?.link) st.ws.lost('the app failed');
        else {
          if (!st.sink.headSent) st.req.status = 502;
          if (!st.aborted) st.sink.fail(502, buf.toString('utf8', start, end));
        }
        this.finish(st, 'worker-error');
        break;
      case Frame.RESP_CREDIT:
        st.sendWindow += buf.readUInt32LE(start);
        if (st.ws) st.ws.windowOpened();
        else if (st.bodyPaused && st.sendWindow > 0 && !st.bodyEnded) {
          st.bodyPaused = false;
          st.req.body?.resume();
        }
        break;
      case Frame.RESP_WS_MESSAGE:
        st.ws?.fromWorker(buf, start, end, this.reader.stable);
        break;
      case Frame.RESP_WS_CLOSE:
        if (end - start >= 2)
          st.ws?.closeFromWorker(buf.readUInt16LE(start), buf.toString('utf8', start + 2, end));
        break;
    }
  }

  private onHead(st: Stream, buf: Buffer, start: number, end: number): void {
    if (st.aborted) return;
    const status = buf.readUInt16LE(start);
    const rlen = buf.readUInt16LE(start + 2);
    const reason = rlen > 0 ? buf.toString('latin1', start + 4, start + 4 + rlen) : (REASONS[status] ?? '');
    const headers = decodePairs(buf, start + 4 + rlen, end);
    const known = knownBodyLength(buf, end, this.reader.limit, st.id);
    st.req.status = status;
    st.req.headerCount = headers.length / 2;
    // As HTTP/1.1 text (uWSGI's `hsize`): `HTTP/1.1 200 OK\r\n`, `Name: value\r\n` each, `\r\n`.
    st.req.headerBytes = 17 + reason.length + (end - start - 4 - rlen);
    try {
      st.sink.head(status, reason, headers, known);
    } catch (err) {
      st.sink.fail(502, `invalid response head from worker: ${(err as Error).message}`);
      this.abortStream(st, AbortReason.CLIENT_GONE);
    }
  }

  /** `HEAD 101` on a WebSocket stream: the app accepted; complete the handshake at the edge. */
  private onAccept(st: Stream, ws: WebSocketStream, buf: Buffer, start: number, end: number): void {
    if (st.aborted) return;
    const rlen = buf.readUInt16LE(start + 2);
    const headers = decodePairs(buf, start + 4 + rlen, end);
    st.req.headerBytes = end - start;
    try {
      if (!ws.accept(headers)) this.abortStream(st, AbortReason.CLIENT_GONE);
    } catch (err) {
      st.req.status = 502;
      st.sink.fail(502, `invalid WebSocket accept from worker: ${(err as Error).message}`);
      this.abortStream(st, AbortReason.CLIENT_GONE);
    }
  }

  private onData(st: Stream, chunk: Buffer): void {
    if (st.aborted) return;
    // Sinks may queue the chunk: copy it when it lives in the reader's reusable buffer.
    const ok = st.sink.write(this.reader.stable ? chunk : Buffer.from(chunk));
    st.req.bytesOut += chunk.length;
    st.unacked += chunk.length;
    if (!ok) {
      if (!st.blocked) {
        st.blocked = true;
        st.sink.onDrain(() => {
          st.blocked = false;
          this.credit(st);
        });
      }
      return;
    }
    if (!st.blocked && st.unacked >= INITIAL_WINDOW / 2) this.credit(st);
  }

  private credit(st: Stream): void {
    if (st.finished || st.unacked === 0 || this.socket.destroyed) return;
    this.socket.write(encodeCredit(Frame.CREDIT, st.id, st.unacked));
    st.unacked = 0;
  }
}

/**
 * If the frames after a HEAD in the same read are this stream's DATA frames ending with its END, the
 * whole body length is known; returns it in bytes, else -1.
 */
function knownBodyLength(buf: Buffer, headEnd: number, limit: number, id: number): number {
  let o = headEnd;
  let total = 0;
  while (o + FRAME_HEADER_BYTES <= limit) {
    const type = buf[o]!;
    if (buf.readUInt32LE(o + 1) !== id) return -1;
    const size = buf.readUInt32LE(o + 5);
    if (type === Frame.END) return total;
    if (type !== Frame.RESP_DATA) return -1;
    total += size;
    o += FRAME_HEADER_BYTES + size;
  }
  return -1;
}
