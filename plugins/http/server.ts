import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { RequestError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { defineWebSocketMetrics } from '../../core/metrics/websocket.js';
import type { EdgeProtocol, ListenerInfo, ListenSpec, RequestHandler } from '../../core/plugin/types.js';
import { TsgiRequest } from '../../core/request/request.js';
import { HttpSink, IncomingBody } from './sink.js';
import { UpgradeSink } from './upgrade.js';
import { refuse } from './validate.js';
import { buildVars, type ListenerVars } from './vars.js';
import {
  DEFAULT_WEBSOCKET_SETTINGS,
  isWebSocketUpgrade,
  refuseHandshake,
  refuseUpgrade,
  WebSocketHub,
  type WebSocketSettings,
} from './websocket.js';

/** Settings of the HTTP edge, in the units node:http takes. */
export interface HttpEdgeSettings {
  readonly listeners: ListenSpec[];
  /** Listen specs (by address) that close the connection after each response (`http =` without `http-keepalive`). */
  readonly noKeepAlive: ReadonlySet<string>;
  /** Largest request line plus headers, bytes (node's maxHeaderSize); over it: 431. */
  readonly maxHeaderBytes: number;
  /** Largest body, bytes (0 = no limit); over it: 413. */
  readonly limitPostBytes: number;
  /** Idle and header-read timeout, ms. */
  readonly timeoutMs: number;
  /** How long an idle keep-alive connection stays open, ms. */
  readonly keepAliveMs: number;
  /** WebSocket limits (`websockets-*` options); uWSGI's defaults when absent. */
  readonly websockets?: WebSocketSettings;
}

const SERVER_NAME = hostname();

const RAW_ERRORS: Record<number, string> = {
  400: 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\nConnection: close\r\n\r\n400 Bad Request\n',
  408: 'HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\n408 Request Timeout\n',
  431: 'HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large\n',
};

/**
 * The server side of HTTP/1.1 (RFC 9112) on node:http (llhttp): keep-alive, pipelining, chunked
 * bodies, `Expect: 100-continue`, limits and timeouts. The master accepts connections and injects
 * them here; each request becomes a {@link TsgiRequest} handed to the instance's handler.
 */
export class HttpEdge implements EdgeProtocol {
  private readonly server: Server;
  private readonly hub: WebSocketHub;
  private readonly sockets = new Set<Socket>();
  private readonly listenerVars = new WeakMap<Socket, ListenerVars & { keepAlive: boolean }>();
  private handle: RequestHandler | null = null;
  private draining = false;
  /** The request body and close flag of each response in progress (for parse errors mid-request). */
  private readonly inflight = new WeakMap<ServerResponse, { body: IncomingBody | null; close: boolean }>();

  constructor(
    private readonly settings: HttpEdgeSettings,
    private readonly log: Logger,
  ) {
    this.server = createServer(
      {
        maxHeaderSize: settings.maxHeaderBytes,
        requestTimeout: 0,
        requireHostHeader: false,
        headersTimeout: settings.timeoutMs,
        keepAliveTimeout: settings.keepAliveMs,
        noDelay: true,
      },
      (req, res) => this.onRequest(req, res),
    );
    this.server.timeout = settings.timeoutMs;
    // Answer a request whose client half-closed after sending it, then close (node's own switch).
    (this.server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    this.server.on('checkContinue', (req, res) => this.onCheckContinue(req, res));
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    );
    // A WSGI app cannot tunnel: CONNECT gets 405 (node:http would otherwise drop the connection).
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => {});
      socket.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    });
    // Upgrade requests: WebSocket handshakes are validated here and offered to whoever serves the
    // request (an ASGI worker accepts them); any other answer is plain HTTP on the raw connection.
    this.hub = new WebSocketHub(settings.websockets ?? DEFAULT_WEBSOCKET_SETTINGS, log);
    defineWebSocketMetrics();
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.onUpgrade(req, socket, head),
    );
    // Connections are injected (the master owns the listening sockets); 'listening' starts node's
    // header-timeout checks for them.
    this.server.emit('listening');
  }

  listeners(): ListenSpec[] {
    return this.settings.listeners;
  }

  accept(socket: Socket, listener: ListenerInfo, handle: RequestHandler): void {
    this.handle = handle;
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.listenerVars.set(socket, {
      serverName: SERVER_NAME,
      serverPort: String(listener.port),
      keepAlive: !this.settings.noKeepAlive.has(listener.address),
    });
    this.server.emit('connection', socket);
  }

  drain(): void {
    this.draining = true;
    this.server.closeIdleConnections();
  }

  openConnections(): number {
    return this.sockets.size;
  }

  destroyAll(): void {
    this.hub.destroyAll();
    for (const s of this.sockets) s.destroy();
    this.server.close();
  }

  private onCheckContinue(req: IncomingMessage, res: ServerResponse): void {
    const declared = Number(req.headers['content-length'] ?? -1);
    if (this.settings.limitPostBytes > 0 && declared > this.settings.limitPostBytes) {
      res.writeHead(413, 'Content Too Large', ['Content-Length', '0', 'Connection', 'close']);
      res.end();
      return;
    }
    res.writeContinue();
    this.onRequest(req, res);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const lv = this.listenerVars.get(req.socket);
    const handle = this.handle;
    if (!lv || !handle) {
      res.destroy();
      return;
    }
    const keepAlive = lv.keepAlive;
    const state: { body: IncomingBody | null; close: boolean } = { body: null, close: false };
    const sink = new HttpSink(res, () => this.draining || !keepAlive || state.close);
    const refusal = refuse(req);
    if (refusal) {
      sink.fail(refusal.status, refusal.detail);
      return;
    }
    const vars = buildVars(req, lv);
    const te = req.headers['transfer-encoding'];
    const cl = req.headers['content-length'];
    const contentLength = te !== undefined ? -1 : cl !== undefined ? Number(cl) : 0;
    if (this.settings.limitPostBytes > 0 && contentLength > this.settings.limitPostBytes) {
      sink.fail(
        413,
        `request body of ${contentLength} bytes exceeds limit-post (${this.settings.limitPostBytes} bytes)`,
      );
      return;
    }
    const body = contentLength !== 0 ? new IncomingBody(req, this.settings.limitPostBytes) : null;
    state.body = body;
    this.inflight.set(res, state);
    handle(new TsgiRequest(vars, body, contentLength, 'http'), sink);
  }

  /**
   * A request with `Upgrade` (node hands the raw connection over at once): a WebSocket handshake is
   * checked (RFC 6455 §4.2.1) and goes through the same handler with a sink that can accept it; any
   * other upgrade is served as a plain request without body, answered on the raw connection.
   */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const lv = this.listenerVars.get(req.socket);
    const handle = this.handle;
    const raw = new UpgradeSink(socket, head);
    if (!lv || !handle || this.draining) {
      raw.fail(503, 'the instance is stopping');
      return;
    }
    const ws = isWebSocketUpgrade(req);
    const refusal = refuse(req) ?? (ws ? refuseHandshake(req) : null);
    if (refusal) {
      refuseUpgrade(raw, refusal);
      return;
    }
    handle(new TsgiRequest(buildVars(req, lv), null, 0, 'http'), ws ? this.hub.sink(req, raw) : raw);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (!socket.writable || socket.destroyed) {
      socket.destroy();
      return;
    }
    let status = 400;
    if (err.code === 'HPE_HEADER_OVERFLOW') status = 431;
    else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') status = 408;
    else if (err.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    // A response is in progress on this connection (node tracks it): the parse error is in its body
    // or in a pipelined request after it. Fail the body (the worker's stream ends, the client gets 400
    // if no head was sent yet) and close the connection after the response.
    const res = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (res) {
      const st = this.inflight.get(res);
      if (!st) {
        socket.destroy();
        return;
      }
      st.close = true;
      if (st.body && !st.body.ended)
        st.body.fail(
          new RequestError(
            'TSGI_ERR_HTTP_MALFORMED',
            status,
            `malformed request (${err.code ?? err.message})`,
          ),
        );
      return;
    }
    if (status !== 408)
      this.log.info(`http: bad request from ${socket.remoteAddress ?? '?'}: ${err.code ?? err.message}`);
    socket.end(RAW_ERRORS[status] ?? RAW_ERRORS[400]!);
  }
}
