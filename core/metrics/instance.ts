import type { Channel } from 'node:diagnostics_channel';
import type { Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import client from 'prom-client';
import type { LogSink } from '../log/logger.js';
import {
  channels,
  type MasterLifecycleEvent,
  type RequestDoneEvent,
  type RequestRejectedEvent,
  type WorkerExitEvent,
} from '../master/events.js';
import type { Master } from '../master/master.js';
import { readProcessMemory } from '../stats/proc.js';
import { ArrayHistogram } from './histogram.js';
import { collectProcessMetrics, registry } from './registry.js';
import { bump, DURATION_BUCKETS, STATUS_CLASSES, Tallies } from './tally.js';

/** What the metrics read on scrape: the running master, the request tallies, the log sink. */
interface Source {
  readonly master: Master;
  readonly tallies: Tallies;
  readonly sink: LogSink;
}

let source: Source | null = null;
let defined = false;

/** Worker states as the `tsgi_workers` gauge shows them (always all four, zeros included). */
const WORKER_STATES = ['starting', 'idle', 'busy', 'retiring'] as const;

/**
 * Register tsgi's metrics in the instance registry (once per process). Names follow Prometheus
 * conventions (base units, `_total` counters); labels are bounded: protocol, status class, worker id
 * (at most `processes`), reason words, listener address as configured.
 */
function defineMetrics(): void {
  if (defined) return;
  defined = true;
  const registers = [registry];
  const each = <T>(f: (s: Source) => T): T | undefined => (source ? f(source) : undefined);

  new client.Counter({
    name: 'tsgi_requests_total',
    help: 'Requests answered, by edge protocol and status class (none: the client left before a response)',
    labelNames: ['proto', 'code'],
    registers,
    collect() {
      this.reset();
      each((s) => {
        for (const [proto, t] of s.tallies.protos)
          STATUS_CLASSES.forEach((code, i) => {
            this.inc({ proto, code }, t.requests[i]!);
          });
      });
    },
  });
  new ArrayHistogram(
    'tsgi_request_duration_seconds',
    'Time from request parsed to response complete, by edge protocol',
    DURATION_BUCKETS,
    () =>
      [...(source?.tallies.protos ?? [])].map(([proto, t]) => ({
        labels: { proto },
        buckets: t.buckets,
        sum: t.durationSum,
        count: t.durationCount,
      })),
    registry,
  );
  new client.Counter({
    name: 'tsgi_request_body_bytes_total',
    help: 'Request body bytes received from clients, by edge protocol',
    labelNames: ['proto'],
    registers,
    collect() {
      this.reset();
      each((s) => {
        for (const [proto, t] of s.tallies.protos) this.inc({ proto }, t.bytesIn);
      });
    },
  });
  new client.Counter({
    name: 'tsgi_response_body_bytes_total',
    help: 'Response body bytes sent to clients, by edge protocol',
    labelNames: ['proto'],
    registers,
    collect() {
      this.reset();
      each((s) => {
        for (const [proto, t] of s.tallies.protos) this.inc({ proto }, t.bytesOut);
      });
    },
  });
  new client.Gauge({
    name: 'tsgi_requests_in_flight',
    help: 'Requests being served by workers now',
    registers,
    collect() {
      this.set(each((s) => s.master.workers().reduce((n, w) => n + w.active.size, 0)) ?? 0);
    },
  });
  new client.Gauge({
    name: 'tsgi_backlog_requests',
    help: 'Requests waiting for a free worker slot now',
    registers,
    collect() {
      this.set(each((s) => s.master.queueDepth) ?? 0);
    },
  });
  new client.Gauge({
    name: 'tsgi_backlog_limit',
    help: 'Most requests that may wait for a worker slot (the listen option); past it requests get 503',
    registers,
    collect() {
      this.set(each((s) => s.master.current?.core.listen) ?? 0);
    },
  });
  new client.Counter({
    name: 'tsgi_backlog_rejections_total',
    help: 'Requests answered 503 without reaching a worker, by reason (queue-full, no-worker)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      this.inc({ reason: 'queue-full' }, 0);
      this.inc({ reason: 'no-worker' }, 0);
      each((s) => {
        for (const [reason, n] of s.tallies.rejections) this.inc({ reason }, n);
      });
    },
  });
  new client.Gauge({
    name: 'tsgi_workers',
    help: 'Worker processes by state (starting: loading the app; idle/busy: serving; retiring: finishing before exit)',
    labelNames: ['state'],
    registers,
    collect() {
      const counts = { starting: 0, idle: 0, busy: 0, retiring: 0 };
      each((s) => {
        for (const w of s.master.workers()) {
          if (w.state === 'starting') counts.starting++;
          else if (w.state === 'retiring') counts.retiring++;
          else if (w.state === 'ready') counts[w.active.size > 0 ? 'busy' : 'idle']++;
        }
      });
      for (const state of WORKER_STATES) this.set({ state }, counts[state]);
    },
  });
  new client.Counter({
    name: 'tsgi_worker_requests_total',
    help: 'Requests served per worker slot (the id survives respawns and reloads)',
    labelNames: ['worker'],
    registers,
    collect() {
      this.reset();
      each((s) => {
        const ids = new Set([
          ...s.tallies.workerRequests.keys(),
          ...(s.master.current?.workers.keys() ?? []),
        ]);
        for (const id of [...ids].sort((a, b) => a - b))
          this.inc({ worker: String(id) }, s.tallies.workerRequests.get(id) ?? 0);
      });
    },
  });
  new client.Gauge({
    name: 'tsgi_worker_rss_bytes',
    help: 'Resident memory of each current worker process',
    labelNames: ['worker'],
    registers,
    async collect() {
      const workers = source?.master.current ? [...source.master.current.workers.values()] : [];
      const mems = await Promise.all(workers.map((w) => readProcessMemory(w.pid)));
      this.reset();
      workers.forEach((w, i) => {
        if (w.state !== 'dead') this.set({ worker: String(w.id) }, mems[i]!.rss);
      });
    },
  });
  new client.Counter({
    name: 'tsgi_worker_respawns_total',
    help: 'Workers replaced, by reason (crash, harakiri, max-requests, rss, lifetime, reload, boot-failure)',
    labelNames: ['reason'],
    registers,
    collect() {
      this.reset();
      for (const reason of ['crash', 'harakiri', 'max-requests', 'rss', 'reload']) this.inc({ reason }, 0);
      each((s) => {
        for (const [reason, n] of s.tallies.respawns) this.inc({ reason }, n);
      });
    },
  });
  new client.Counter({
    name: 'tsgi_harakiri_total',
    help: 'Harakiri: a request ran past `harakiri` seconds and its worker was killed',
    registers,
    collect() {
      this.reset();
      this.inc(each((s) => s.tallies.harakiri) ?? 0);
    },
  });
  new client.Counter({
    name: 'tsgi_app_exceptions_total',
    help: 'Requests on which the app raised an exception (answered 500, or cut short after the head)',
    registers,
    collect() {
      this.reset();
      this.inc(each((s) => s.tallies.appExceptions) ?? 0);
    },
  });
  new client.Counter({
    name: 'tsgi_listener_accept_errors_total',
    help: 'Errors accepting connections (EMFILE, ENFILE, ...) per listener',
    labelNames: ['proto', 'listener'],
    registers,
    collect() {
      this.reset();
      each((s) => {
        for (const l of s.master.boundListeners())
          this.inc({ proto: l.info.proto, listener: l.info.address }, s.tallies.acceptErrors.get(l.key) ?? 0);
      });
    },
  });
  new client.Counter({
    name: 'tsgi_reloads_total',
    help: 'Graceful reloads, by result (ok, failed: the old config kept serving)',
    labelNames: ['result'],
    registers,
    collect() {
      this.reset();
      this.inc({ result: 'ok' }, source?.tallies.reloads.get('ok') ?? 0);
      this.inc({ result: 'failed' }, source?.tallies.reloads.get('failed') ?? 0);
    },
  });
  new client.Gauge({
    name: 'tsgi_config_generation',
    help: 'Config generation being served (1 at boot, +1 per successful reload)',
    registers,
    collect() {
      this.set(each((s) => s.master.current?.n) ?? 0);
    },
  });
  new client.Counter({
    name: 'tsgi_daemon_restarts_total',
    help: 'Times each attached daemon was started again after dying, by daemon (its log prefix name)',
    labelNames: ['daemon'],
    registers,
    collect() {
      this.reset();
      for (const d of each((s) => s.master.attachedDaemons()) ?? []) this.inc({ daemon: d.name }, d.respawns);
    },
  });
  new client.Gauge({
    name: 'tsgi_daemon_up',
    help: 'Whether each attached daemon is running (1) or down (0), by daemon',
    labelNames: ['daemon'],
    registers,
    collect() {
      this.reset();
      for (const d of each((s) => s.master.attachedDaemons()) ?? [])
        this.set({ daemon: d.name }, d.pid > 0 ? 1 : 0);
    },
  });
  new client.Counter({
    name: 'tsgi_log_dropped_lines_total',
    help: 'Log lines dropped because the log destination was too slow (a full pipe or disk)',
    registers,
    collect() {
      this.reset();
      this.inc(each((s) => s.sink.dropped) ?? 0);
    },
  });
}

