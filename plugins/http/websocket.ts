import { type IncomingMessage, validateHeaderName, validateHeaderValue } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { wsLib } from '../../core/deps.js';
import type { Logger } from '../../core/log/logger.js';
import { websocketTally } from '../../core/metrics/websocket.js';
import type { ResponseSink } from '../../core/request/sink.js';
import {
  CloseCode,
  type WebSocketEvents,
  type WebSocketHandshake,
  type WebSocketLink,
} from '../../core/request/websocket.js';
import type { UpgradeSink } from './upgrade.js';

/**
 * WebSockets at the HTTP edge: the handshake checks of RFC 6455 §4.2.1, the sink that offers a valid
 * handshake to whoever serves the request, and the connections once accepted. The codec (framing,
 * masking, fragmentation, ping/pong, the close handshake, the message size limit) is the `ws`
 * package's `WebSocketServer` in `noServer` mode; tsgi adds uWSGI's keepalive pings
 * (`websockets-ping-freq`, `websockets-pong-tolerance`), idle and lifetime limits, the reload mercy,
 * backpressure in both directions and the metrics.
 */

/** The edge's WebSocket limits, in bytes and ms (0 = no limit). */
export interface WebSocketSettings {
  /** Largest message accepted from a client (`websockets-max-size`); larger ones close with 1009. */
  readonly maxMessageBytes: number;
  /** A ping every this often (`websockets-ping-freq`); 0 = none. */
  readonly pingIntervalMs: number;
  /** Close a connection whose pong is this late (`websockets-pong-tolerance`). */
  readonly pongToleranceMs: number;
  /** Close a connection with no message either way for this long (`websockets-idle-timeout`). */
  readonly idleTimeoutMs: number;
  /** Close a connection open this long (`websockets-max-lifetime`). */
  readonly maxLifetimeMs: number;
  /** How long a connection stays open once its worker retires (`websockets-reload-mercy`). */
  readonly reloadMercyMs: number;
}

/** uWSGI's defaults (ping every 30 s, pong within 3 s, 1024 KiB messages) and tsgi's (no idle or lifetime limit, 30 s reload mercy). */
export const DEFAULT_WEBSOCKET_SETTINGS: WebSocketSettings = {
  maxMessageBytes: 1024 * 1024,
  pingIntervalMs: 30_000,
  pongToleranceMs: 3000,
  idleTimeoutMs: 0,
  maxLifetimeMs: 0,
  reloadMercyMs: 30_000,
};

/** Why a handshake is refused before it reaches the app, with the status and extra headers. */
export interface HandshakeRefusal {
  readonly status: number;
  readonly detail: string;
  readonly headers?: readonly string[];
}

const KEY = /^[+/0-9A-Za-z]{22}==$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Handshake headers the edge writes itself; an app's copy is dropped. */
const OWN_HEADERS = new Set([
  'upgrade',
  'connection',
  'sec-websocket-accept',
  'sec-websocket-protocol',
  'sec-websocket-extensions',
]);

/** Whether a request asks to switch to WebSocket (`Upgrade: websocket`, any case). */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const u = req.headers.upgrade;
  return u !== undefined && u.trim().toLowerCase() === 'websocket';
}

/**
 * The subprotocols a handshake offers (`Sec-WebSocket-Protocol`: comma-separated tokens, RFC 6455
 * §4.1), or null when the header is malformed.
 */
export function offeredSubprotocols(value: string | undefined): string[] | null {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const p = part.trim();
    if (!TOKEN.test(p) || out.includes(p)) return null;
    out.push(p);
  }
  return out;
}

/**
 * RFC 6455 §4.2.1's checks on an `Upgrade: websocket` request: HTTP/1.1 GET, `Connection: Upgrade`,
 * a 16-byte base64 `Sec-WebSocket-Key`, version 13 (else 426 naming it, §4.4), well-formed
 * subprotocols. Returns null when the handshake is acceptable.
 */
