import client from 'prom-client';
import { registry } from './registry.js';

/**
 * WebSocket counts of this instance, kept as plain numbers on the message path (the HTTP edge bumps
 * them) and read by the metrics below only when scraped. `in` is client → app, `out` app → client;
 * bytes are message payload bytes (RFC 6455 frame headers not counted).
 */
export const websocketTally = {
  /** Connections accepted and not yet closed. */
  open: 0,
  /** Connections accepted since start. */
  opened: 0,
  messagesIn: 0,
  messagesOut: 0,
  bytesIn: 0,
  bytesOut: 0,
};

let defined = false;

/**
 * Register the WebSocket metrics in the instance registry (`core/metrics/registry.ts`), once per
 * process; called when an HTTP edge is created, so only processes that serve HTTP show them:
 * - `tsgi_websocket_connections` (gauge): open now;
 * - `tsgi_websocket_connections_total` (counter): accepted since start;
 * - `tsgi_websocket_messages_total{direction="in"|"out"}` (counter): whole messages;
 * - `tsgi_websocket_bytes_total{direction="in"|"out"}` (counter): message payload bytes.
 * The emperor's view adds the vassal.
 */
export function defineWebSocketMetrics(): void {
  if (defined) return;
  defined = true;
  const t = websocketTally;
  const registers = [registry];
  new client.Gauge({
    name: 'tsgi_websocket_connections',
    help: 'WebSocket connections open now (accepted by the app, not yet closed)',
    registers,
    collect() {
      this.set(t.open);
    },
  });
  new client.Counter({
    name: 'tsgi_websocket_connections_total',
    help: 'WebSocket connections accepted since start',
    registers,
    collect() {
      this.reset();
      this.inc(t.opened);
    },
  });
  new client.Counter({
    name: 'tsgi_websocket_messages_total',
    help: 'WebSocket messages, by direction (in: client to app, out: app to client)',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, t.messagesIn);
      this.inc({ direction: 'out' }, t.messagesOut);
    },
  });
  new client.Counter({
    name: 'tsgi_websocket_bytes_total',
    help: 'WebSocket message payload bytes, by direction (in: client to app, out: app to client)',
    labelNames: ['direction'],
    registers,
    collect() {
      this.reset();
      this.inc({ direction: 'in' }, t.bytesIn);
      this.inc({ direction: 'out' }, t.bytesOut);
    },
  });
}
