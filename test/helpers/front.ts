import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { Logger, LogSink } from '../../core/log/logger.js';
import type { RequestHandler } from '../../core/plugin/types.js';
import { HttpEdge } from '../../plugins/http/server.js';
import { waitFor } from './tsgi.js';

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
  const log = new Logger(LogSink.open(logPath));
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

/**
 * The backpressure check for upstream clients: GET `url` (a front whose upstream writes a
 * `total`-byte body as fast as its socket takes it, counting in `written()`), stop reading, and
 * check that the upstream is held back (no progress for a second, far from the end of the body),
 * then read the whole body.
 */
export async function assertHeldBack(url: string, total: number, written: () => number): Promise<void> {
  const { port } = new URL(url);
  const sock = connect(Number(port), '127.0.0.1');
  let received = 0;
  sock.on('data', (d: Buffer) => {
    received += d.length;
  });
  try {
    sock.write('GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await waitFor(() => received > 0, 5000, 'first bytes');
    sock.pause();
    await new Promise((r) => setTimeout(r, 1000));
    const plateau = written();
    await new Promise((r) => setTimeout(r, 1000));
    // Only socket buffers hold data now: the upstream is blocked, far from the end of the body.
    assert.equal(written(), plateau, 'the upstream made no progress while the client did not read');
    assert.ok(written() - received < total / 2, `upstream wrote ${written()} bytes, client read ${received}`);
    sock.resume();
    await waitFor(() => received >= total, 60_000, 'the whole body');
  } finally {
    sock.destroy();
  }
}