export function refuseHandshake(req: IncomingMessage): HandshakeRefusal | null {
  if (req.method !== 'GET') return { status: 400, detail: 'a WebSocket handshake must be a GET' };
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor < 1)
    return { status: 400, detail: 'a WebSocket handshake needs HTTP/1.1' };
  const conn = req.headers.connection ?? '';
  if (!conn.split(',').some((t) => t.trim().toLowerCase() === 'upgrade'))
    return { status: 400, detail: 'Connection: Upgrade is missing' };
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key))
    return { status: 400, detail: 'missing or invalid Sec-WebSocket-Key' };
  if (req.headers['sec-websocket-version'] !== '13')
    return {
      status: 426,
      detail: 'unsupported Sec-WebSocket-Version (13 is)',
      headers: ['Sec-WebSocket-Version', '13'],
    };
  if (offeredSubprotocols(req.headers['sec-websocket-protocol']) === null)
    return { status: 400, detail: 'malformed Sec-WebSocket-Protocol' };
  return null;
}

/** Answer a refused upgrade on its raw connection (then close it). */
export function refuseUpgrade(sink: UpgradeSink, r: HandshakeRefusal): void {
  if (!r.headers) {
    sink.fail(r.status, r.detail);
    return;
  }
  const body = Buffer.from(`${r.status} ${r.detail}\n`, 'latin1');
  sink.head(r.status, '', [...r.headers, 'Content-Type', 'text/plain; charset=utf-8'], body.length);
  sink.write(body);
  sink.end();
}

/** A close code the client may be sent (RFC 6455 §7.4.1-2), else 1011. */
function sendableCode(code: number): number {
  const ok =
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999);
  return ok ? code : CloseCode.INTERNAL_ERROR;
}

/**
 * The close code `ws` sends for a protocol error it found in a client's frames (RFC 6455 §7.4.1):
 * 1009 message too big, 1007 text that is not UTF-8, else 1002 protocol error.
 */
function errorCloseCode(err: Error): number {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return 1009;
  if (code === 'WS_ERR_INVALID_UTF8') return 1007;
  return 1002;
}

/** `reason` cut to the 123 bytes of UTF-8 a close frame can carry, on a character boundary. */
function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 123) break;
    out += ch;
  }
  return out;
}

const BINARY = { binary: true } as const;
const TEXT = { binary: false } as const;

/**
 * The WebSockets of one HTTP edge: the `ws` server that completes handshakes, the open connections,
 * and a once-a-second sweep for pings, pong timeouts, idle and lifetime limits and reload mercies
 * (one timer for all connections; it runs only while some are open).
 */
export class WebSocketHub {
  private server: WebSocketServer | null = null;
  private readonly links = new Set<Link>();
  private timer: NodeJS.Timeout | null = null;
  /** The subprotocol and extra headers of the handshake being completed (ws completes it synchronously). */
  private chosen: string | null = null;
  private extra: readonly string[] = [];

  constructor(
    readonly settings: WebSocketSettings,
    readonly log: Logger,
  ) {}

  /** The `ws` server, made at the first handshake (an edge that never sees one never loads `ws`). */
  private get wss(): WebSocketServer {
    if (this.server) return this.server;
    const wss = new (wsLib().WebSocketServer)({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      maxPayload: this.settings.maxMessageBytes,
      handleProtocols: () => this.chosen ?? false,
    });
    wss.on('headers', (lines: string[]) => {
      const x = this.extra;
      for (let i = 0; i < x.length; i += 2) lines.push(`${x[i]}: ${x[i + 1]}`);
    });
    this.server = wss;
    return wss;
  }

  /** The sink for a validated handshake: an ordinary raw-connection sink that can also accept. */
  sink(req: IncomingMessage, raw: UpgradeSink): ResponseSink {
    return new WebSocketSink(
      this,
      req,
      raw,
      offeredSubprotocols(req.headers['sec-websocket-protocol']) ?? [],
    );
  }

