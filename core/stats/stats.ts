import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { channels, type RequestDoneEvent } from '../master/events.js';
import type { Master } from '../master/master.js';
import type { Worker } from '../master/worker.js';
import { runService } from '../net/service.js';
import { statsOptions } from './options.js';
import { processMemorySync, readProcessMemory } from './proc.js';

/**
 * Memory of a process from /proc, synchronously: rss and vsz in bytes (0 when unreadable). Kept for
 * the master's recycling checks (`reload-on-rss`); scrapes use the asynchronous reader.
 */
export function processMemory(pid: number): { rss: number; vsz: number } {
  const m = processMemorySync(pid);
  return { rss: m.rss, vsz: m.vsz };
}

/**
 * uWSGI's per-worker average response time, µs: each request moves it halfway to that request's time
 * (`avg = (avg + rt) / 2`, core/utils.c), kept per worker process.
 */
const avgRtUs = new WeakMap<Worker, number>();

/** Follow request ends for `avg_rt`. Returns a function that stops. */
export function trackResponseTimes(): () => void {
  const onDone = (msg: unknown) => {
    const { worker, durationMs } = msg as RequestDoneEvent;
    avgRtUs.set(worker, Math.floor(((avgRtUs.get(worker) ?? 0) + Math.floor(durationMs * 1000)) / 2));
  };
  channels.requestDone.subscribe(onDone);
  return () => channels.requestDone.unsubscribe(onDone);
}

/** What the stats document shows besides the master's state. */
export interface StatsOptions {
  readonly version: string;
  /** `stats-no-cores`: leave out each worker's `cores` list. */
  readonly noCores: boolean;
}

function workerStatus(w: Worker): string {
  if (w.state === 'ready') return w.active.size > 0 ? 'busy' : 'idle';
  if (w.state === 'retiring') return 'pause';
  return 'cheap';
}

/** A request in flight as uWSGI's stats show it: its vars as `NAME=value` strings, then `""`. */
function requestVars(vars: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of vars) out.push(`${k}=${v}`);
  out.push('');
  return out;
}

async function workerStats(w: Worker, noCores: boolean): Promise<Record<string, unknown>> {
  const mem = await readProcessMemory(w.pid);
  const ready = w.state === 'ready' || w.state === 'retiring';
  const doc: Record<string, unknown> = {
    id: w.id,
    pid: w.pid,
    accepting: w.state === 'ready' ? 1 : 0,
    requests: w.requests,
    delta_requests: w.requests,
    exceptions: w.exceptions,
    harakiri_count: w.harakiriCount,
    signals: 0,
    signal_queue: 0,
    status: workerStatus(w),
    rss: mem.rss,
    vsz: mem.vsz,
    running_time: Math.round(w.busyMs * 1000),
    last_spawn: w.spawnedAtEpoch,
    respawn_count: w.respawnCount + 1,
    tx: w.txBytes,
    avg_rt: avgRtUs.get(w) ?? 0,
    apps: ready
      ? [
          {
            id: 0,
            modifier1: 0,
            mountpoint: '',
            startup_time: Math.max(0, Math.round((w.readyAtMs - w.spawnedAtMs) / 1000)),
            requests: w.requests,
            exceptions: w.exceptions,
            chdir: '',
          },
        ]
      : [],
  };
  if (noCores) return doc;
  const active = [...w.active];
  doc.cores = Array.from({ length: w.slots }, (_, i) => {
    const req = active[i];
    return {
      id: i,
      requests: w.slots === 1 ? w.requests : 0,
      static_requests: 0,
      routed_requests: 0,
      offloaded_requests: 0,
      write_errors: 0,
      read_errors: 0,
      in_request: req ? 1 : 0,
      vars: req ? requestVars(req.vars) : [],
      req_info: req ? { request_start: Math.floor(req.startedAtEpochMs / 1000) } : {},
    };
  });
  return doc;
}

