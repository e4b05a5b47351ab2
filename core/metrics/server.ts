import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Logger } from '../log/logger.js';
import type { Master } from '../master/master.js';
import { runService } from '../net/service.js';
import { metricsOptions } from './options.js';
import { registry } from './registry.js';

async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('405 Method Not Allowed\n');
    return;
  }
  if (path !== '/metrics') {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('404 Not Found: metrics are at /metrics\n');
    return;
  }
  const body = await registry.metrics();
  res.writeHead(200, { 'Content-Type': registry.contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * Serve the instance's Prometheus metrics (text exposition format 0.0.4) at `GET /metrics` on the
 * `prometheus` address, for the life of the instance (rebound when a reload changes the address).
 * Returns a function that closes it.
 */
export function startMetricsServer(master: Master, log: Logger): () => void {
  const http = createServer({ keepAliveTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
    answer(req, res).catch((err: Error) => {
      log.error(`tsgi: metrics scrape failed: ${err.message}`);
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('500 Internal Server Error\n');
    });
  });
  http.on('clientError', (_err, socket) => socket.destroy());
  return runService(master, log, {
    name: 'prometheus',
    address(config) {
      const address = config.values(metricsOptions).prometheus;
      return address ? { address, origin: config.origin('prometheus') } : null;
    },
    onConnection: (socket) => http.emit('connection', socket),
    boundLine: (info) =>
      info.unix
        ? `tsgi: metrics on unix:${info.bound} (GET /metrics)`
        : `tsgi: metrics on http://${info.bound}/metrics`,
  });
}