  /** Connections open now. */
  get size(): number {
    return this.links.size;
  }

  /** Drop every connection at once (immediate stop). */
  destroyAll(): void {
    for (const l of this.links) l.ws.terminate();
  }

  /** Complete a handshake (see {@link WebSocketHandshake.accept}). */
  accept(
    req: IncomingMessage,
    raw: UpgradeSink,
    offered: readonly string[],
    subprotocol: string | null,
    headers: readonly string[],
    events: WebSocketEvents,
  ): WebSocketLink | null {
    if (subprotocol !== null && !offered.includes(subprotocol))
      throw new Error(`the app chose subprotocol '${subprotocol}', which the client did not offer`);
    const extra: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      validateHeaderName(name);
      validateHeaderValue(name, value);
      if (!OWN_HEADERS.has(name.toLowerCase())) extra.push(name, value);
    }
    const taken = raw.takeover();
    if (!taken) return null;
    (taken.socket as Socket).setTimeout?.(0);
    let ws: WebSocket | null = null;
    this.chosen = subprotocol;
    this.extra = extra;
    try {
      this.wss.handleUpgrade(req, taken.socket, taken.head, (w) => {
        ws = w;
      });
    } finally {
      this.chosen = null;
      this.extra = [];
    }
    if (!ws) return null;
    const link = new Link(this, ws, taken.socket, events, `${req.method} ${req.url}`);
    this.links.add(link);
    websocketTally.open++;
    websocketTally.opened++;
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), 1000);
      this.timer.unref();
    }
    return link;
  }

  /** A connection ended. */
  forget(link: Link): void {
    if (!this.links.delete(link)) return;
    websocketTally.open--;
    if (this.links.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private sweep(): void {
    const now = Date.now();
    const s = this.settings;
    for (const l of this.links) {
      if (l.closing) continue;
      if (l.retireAt > 0 && now >= l.retireAt) l.close(l.retireCode, l.retireReason);
      else if (s.maxLifetimeMs > 0 && now - l.openedAt >= s.maxLifetimeMs)
        l.close(CloseCode.GOING_AWAY, 'connection lifetime limit');
      else if (s.idleTimeoutMs > 0 && now - l.activeAt >= s.idleTimeoutMs)
        l.close(CloseCode.GOING_AWAY, 'idle timeout');
      else if (s.pingIntervalMs > 0) {
        if (l.pingAt > 0) {
          if (now - l.pingAt > s.pongToleranceMs) {
            this.log.info(
              `tsgi: websocket ${l.label}: no pong within ${s.pongToleranceMs / 1000} s; dropping it`,
            );
            l.ws.terminate();
          }
        } else if (now - l.pongAt >= s.pingIntervalMs) {
          l.pingAt = now;
          l.ws.ping();
        }
      }
    }
  }
}

/**
 * The sink of a validated WebSocket handshake: the raw connection's plain-HTTP answers (refusals,
 * errors, an app's denial response), plus `websocket` to accept it.
 */
class WebSocketSink implements ResponseSink, WebSocketHandshake {
  private req: IncomingMessage | null;

  constructor(
    private readonly hub: WebSocketHub,
    req: IncomingMessage,
    private readonly raw: UpgradeSink,
    readonly subprotocols: readonly string[],
  ) {
    this.req = req;
  }

  get websocket(): WebSocketHandshake {
    return this;
  }

  get headSent(): boolean {
    return this.raw.headSent;
  }

  accept(
    subprotocol: string | null,
    headers: readonly string[],
    events: WebSocketEvents,
  ): WebSocketLink | null {
    const req = this.req;
    if (!req || this.raw.headSent) return null;
    const link = this.hub.accept(req, this.raw, this.subprotocols, subprotocol, headers, events);
    this.req = null;
    return link;
  }

  /**
   * Hand the raw connection over (the router passing the handshake through to an upstream, which
   * completes it itself); null once answered or accepted.
   */
  takeover(): { socket: Duplex; head: Buffer } | null {
    if (!this.req) return null;
    this.req = null;
    return this.raw.takeover();
  }

  /** A plain HTTP answer instead of the upgrade (its headers are checked: the raw sink writes them as given). */
  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    for (let i = 0; i < headers.length; i += 2) {
      validateHeaderName(headers[i]!);
      validateHeaderValue(headers[i]!, headers[i + 1]!);
    }
    this.req = null;
    this.raw.head(status, reason, headers, bodyLength);
  }

  write(chunk: Buffer): boolean {
    return this.raw.write(chunk);
  }

  end(): void {
    this.raw.end();
  }

  fail(status: number, detail: string): void {
    this.req = null;
    this.raw.fail(status, detail);
  }

  onDrain(cb: () => void): void {
    this.raw.onDrain(cb);
  }

  onAbort(cb: () => void): void {
    this.raw.onAbort(cb);
  }
}

