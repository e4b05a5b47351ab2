import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketHandshake } from './websocket.js';

/**
 * Where a response goes: the edge protocol's side of a request. Calls come in order
 * `head` → `write`* → `end`, or `fail` at any point (undici's ordered-handler contract); an edge may
 * throw on a call out of order.
 *
 * Headers are a flat list `[name, value, name, value, ...]` of latin-1 strings, repeated names kept
 * (`Set-Cookie`), in the order the app gave them.
 */
export interface ResponseSink {
  /**
   * Send the status line and headers. `bodyLength` is the total body size in bytes when the caller
   * already knows it (the whole response arrived at once), else -1; the edge may use it to add a
   * Content-Length the app did not give.
   */
  head(status: number, reason: string, headers: string[], bodyLength: number): void;
  /** Body bytes. Returns false when the client's buffer is full: wait for `onDrain` before more. */
  write(chunk: Buffer): boolean;
  /** The response is complete. */
  end(): void;
  /**
   * The response cannot be completed. Before the head: the client gets an error response with
   * `status` and a short text. After the head: the connection is reset (the client sees a truncated
   * response, never a wrong one).
   */
  fail(status: number, detail: string): void;
  /** Whether `head` was called. */
  readonly headSent: boolean;
  /** Register the callback for the next time the client can take more after `write` returned false. */
  onDrain(cb: () => void): void;
  /** Register the callback for the client going away before `end`; called at most once. */
  onAbort(cb: () => void): void;
  /**
   * Present when the request asked to switch protocols (HTTP/1.1 `Upgrade`, RFC 9110 §7.8, e.g. a
   * WebSocket handshake) and the edge can hand its connection over: take the client connection and
   * the bytes already read after the request head. The sink must not be used afterwards. Null when
   * a head was already sent or the connection was taken.
   */
  takeover?(): { readonly socket: Duplex; readonly head: Buffer } | null;
  /**
   * Present when the request is a WebSocket handshake the edge validated (RFC 6455 §4.2.1) and can
   * complete itself (core/request/websocket.ts): whoever serves the request may accept it instead of
   * answering with `head`; any other answer is a plain HTTP response that refuses the upgrade.
   */
  readonly websocket?: WebSocketHandshake;
}

/**
 * Reason phrases: node's table (RFC 9110 and the IANA registry), with tsgi's wording for the
 * statuses it generates itself. Used wherever an app or a script gave a status without a phrase
 * (PHP's `Status: 418`, a PSGI status number).
 */
export const REASONS: Readonly<Record<number, string>> = {
  ...(STATUS_CODES as Record<number, string>),
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  413: 'Content Too Large',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Answer a request with a short plain-text error page (tsgi-generated responses). */
export function sendError(sink: ResponseSink, status: number, detail?: string): void {
  if (sink.headSent) {
    sink.fail(status, detail ?? '');
    return;
  }
  const reason = REASONS[status] ?? 'Error';
  const body = Buffer.from(`${status} ${reason}${detail ? `: ${detail}` : ''}\n`, 'latin1');
  sink.head(
    status,
    reason,
    ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(body.length)],
    body.length,
  );
  sink.write(body);
  sink.end();
}
