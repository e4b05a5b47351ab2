import { openSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Logger, LogSink } from '../../core/log/logger.js';
import type { RequestHandler } from '../../core/plugin/types.js';
import { HttpEdge } from '../../plugins/http/server.js';

/**
 * An HTTP front end inside the test process: tsgi's own HTTP edge (node:http) accepting on an
 * ephemeral port and handing every request to `handle`. Client tests put an upstream client behind
 * it (`handle = (req, sink) => client.forward(req, sink, upstream)`) and talk to it with real HTTP
 * clients, so requests and responses stream through the same sinks as in a running instance.
 */
export interface Front {
  readonly url: string;
  /** The log the front's plugins write to (a temp file). */
  readonly log: Logger;
  logText(): string;
  close(): Promise<void>;
}

/** Start a front on 127.0.0.1:0; its log goes to `dir/front.log`. */
export function startFront(dir: string, handle: RequestHandler): Promise<Front> {
  const logPath = join(dir, 'front.log');
  const log = new Logger(new LogSink(openSync(logPath, 'a'), undefined, true));
  const edge = new HttpEdge(
    {
      listeners: [],
      noKeepAlive: new Set(),
      maxHeaderBytes: 256 * 1024,
      limitPostBytes: 0,
      timeoutMs: 30_000,
      keepAliveMs: 5000,
    },
    log,
  );
  return new Promise((resolve) => {
    const server: Server = createServer((sock) => {
      const a = server.address() as { port: number };
      edge.accept(
        sock,
        {
          proto: 'http',
          address: '127.0.0.1:0',
          bound: `127.0.0.1:${a.port}`,
          port: a.port,
          host: '127.0.0.1',
          unix: false,
        },
        handle,
      );
    });
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        url: `http://127.0.0.1:${port}`,
        log,
        logText: () => {
          log.sink.flush(true);
          return readFileSync(logPath, 'utf8');
        },
        close: () =>
          new Promise((r) => {
            edge.destroyAll();
            server.close(() => {
              log.sink.close();
              r();
            });
          }),
      });
    });
  });
}