/** One accepted connection: the `ws` socket, its events to whoever serves it, and its clocks. */
class Link implements WebSocketLink {
  /** Epoch ms: opened, last message either way, last pong (or open), ping in flight (0 = none). */
  readonly openedAt = Date.now();
  activeAt = this.openedAt;
  pongAt = this.openedAt;
  pingAt = 0;
  /** Epoch ms the reload mercy ends (0 = not retiring), and the code to close with then. */
  retireAt = 0;
  retireCode: number = CloseCode.SERVICE_RESTART;
  retireReason = '';
  closing = false;
  /** The code and reason the server closed with (reported to the app instead of the client's echo). */
  private closedWith: [number, string] | null = null;
  private waitingDrain = false;

  constructor(
    private readonly hub: WebSocketHub,
    readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly events: WebSocketEvents,
    readonly label: string,
  ) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (this.closing) return; // the server is closing it: nothing more goes to the app
      this.activeAt = Date.now();
      websocketTally.messagesIn++;
      websocketTally.bytesIn += data.length;
      events.onMessage(data, isBinary);
    });
    ws.on('pong', () => {
      this.pingAt = 0;
      this.pongAt = Date.now();
    });
    ws.on('error', (err: Error) => {
      this.closedWith ??= [errorCloseCode(err), err.message];
      hub.log.info(`tsgi: websocket ${label}: ${err.message}`);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      this.closing = true;
      hub.forget(this);
      const own = this.closedWith;
      events.onClose(own ? own[0] : code, own ? own[1] : reason.toString('utf8'));
    });
  }

  send(data: Buffer, binary: boolean): boolean {
    if (this.closing) return true;
    this.activeAt = Date.now();
    websocketTally.messagesOut++;
    websocketTally.bytesOut += data.length;
    this.ws.send(data, binary ? BINARY : TEXT);
    if (!this.socket.writableNeedDrain) return true;
    if (!this.waitingDrain) {
      this.waitingDrain = true;
      this.socket.once('drain', () => {
        this.waitingDrain = false;
        this.events.onDrain();
      });
    }
    return false;
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    const sent = sendableCode(code);
    const why = closeReason(reason);
    this.closedWith = [sent, why];
    this.ws.close(sent, why);
    // Read again (a paused socket would never see the client's close frame, or its leaving).
    this.ws.resume();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  retire(stopping: boolean): void {
    if (this.closing || this.retireAt > 0) return;
    this.retireCode = stopping ? CloseCode.GOING_AWAY : CloseCode.SERVICE_RESTART;
    this.retireReason = stopping ? 'the server is stopping' : 'the server is restarting';
    const mercy = this.hub.settings.reloadMercyMs;
    if (mercy === 0) this.close(this.retireCode, this.retireReason);
    else this.retireAt = Date.now() + mercy;
  }
}