/** Count one finished request: everything the metrics cost on the request path. */
export function countDone(tallies: Tallies, ev: RequestDoneEvent): void {
  const { req } = ev;
  tallies.proto(req.proto).add(req.status, ev.durationMs / 1000, req.bytesIn, req.bytesOut);
  bump(tallies.workerRequests, ev.worker.id);
  if (ev.outcome === 'worker-error') tallies.appExceptions++;
}

/**
 * Measure `master` into the instance registry: subscribe to its diagnostics channels (requests done
 * and rejected, worker exits, harakiri, lifecycle) and read its state on scrape (workers, queue, listeners).
 * Counting on the request path is a few array increments. Also registers Node's process metrics for
 * the master. Returns a function that stops counting (the metrics then read zero).
 */
export function instrumentInstance(master: Master, sink: LogSink): () => void {
  defineMetrics();
  collectProcessMetrics();
  const tallies = new Tallies();
  source = { master, tallies, sink };
  let stopping = false;
  const watched = new WeakSet<Server>();
  const watchListeners = () => {
    for (const l of master.boundListeners()) {
      if (watched.has(l.server)) continue;
      watched.add(l.server);
      l.server.on('error', () => bump(tallies.acceptErrors, l.key));
    }
  };
  watchListeners();

  const onDone = (msg: unknown) => countDone(tallies, msg as RequestDoneEvent);
  const onRejected = (msg: unknown) => {
    const { req, status, reason } = msg as RequestRejectedEvent;
    tallies
      .proto(req.proto)
      .add(status, (performance.now() - req.startedAtMs) / 1000, req.bytesIn, req.bytesOut);
    bump(tallies.rejections, reason);
  };
  const onExit = (msg: unknown) => {
    const { reason } = msg as WorkerExitEvent;
    if (!stopping && reason !== 'stop' && reason !== 'cheaper') bump(tallies.respawns, reason);
  };
  const onHarakiri = () => {
    tallies.harakiri++;
  };
  const onLifecycle = (msg: unknown) => {
    const ev = msg as MasterLifecycleEvent;
    if (ev.phase === 'stopping') stopping = true;
    else if (ev.phase === 'reloaded' || ev.phase === 'chain-reloaded') {
      bump(tallies.reloads, 'ok');
      watchListeners();
    } else if (ev.phase === 'reload-failed') bump(tallies.reloads, 'failed');
  };
  const subs: Array<[Channel, (m: unknown) => void]> = [
    [channels.requestDone, onDone],
    [channels.requestRejected, onRejected],
    [channels.workerExit, onExit],
    [channels.workerHarakiri, onHarakiri],
    [channels.lifecycle, onLifecycle],
  ];
  for (const [ch, f] of subs) ch.subscribe(f);
  return () => {
    for (const [ch, f] of subs) ch.unsubscribe(f);
    if (source?.tallies === tallies) source = null;
  };
}
