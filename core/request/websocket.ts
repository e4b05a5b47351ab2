/**
 * WebSockets (RFC 6455) as the request path sees them. The HTTP edge validates a handshake and
 * offers it on the request's sink ({@link ResponseSink.websocket}); whoever serves the request (the
 * worker channel) completes it with `accept` and then exchanges whole messages through the returned
 * {@link WebSocketLink}. Until `accept`, the sink is an ordinary sink: whatever else it is given (an
 * error page, a refusal, the app's own HTTP answer) goes out as a plain HTTP/1.1 response and the
 * connection closes after it. The frame codec itself (masking, fragmentation, ping/pong, close
 * handshake, size limit) is the edge's business (the `ws` package).
 */

/** Close codes tsgi sends or reports (RFC 6455 §7.4.1; 1012 from IANA's close code registry). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /** Reported when the client's close frame carried no code; never sent. */
  NO_STATUS: 1005,
  /** Reported when the connection ended without a close frame; never sent. */
  ABNORMAL: 1006,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
} as const;

/** A validated WebSocket handshake waiting for an answer. */
export interface WebSocketHandshake {
  /** The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order. */
  readonly subprotocols: readonly string[];
  /**
   * Complete the handshake: `101 Switching Protocols` with `subprotocol` (one of `subprotocols`, or
   * null) and the extra `headers` (flat `[name, value, ...]` latin-1 list; the handshake's own headers
   * are the edge's). Events then go to `events`. Returns null when the client is already gone.
   * @throws {Error} when a header name or value is not valid HTTP, or the subprotocol was not offered
   * (nothing is written then; the caller answers with an error instead).
   */
  accept(
    subprotocol: string | null,
    headers: readonly string[],
    events: WebSocketEvents,
  ): WebSocketLink | null;
}

/** What an accepted WebSocket tells whoever serves it. */
export interface WebSocketEvents {
  /**
   * One whole message from the client: fragments joined, size within the edge's limit, text already
   * checked to be UTF-8. The buffer may be kept.
   */
  onMessage(data: Buffer, binary: boolean): void;
  /**
   * The connection ended: the client's close code and reason (1005 when its close frame had no code,
   * 1006 when the connection was lost without one), or the code the edge closed it with (limits,
   * mercy). Called once; no message follows.
   */
  onClose(code: number, reason: string): void;
  /** The client took what was buffered after `send` returned false. */
  onDrain(): void;
}

/** The server's side of an accepted WebSocket. */
export interface WebSocketLink {
  /** Send one message. Returns false when the client is slow: wait for `onDrain` before more. */
  send(data: Buffer, binary: boolean): boolean;
  /**
   * Start the closing handshake with `code` (1000-1003, 1007-1014 or 3000-4999; anything else is
   * sent as 1011) and `reason` (cut to 123 bytes of UTF-8).
   */
  close(code: number, reason: string): void;
  /** Stop reading messages from the client (the server's window is full) until `resume`. */
  pause(): void;
  resume(): void;
  /**
   * The worker serving this connection is retiring (graceful reload, recycling, stop): the edge
   * closes the connection once its mercy (`websockets-reload-mercy`) is over, with 1001 when the
   * instance is stopping, else 1012 (the client may reconnect and reach a new worker).
   */
  retire(stopping: boolean): void;
}
