import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { RequestError, type TsgiError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { ConnectionEdge, type EdgeConnection } from '../../core/net/connection-edge.js';
import type { ListenerInfo, ListenSpec, RequestHandler } from '../../core/plugin/types.js';
import { completeEdgeVars, connectionVars, parseContentLength } from '../../core/request/cgi.js';
import { PushedBody } from '../../core/request/pushed-body.js';
import { TsgiRequest } from '../../core/request/request.js';
import { sendError } from '../../core/request/sink.js';
import { type UwsgiRequestHead, UwsgiRequestParser } from './parser.js';
import { RawHttpSink } from './sink.js';

/** Settings of the uwsgi edge. */
export interface UwsgiEdgeSettings {
  readonly listeners: ListenSpec[];
  /** Largest vars block accepted (`buffer-size`), bytes. */
  readonly bufferSizeBytes: number;
  /** Largest body accepted (`limit-post`), bytes; 0 = no limit. */
  readonly limitPostBytes: number;
  /** How long a connection may take to send its head, and may stall while sending its body (`socket-timeout`), ms. */
  readonly socketTimeoutMs: number;
}

/**
 * modifier1 values served as a request to the instance's app: 0 (WSGI, nginx's default), 30 (WSGI
 * with SCRIPT_NAME stripped from PATH_INFO) and the language handlers an nginx config written for
 * uWSGI may name (5 PSGI, 6 Lua, 7 Rack, 8 JVM, 9 CGI, 11 Go, 14 PHP, 15 Mono).
 */
const APP_MODIFIERS = new Set([0, 5, 6, 7, 8, 9, 11, 14, 15, 30]);
/** modifier1 of a uwsgi ping (uWSGI's ping plugin); the answer is a header with modifier2 1. */
const MODIFIER_PING = 100;
/** modifier1 30: PATH_INFO loses the SCRIPT_NAME prefix (uWSGI's UWSGI_MODIFIER_MANAGE_PATH_INFO). */
const MODIFIER_MANAGE_PATH_INFO = 30;

const SERVER_NAME = hostname();

/** One line users can act on, sent to an HTTP client that reached a uwsgi socket. */
export const HTTP_ON_UWSGI_HINT =
  'this is a uwsgi protocol socket (for nginx uwsgi_pass); HTTP clients need an http-socket';

/**
 * The server side of the uwsgi protocol (`socket`, `uwsgi-socket`): one request per connection,
 * vars → {@link TsgiRequest}, body of `CONTENT_LENGTH` bytes streamed with backpressure, response as
 * raw HTTP, then the connection closes. Bad packets are logged with uWSGI's messages and cost only
 * their own connection.
 */
export class UwsgiEdge extends ConnectionEdge<UwsgiConnection> {
  constructor(
    private readonly settings: UwsgiEdgeSettings,
    log: Logger,
  ) {
    super(settings.listeners, log, 'uwsgi');
  }

  protected connection(socket: Socket, listener: ListenerInfo, handle: RequestHandler): UwsgiConnection {
    return new UwsgiConnection(this, this.settings, socket, listener, handle);
  }
}

/** One accepted uwsgi connection: head, body, response, close. */
class UwsgiConnection implements EdgeConnection {
  private parser: UwsgiRequestParser | null;
  private body: PushedBody | null = null;
  private bodyLeft = 0;
  private sink: RawHttpSink | null = null;

  constructor(
    private readonly edge: UwsgiEdge,
    private readonly settings: UwsgiEdgeSettings,
    readonly socket: Socket,
    private readonly listener: ListenerInfo,
    private readonly handle: RequestHandler,
  ) {
    this.parser = new UwsgiRequestParser(settings.bufferSizeBytes);
    socket.setTimeout(settings.socketTimeoutMs);
    socket.on('timeout', () => this.onTimeout());
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {});
    socket.on('close', () => this.onClose());
  }

  /** Graceful stop: a connection that has not sent a complete head yet is closed; others end with their response. */
  closeWhenIdle(): void {
    if (this.parser) this.socket.destroy();
  }

  private get peer(): string {
    return this.listener.unix
      ? this.listener.bound
      : `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }

  private onData(chunk: Buffer): void {
    if (this.parser) {
      let parsed: ReturnType<UwsgiRequestParser['push']>;
      try {
        parsed = this.parser.push(chunk);
      } catch (err) {
        this.badPacket(err as TsgiError);
        return;
      }
      if (!parsed) return;
      this.parser = null;
      this.onHead(parsed.head, parsed.rest);
      return;
    }
    if (this.body) this.feedBody(chunk);
  }

  private badPacket(err: TsgiError): void {
    this.parser = null;
    if (err.code === 'TSGI_ERR_UWSGI_HTTP') {
      this.edge.log.warn(`uwsgi: ${err.message} from ${this.peer}: ${HTTP_ON_UWSGI_HINT}`);
      const sink = new RawHttpSink(this.socket, 'HTTP/1.1', false);
      sendError(sink, 400, HTTP_ON_UWSGI_HINT);
      return;
    }
    this.edge.log.info(err.message);
    this.socket.destroy();
  }

  private onHead(head: UwsgiRequestHead, rest: Buffer): void {
    if (head.modifier1 === MODIFIER_PING) {
      this.socket.end(Buffer.from([MODIFIER_PING, 0, 0, 1]));
      return;
    }
    if (!APP_MODIFIERS.has(head.modifier1)) {
      this.edge.log.info(`-- unavailable modifier requested: ${head.modifier1} --`);
      this.socket.destroy();
      return;
    }
    const vars = head.vars;
    const dropped = completeEdgeVars(vars, () =>
      connectionVars(this.socket.remoteAddress, this.socket.remotePort, SERVER_NAME, this.listener.port),
    );
    if (dropped.length) this.edge.warnIgnored(dropped, this.peer);
    if (head.modifier1 === MODIFIER_MANAGE_PATH_INFO) stripScriptName(vars);
    const sink = new RawHttpSink(
      this.socket,
      vars.get('SERVER_PROTOCOL')!,
      vars.get('REQUEST_METHOD') === 'HEAD',
    );
    this.sink = sink;
    let length: number;
    try {
      length = Math.max(parseContentLength(vars.get('CONTENT_LENGTH')), 0);
    } catch (err) {
      sendError(sink, 400, (err as Error).message);
      return;
    }
    const limit = this.settings.limitPostBytes;
    if (limit > 0 && length > limit) {
      sendError(sink, 413, `request body of ${length} bytes exceeds limit-post (${limit} bytes)`);
      return;
    }
    if (length > 0) {
      this.bodyLeft = length;
      this.body = new PushedBody((reading) => this.flow(reading));
    } else this.socket.setTimeout(0);
    // Body bytes that came with the head are queued first, so that the worker gets them in the
    // same write as the request when the whole body is already here.
    if (this.body && rest.length > 0) this.feedBody(rest);
    this.handle(new TsgiRequest(vars, this.body, length, 'uwsgi'), sink);
  }

  private feedBody(chunk: Buffer): void {
    const body = this.body!;
    if (this.bodyLeft <= 0) return;
    const part = chunk.length > this.bodyLeft ? chunk.subarray(0, this.bodyLeft) : chunk;
    this.bodyLeft -= part.length;
    body.push(part);
    if (this.bodyLeft === 0) {
      this.socket.setTimeout(0);
      body.end();
    }
  }

  /** The body wants the socket paused (queue full, worker window closed) or read again. */
  private flow(reading: boolean): void {
    if (reading) {
      this.socket.resume();
      if (this.bodyLeft > 0) this.socket.setTimeout(this.settings.socketTimeoutMs);
    } else {
      this.socket.pause();
      this.socket.setTimeout(0);
    }
  }

  private onTimeout(): void {
    if (this.body && this.bodyLeft > 0)
      this.body.fail(
        new RequestError(
          'TSGI_ERR_UWSGI_BODY_TIMEOUT',
          408,
          `no request body bytes for ${this.settings.socketTimeoutMs} ms`,
        ),
      );
    this.socket.destroy();
  }

  /**
   * The client ended its side (listeners allow half-open connections): before a whole request that
   * is the end of this connection; after one, the response still goes out, then tsgi ends its side.
   */
  private onEnd(): void {
    if (this.parser) {
      this.socket.destroy();
      return;
    }
    if (this.body && this.bodyLeft > 0) {
      this.bodyLeft = 0;
      this.body.fail(new RequestError('TSGI_ERR_UWSGI_CLIENT_GONE', 400, 'client closed the request body'));
    }
  }

  private onClose(): void {
    if (this.body && this.bodyLeft > 0)
      this.body.fail(new RequestError('TSGI_ERR_UWSGI_CLIENT_GONE', 400, 'client closed the request body'));
    this.sink?.closed();
  }
}

/** modifier1 30: remove the SCRIPT_NAME prefix from PATH_INFO (uWSGI's python plugin does it). */
function stripScriptName(vars: Map<string, string>): void {
  const script = vars.get('SCRIPT_NAME') ?? '';
  const path = vars.get('PATH_INFO') ?? '';
  if (script && path.startsWith(script)) vars.set('PATH_INFO', path.slice(script.length));
}