/**
 * The uWSGI stats document (core/master_utils.c `uwsgi_master_generate_stats`, uWSGI 2.0): the same
 * top-level and per-worker keys with the same JSON types, so uwsgitop and uwsgi_exporter read it.
 * tsgi's values: `listen_queue` is the master's queue of requests waiting for a worker slot and
 * `listen_queue_errors` the requests refused because it was full; `workers` are the current
 * generation's workers by id; memory comes from /proc; a `tsgi` object adds uptime, config
 * generation and total requests.
 */
export async function statsDocument(master: Master, opts: StatsOptions): Promise<Record<string, unknown>> {
  const cur = master.current;
  const workers = cur
    ? [...cur.workers.values()].filter((w) => w.state !== 'dead').sort((a, b) => a.id - b.id)
    : [];
  return {
    version: `tsgi ${opts.version}`,
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
      name: l.info.bound,
      proto: l.info.proto,
      queue: 0,
      max_queue: cur?.core.listen ?? 0,
      shared: 0,
      can_offload: 0,
    })),
    workers: await Promise.all(workers.map((w) => workerStats(w, opts.noCores))),
    ...daemonStats(master),
    tsgi: {
      uptime_ms: Math.round(performance.now()),
      generation: cur?.n ?? 0,
      requests: master.requestsTotal,
    },
  };
}

/** uWSGI's `daemons: [{cmd, pid, respawns}]` (only when there are any, as uWSGI), plus tsgi's name and kind. */
function daemonStats(master: Master): { daemons?: Array<Record<string, unknown>> } {
  const list = master.attachedDaemons();
  if (list.length === 0) return {};
  return {
    daemons: list.map((d) => ({ cmd: d.cmd, pid: d.pid, respawns: d.respawns, name: d.name, kind: d.kind })),
  };
}

/** uWSGI's head for `stats-http` (core/utils.c `uwsgi_send_http_stats`), plus a length. */
function httpHead(length: number): string {
  return (
    'HTTP/1.0 200 OK\r\nConnection: close\r\nAccess-Control-Allow-Origin: *\r\n' +
    `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`
  );
}

/**
 * Serve the stats JSON on the `stats` address for the life of the instance. Each connection gets one
 * document and is closed, as uWSGI's stats server does; with `stats-http` the server first reads the
 * request (as uWSGI does) and answers with an HTTP/1.0 response. Returns a function that stops it.
 */
export function startStatsServer(master: Master, log: Logger, version: string): () => void {
  const stopTracking = trackResponseTimes();
  const send = (sock: Socket) => {
    const o = master.current?.config.values(statsOptions);
    statsDocument(master, { version, noCores: o?.['stats-no-cores'] ?? false }).then(
      (doc) => {
        const body = o?.['stats-minified'] ? JSON.stringify(doc) : JSON.stringify(doc, null, '\t');
        sock.end(o?.['stats-http'] ? httpHead(Buffer.byteLength(body)) + body : body);
      },
      (err: Error) => {
        log.error(`tsgi: stats: ${err.message}`);
        sock.destroy();
      },
    );
  };
  const stop = runService(master, log, {
    name: 'stats',
    address(config) {
      const address = config.values(statsOptions).stats;
      return address ? { address, origin: config.origin('stats') } : null;
    },
    onConnection(sock) {
      sock.on('error', () => {});
      sock.setTimeout((master.current?.core['socket-timeout'] ?? 4) * 1000, () => sock.destroy());
      if (!master.current?.config.values(statsOptions)['stats-http']) {
        send(sock);
        return;
      }
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        if (!head.includes('\r\n\r\n') && !head.includes('\n\n') && head.length < 8192) return;
        sock.off('data', onData);
        send(sock);
      };
      sock.on('data', onData);
    },
    boundLine: (info) => `tsgi: stats server on ${info.bound}`,
  });
  return () => {
    stop();
    stopTracking();
  };
}
