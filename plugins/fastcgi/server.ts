import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { RequestError, type TsgiError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { ConnectionEdge, type EdgeConnection } from '../../core/net/connection-edge.js';
import type { ListenerInfo, ListenSpec, RequestHandler } from '../../core/plugin/types.js';
import {
  addRequestVar,
  completeEdgeVars,
  connectionVars,
  parseContentLength,
} from '../../core/request/cgi.js';
import { PushedBody } from '../../core/request/pushed-body.js';
import { TsgiRequest } from '../../core/request/request.js';
import { sendError } from '../../core/request/sink.js';
import { decodePairs, encodePairs } from './pairs.js';
import { RecordReader } from './parser.js';
import {
  decodeBeginRequest,
  encodeEndRequest,
  encodeRecord,
  encodeUnknownType,
  FCGI_KEEP_CONN,
  FCGI_NULL_REQUEST_ID,
  ProtocolStatus,
  RecordType,
  Role,
} from './record.js';
import { FastcgiSink } from './sink.js';

/** Settings of the FastCGI edge. */
export interface FastcgiEdgeSettings {
  readonly listeners: ListenSpec[];
  /** Largest params block accepted, counted as a uwsgi vars block (`buffer-size`), bytes. */
  readonly bufferSizeBytes: number;
  /** Largest body accepted (`limit-post`), bytes; 0 = no limit. */
  readonly limitPostBytes: number;
  /** How long a connection may stall while a request's params or body are incomplete (`socket-timeout`), ms. */
  readonly socketTimeoutMs: number;
  /** Requests one connection may have in flight at once (FCGI_MAX_REQS); more get FCGI_OVERLOADED. */
  readonly maxRequestsPerConnection: number;
}

/** How long an idle keep-alive connection (FCGI_KEEP_CONN) stays open, ms (nginx's upstream keepalive_timeout). */
export const KEEPALIVE_IDLE_MS = 60_000;

const SERVER_NAME = hostname();

/**
 * The server side of FastCGI 1.0, responder role (`fastcgi-socket`, or `socket` with `protocol =
 * fastcgi`): BEGIN_REQUEST, PARAMS and STDIN become a {@link TsgiRequest}; the response goes back as
 * STDOUT records (a CGI head with `Status:`, then the body) and END_REQUEST (appStatus 0,
 * FCGI_REQUEST_COMPLETE). Honours FCGI_KEEP_CONN, serves several requests multiplexed on one
 * connection, answers GET_VALUES, treats ABORT_REQUEST as the client going away, and answers
 * unknown management records with UNKNOWN_TYPE.
 */
export class FastcgiEdge extends ConnectionEdge<FastcgiConnection> {
  constructor(
    readonly settings: FastcgiEdgeSettings,
    log: Logger,
  ) {
    super(settings.listeners, log, 'fastcgi');
  }

  protected connection(socket: Socket, listener: ListenerInfo, handle: RequestHandler): FastcgiConnection {
    return new FastcgiConnection(this, socket, listener, handle);
  }
}

/** One request on a FastCGI connection, from BEGIN_REQUEST to END_REQUEST. */
interface FcgiRequest {
  readonly id: number;
  readonly keepConn: boolean;
  params: Buffer[];
  paramsBytes: number;
  paramsDone: boolean;
  /** STDIN so far, queued until the request is dispatched and its body started. */
  readonly stdin: PushedBody;
  stdinBytes: number;
  stdinDone: boolean;
  /** Declared body length (-1 unknown); set at dispatch. */
  contentLength: number;
  sink: FastcgiSink | null;
  /** The request no longer reads STDIN (answered early, rejected); further STDIN is dropped. */
  ignoreStdin: boolean;
}

/** One accepted FastCGI connection. */
class FastcgiConnection implements EdgeConnection {
  private readonly reader: RecordReader;
  private readonly requests = new Map<number, FcgiRequest>();
  private readonly toDispatch: FcgiRequest[] = [];
  /** Bodies that asked the connection to stop reading. */
  private readonly holding = new Set<FcgiRequest>();
  private closing = false;
  private served = 0;

  constructor(
    private readonly edge: FastcgiEdge,
    readonly socket: Socket,
    private readonly listener: ListenerInfo,
    private readonly handle: RequestHandler,
  ) {
    this.reader = new RecordReader((t, id, b, s, e) => this.record(t, id, b, s, e));
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => socket.destroy());
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
    this.refreshTimeout();
  }

  /** Close now when no request is in flight, else after the last one (graceful stop). */
  closeWhenIdle(): void {
    this.closing = true;
    if (this.requests.size === 0) this.socket.end();
  }

  private get peer(): string {
    return this.listener.unix
      ? this.listener.bound
      : `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  private onData(chunk: Buffer): void {
    try {
      this.reader.push(chunk);
    } catch (err) {
      this.edge.log.info(`fastcgi: ${(err as TsgiError).message} from ${this.peer}; closing the connection`);
      this.socket.destroy();
      return;
    }
    while (this.toDispatch.length > 0) this.dispatch(this.toDispatch.shift()!);
    this.refreshTimeout();
  }

  private record(type: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === FCGI_NULL_REQUEST_ID) {
      this.management(type, buf, start, end);
      return;
    }
    if (type === RecordType.BEGIN_REQUEST) {
      this.begin(id, buf, start, end);
      return;
    }
    const r = this.requests.get(id);
    if (!r) return;
    if (type === RecordType.PARAMS) this.params(r, buf, start, end);
    else if (type === RecordType.STDIN)
      this.stdin(r, this.reader.stable ? buf.subarray(start, end) : Buffer.from(buf.subarray(start, end)));
    else if (type === RecordType.ABORT_REQUEST) this.abort(r);
  }

  private management(type: number, buf: Buffer, start: number, end: number): void {
    if (type !== RecordType.GET_VALUES) {
      this.socket.write(encodeUnknownType(type));
      return;
    }
    let names: string[];
    try {
      names = decodePairs(buf, start, end).filter((_, i) => i % 2 === 0);
    } catch {
      names = [];
    }
    const max = String(this.edge.settings.maxRequestsPerConnection);
    const known: Record<string, string> = { FCGI_MAX_CONNS: max, FCGI_MAX_REQS: max, FCGI_MPXS_CONNS: '1' };
    const answer = names.filter((n) => n in known).map((n) => [n, known[n]!] as const);
    this.socket.write(encodeRecord(RecordType.GET_VALUES_RESULT, FCGI_NULL_REQUEST_ID, encodePairs(answer)));
  }

  private begin(id: number, buf: Buffer, start: number, end: number): void {
    if (this.requests.has(id)) return;
    const { role, flags } = decodeBeginRequest(buf, start, end);
    const keepConn = (flags & FCGI_KEEP_CONN) !== 0 && !this.edge.draining;
    if (!keepConn) this.closing = true;
    if (role !== Role.RESPONDER) {
      this.endRequest(id, ProtocolStatus.UNKNOWN_ROLE);
      return;
    }
    if (this.requests.size >= this.edge.settings.maxRequestsPerConnection) {
      this.endRequest(id, ProtocolStatus.OVERLOADED);
      return;
    }
    const r: FcgiRequest = {
      id,
      keepConn,
      params: [],
      paramsBytes: 0,
      paramsDone: false,
      stdin: new PushedBody((reading) => this.flow(r, reading)),
      stdinBytes: 0,
      stdinDone: false,
      contentLength: -1,
      sink: null,
      ignoreStdin: false,
    };
    this.requests.set(id, r);
  }

  private params(r: FcgiRequest, buf: Buffer, start: number, end: number): void {
    if (r.paramsDone) return;
    if (end === start) {
      r.paramsDone = true;
      this.toDispatch.push(r);
      return;
    }
    r.paramsBytes += end - start;
    // The raw pairs take at most twice their size as a uwsgi vars block; refuse early past that.
    if (r.paramsBytes > 2 * this.edge.settings.bufferSizeBytes) {
      r.paramsDone = true;
      this.reject(
        r,
        431,
        `request params larger than buffer-size (${this.edge.settings.bufferSizeBytes} bytes)`,
      );
      return;
    }
    r.params.push(Buffer.from(buf.subarray(start, end)));
  }

  private stdin(r: FcgiRequest, data: Buffer): void {
    if (r.stdinDone) return;
    if (data.length === 0) {
      r.stdinDone = true;
      if (!r.ignoreStdin && r.contentLength > 0 && r.stdinBytes < r.contentLength)
        r.stdin.fail(
          new RequestError('TSGI_ERR_FASTCGI_BODY', 400, 'request body shorter than its CONTENT_LENGTH'),
        );
      r.stdin.end();
      return;
    }
    if (r.ignoreStdin) return;
    r.stdinBytes += data.length;
    const limit = this.edge.settings.limitPostBytes;
    if (r.contentLength >= 0 && r.paramsDone && r.stdinBytes > r.contentLength) {
      r.ignoreStdin = true;
      r.stdin.fail(
        new RequestError('TSGI_ERR_FASTCGI_BODY', 400, 'request body longer than its CONTENT_LENGTH'),
      );
      return;
    }
    if (limit > 0 && r.stdinBytes > limit) {
      r.ignoreStdin = true;
      r.stdin.fail(
        new RequestError(
          'TSGI_ERR_FASTCGI_BODY_TOO_LARGE',
          413,
          `request body exceeds limit-post (${limit} bytes)`,
        ),
      );
      return;
    }
    r.stdin.push(data);
  }

  /** PARAMS is complete: build the request and hand it to the instance. */
  private dispatch(r: FcgiRequest): void {
    if (this.requests.get(r.id) !== r || r.sink) return;
    let vars: Map<string, string>;
    try {
      vars = this.decodeVars(r);
    } catch (err) {
      this.reject(r, (err as RequestError).statusCode ?? 400, (err as Error).message);
      return;
    }
    const declared = parseContentLength(vars.get('CONTENT_LENGTH'));
    const sink = new FastcgiSink(this.socket, r.id, vars.get('REQUEST_METHOD') === 'HEAD', () =>
      this.finished(r),
    );
    r.sink = sink;
    const limit = this.edge.settings.limitPostBytes;
    if (limit > 0 && declared > limit) {
      r.ignoreStdin = true;
      sendError(sink, 413, `request body of ${declared} bytes exceeds limit-post (${limit} bytes)`);
      return;
    }
    const empty = declared === 0 || (r.stdinDone && r.stdinBytes === 0);
    r.contentLength = empty ? 0 : declared;
    if (empty) r.ignoreStdin = true;
    else if (declared >= 0 && (r.stdinBytes > declared || (r.stdinDone && r.stdinBytes < declared))) {
      r.ignoreStdin = true;
      sendError(sink, 400, `request body of ${r.stdinBytes} bytes does not match its CONTENT_LENGTH`);
      return;
    }
    this.handle(new TsgiRequest(vars, empty ? null : r.stdin, r.contentLength, 'fastcgi'), sink);
  }

  private decodeVars(r: FcgiRequest): Map<string, string> {
    const raw = r.params.length === 1 ? r.params[0]! : Buffer.concat(r.params);
    r.params = [];
    let pairs: string[];
    try {
      pairs = decodePairs(raw);
    } catch (err) {
      throw new RequestError('TSGI_ERR_FASTCGI_PARAMS', 400, (err as Error).message);
    }
    const vars = new Map<string, string>();
    let size = 0;
    for (let i = 0; i < pairs.length; i += 2) {
      size += 4 + pairs[i]!.length + pairs[i + 1]!.length;
      addRequestVar(vars, pairs[i]!, pairs[i + 1]!);
    }
    if (size > this.edge.settings.bufferSizeBytes)
      throw new RequestError(
        'TSGI_ERR_FASTCGI_PARAMS_TOO_BIG',
        431,
        `invalid request block size: ${size} (max ${this.edge.settings.bufferSizeBytes})`,
      );
    const dropped = completeEdgeVars(vars, () =>
      connectionVars(this.socket.remoteAddress, this.socket.remotePort, SERVER_NAME, this.listener.port),
    );
    if (dropped.length) this.edge.warnIgnored(dropped, this.peer);
    return vars;
  }

  /** Answer a request tsgi will not serve (bad or oversized params) with an error page. */
  private reject(r: FcgiRequest, status: number, detail: string): void {
    this.edge.log.info(`fastcgi: ${detail} from ${this.peer}`);
    r.ignoreStdin = true;
    const sink = new FastcgiSink(this.socket, r.id, false, () => this.finished(r));
    r.sink = sink;
    sendError(sink, status, detail);
  }

  private abort(r: FcgiRequest): void {
    r.ignoreStdin = true;
    if (!r.stdinDone)
      r.stdin.fail(new RequestError('TSGI_ERR_FASTCGI_ABORTED', 400, 'request aborted by the client'));
    if (r.sink) r.sink.abort();
    else this.endRequest(r.id, ProtocolStatus.REQUEST_COMPLETE);
    this.forget(r);
  }

  /** The sink sent END_REQUEST: the request is over on this connection. */
  private finished(r: FcgiRequest): void {
    this.forget(r);
    this.served++;
  }

  private forget(r: FcgiRequest): void {
    if (this.requests.get(r.id) !== r) return;
    this.requests.delete(r.id);
    this.holding.delete(r);
    if (this.holding.size === 0) this.socket.resume();
    if (this.closing && this.requests.size === 0) this.socket.end();
    this.refreshTimeout();
  }

  private endRequest(id: number, protocolStatus: number): void {
    this.socket.write(encodeEndRequest(id, 0, protocolStatus));
    if (this.closing && this.requests.size === 0) this.socket.end();
  }

  /** A body's flow control: the connection reads while no body holds it back. */
  private flow(r: FcgiRequest, reading: boolean): void {
    if (reading) {
      this.holding.delete(r);
      if (this.holding.size === 0) this.socket.resume();
    } else {
      this.holding.add(r);
      this.socket.pause();
    }
    this.refreshTimeout();
  }

  /**
   * Inactivity timeout: `socket-timeout` while a request's params or body are still coming and no
   * body holds the connection back; the keep-alive idle time between requests; none while requests
   * are being answered.
   */
  private refreshTimeout(): void {
    if (this.socket.destroyed) return;
    let ms = 0;
    if (this.requests.size === 0)
      ms = this.served === 0 ? this.edge.settings.socketTimeoutMs : KEEPALIVE_IDLE_MS;
    else if (this.holding.size === 0)
      for (const r of this.requests.values())
        if (!r.paramsDone || (!r.stdinDone && !r.ignoreStdin)) ms = this.edge.settings.socketTimeoutMs;
    this.socket.setTimeout(ms);
  }

  /**
   * The web server ended its side (listeners allow half-open connections): requests still being
   * received are dropped, those being answered finish, then tsgi ends its side.
   */
  private onEnd(): void {
    this.closing = true;
    for (const r of [...this.requests.values()]) {
      if (!r.sink) {
        r.stdin.fail(new RequestError('TSGI_ERR_FASTCGI_CLIENT_GONE', 400, 'connection closed'));
        this.forget(r);
      } else if (!r.stdinDone) {
        r.stdinDone = true;
        r.stdin.fail(new RequestError('TSGI_ERR_FASTCGI_CLIENT_GONE', 400, 'connection closed mid-body'));
      }
    }
    if (this.requests.size === 0) this.socket.end();
  }

  private onClose(): void {
    for (const r of this.requests.values()) {
      if (!r.stdinDone)
        r.stdin.fail(new RequestError('TSGI_ERR_FASTCGI_CLIENT_GONE', 400, 'connection closed'));
      r.sink?.closed();
    }
    this.requests.clear();
  }
}
