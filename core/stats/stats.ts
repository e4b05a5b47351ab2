import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import type { Master } from '../master/master.js';
import type { Worker } from '../master/worker.js';
import { parseAddress } from '../net/address.js';

/** Memory of a process from /proc: rss and vsz in bytes (0 when unreadable). */
export function processMemory(pid: number): { rss: number; vsz: number } {
  try {
    const [vszPages, rssPages] = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ').map(Number);
    return { rss: (rssPages ?? 0) * 4096, vsz: (vszPages ?? 0) * 4096 };
  } catch {
    return { rss: 0, vsz: 0 };
  }
}

function workerStats(w: Worker) {
  const mem = processMemory(w.pid);
  const busy = w.active.size > 0;
  return {
    id: w.id,
    pid: w.pid,
    accepting: w.state === 'ready' ? 1 : 0,
    requests: w.requests,
    delta_requests: w.requests,
    exceptions: w.exceptions,
    harakiri_count: w.harakiriCount,
    signals: 0,
    signal_queue: 0,
    status: w.state === 'ready' ? (busy ? 'busy' : 'idle') : w.state === 'retiring' ? 'pause' : 'cheap',
    rss: mem.rss,
    vsz: mem.vsz,
    running_time: Math.round(w.busyMs * 1000),
    last_spawn: w.spawnedAtEpoch,
    respawn_count: w.respawnCount,
    tx: w.txBytes,
    avg_rt: w.requests > 0 ? Math.round((w.busyMs * 1000) / w.requests) : 0,
    apps: [],
    cores: [...Array(w.slots).keys()].map((i) => ({
      id: i,
      requests: 0,
      static_requests: 0,
      routed_requests: 0,
      offloaded_requests: 0,
      write_errors: 0,
      read_errors: 0,
      in_request: i < w.active.size ? 1 : 0,
      vars: [],
      req_info: {},
    })),
  };
}

/**
 * The uWSGI stats document (uWSGI's `core/master_utils.c` shape: the same top-level and per-worker
 * keys and types, so uwsgitop and uwsgi_exporter read it).
 */
export function statsDocument(master: Master, version: string): Record<string, unknown> {
  const cur = master.current;
  return {
    version: `tsgi ${version}`,
    listen_queue: master.queueDepth,
    listen_queue_errors: master.rejectedTotal,
    signal_queue: 0,
    load: master.workers().reduce((n, w) => n + w.active.size, 0) + master.queueDepth,
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cwd: process.cwd(),
    locks: [],
    sockets: master.boundListeners().map((l) => ({
      name: l.info.address,
      proto: l.info.proto,
      queue: 0,
      max_queue: cur?.core.listen ?? 0,
      shared: 0,
      can_offload: 0,
    })),
    workers: master
      .workers()
      .filter((w) => w.state !== 'dead')
      .map(workerStats),
    tsgi: {
      uptime_ms: Math.round(performance.now()),
      generation: cur?.n ?? 0,
      requests: master.requestsTotal,
    },
  };
}

/**
 * Serve the stats JSON on `address` (TCP `host:port` or a unix path): each connection gets one
 * document and is closed, as uWSGI's stats server does; with `http`, the document is preceded by an
 * HTTP/1.0 response head so curl and browsers can read it.
 * @throws {ConfigError} for a bad address; the listen error is logged.
 */
export function startStatsServer(
  master: Master,
  address: string,
  http: boolean,
  version: string,
  log: Logger,
): Server {
  const addr = parseAddress(address, 'stats', null);
  const server = createServer((sock) => {
    sock.on('error', () => {});
    const body = JSON.stringify(statsDocument(master, version));
    const head = http
      ? `HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`
      : '';
    sock.end(head + body);
  });
  server.on('error', (err) => log.error(`tsgi: stats server on ${address}: ${err.message}`));
  server.on('listening', () => {
    const a = server.address();
    const shown = typeof a === 'string' || !a ? address : `${a.address}:${a.port}`;
    log.info(`tsgi: stats server on ${shown}`);
  });
  if (addr.kind === 'unix') server.listen(addr.path);
  else server.listen(addr.port, addr.host);
  return server;
}
