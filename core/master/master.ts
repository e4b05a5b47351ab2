import { performance } from 'node:perf_hooks';
import type { InstanceConfig } from '../config/resolve.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { formatOrigin, TsgiError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Listener } from '../net/listeners.js';
import { runRequestHooks } from '../plugin/hooks.js';
import type { PluginRegistry } from '../plugin/registry.js';
import type {
  EdgeProtocol,
  ListenerInfo,
  RequestHandler,
  StreamOutcome,
  WorkerExit,
} from '../plugin/types.js';
import { postBuffer } from '../request/post-buffering.js';
import type { TsgiRequest } from '../request/request.js';
import { type ResponseSink, sendError } from '../request/sink.js';
import { processMemory } from '../stats/stats.js';
import { backlog, SPARE_START, type SpareState, spare } from './cheaper.js';
import type { DaemonInfo } from './daemons.js';
import { channels, publish, type WorkerExitReason, type WorkerSpawnReason } from './events.js';
import type { FifoCommand } from './fifo.js';
import { createGeneration, type Generation, generationWorkers } from './generation.js';
import { killPlan, overdue } from './harakiri.js';
import { ListenerSet } from './listening.js';
import { dropPrivileges, Pidfiles } from './process.js';
import {
  afterRequest,
  evil,
  type Memory,
  needsEvilCheck,
  needsMemory,
  periodic,
  type Recycle,
  requestLimit,
  type WorkerFacts,
} from './recycle.js';
import { FAST_DEATH_MS, respawnDelayMs } from './respawn.js';
import { MasterServices, type TouchKind } from './services.js';
import { WorkerTable } from './table.js';
import { Worker } from './worker.js';

/** What the master needs from its caller. */
export interface MasterOptions {
  readonly registry: PluginRegistry;
  /** Read and validate the config again (SIGHUP). @throws {ConfigError} naming file and line. */
  readonly reloadConfig: () => InstanceConfig;
  readonly log: Logger;
  /** Called when the instance has stopped; the caller exits the process with this code. */
  readonly onExit: (code: number) => void;
}

/** What a reload replaces, and how. */
export interface ReloadOptions {
  /**
   * Read the config again (SIGHUP, FIFO `r`, touch-reload). False: same config, the app's code
   * imported again (FIFO `w` and `c`, touch-workers-reload, touch-chain-reload). Default true.
   */
  readonly rereadConfig?: boolean;
  /** Kill the old workers once the new ones are ready instead of letting them finish (FIFO `R`, `W`). */
  readonly brutal?: boolean;
  /** Replace one worker at a time, each after its successor is ready (FIFO `c`, touch-chain-reload). */
  readonly chain?: boolean;
}

type StopMode = 'none' | 'graceful' | 'immediate';

/** The master cycle: harakiri, limits, cheaper and touch files are checked this often, ms (uWSGI: 1 s). */
export const MASTER_CYCLE_MS = 1000;
/** A chain reload gives up after this many successive workers failed to start (after the first succeeded). */
const CHAIN_MAX_FAILURES = 5;

/** What each touch option asks for, and how the log names it. */
const TOUCH_RELOADS: Readonly<Record<TouchKind, { opts: ReloadOptions; what: string }>> = {
  reload: { opts: {}, what: 'graceful reload' },
  'workers-reload': { opts: { rereadConfig: false }, what: 'workers reload' },
  'chain-reload': { opts: { chain: true, rereadConfig: false }, what: 'chain reload' },
};

/**
 * The instance master: binds listeners, starts and supervises workers, dispatches requests, recycles
 * and reloads without dropping requests, scales the worker count, and stops cleanly. One per `tsgi`
 * process.
 *
 * Invariants: the master never exits while a process it started is alive; every request handed to
 * `handle` is answered exactly once; a worker that dies costs only its own in-flight requests (502);
 * a worker being replaced (recycling, reload, chain reload) keeps taking requests until its
 * successor is ready, then finishes what it has.
 *
 * Shape: events (worker ready or exited, request done, signals, FIFO, timers) call small handlers
 * that change the worker table (table.ts); `manageWorkers` then starts a worker for every slot the
 * current generation wants and nobody holds; `cycle` runs the periodic checks once a second.
 * Policies are pure functions: harakiri.ts, recycle.ts, cheaper.ts, respawn.ts.
 */
export class Master {
  private readonly table = new WorkerTable();
  /** Every edge that may still have client connections (old generations' edges keep theirs). */
  private readonly edges = new Set<EdgeProtocol>();
  private readonly listeners: ListenerSet;
  private readonly dispatcher: Dispatcher;
  private readonly services: MasterServices;
  private readonly pidfiles = new Pidfiles();
  private readonly log: Logger;
  private stopping: StopMode = 'none';
  private booted = false;
  private totalRequests = 0;
  private reloading: Promise<void> | null = null;
  private pendingReload: ReloadOptions | null = null;
  private spareState: SpareState = SPARE_START;
  private cycleTimer: NodeJS.Timeout | null = null;
  private manageTimer: NodeJS.Timeout | null = null;
  private manageAtMs = Number.POSITIVE_INFINITY;
  private stopTimer: NodeJS.Timeout | null = null;
  private vacuum = false;
  private exitCode = 0;
  private exited = false;

  constructor(private readonly opts: MasterOptions) {
    this.log = opts.log;
    this.listeners = new ListenerSet(this.log);
    this.dispatcher = new Dispatcher(
      1024,
      (w, req, outcome) => this.onRequestDone(w, req, outcome),
      (depth, req) => this.onReject(depth, req),
    );
    this.services = new MasterServices(
      this.log,
      (c) => this.fifoCommand(c),
      () => this.mercyMs(),
      () => this.maybeExit(),
    );
  }

  /** The request entry point given to every edge: request hooks, then a worker. */
  readonly handle: RequestHandler = (req: TsgiRequest, sink: ResponseSink): void => {
    const gen = this.table.current;
    if (!gen) {
      sendError(sink, 503, 'instance is not ready');
      return;
    }
    if (gen.hooks.length > 0) runRequestHooks(gen.hooks, req, sink, this.dispatch);
    else this.dispatch(req, sink);
  };

  /** After the hooks: a worker of the current generation (queued when all are busy). */
  private readonly dispatch: RequestHandler = (req: TsgiRequest, sink: ResponseSink): void => {
    const gen = this.table.current;
    if (!gen) {
      sendError(sink, 503, 'instance is not ready');
      return;
    }
    if (!gen.runner) {
      sendError(sink, 404, 'no app is configured on this instance');
      return;
    }
    if (sink.websocket && !gen.runner.websockets) {
      sendError(
        sink,
        400,
        `${gen.runner.app} does not serve WebSockets (an ASGI app does: asgi = module:app)`,
      );
      return;
    }
    const buffering = gen.core['post-buffering'];
    if (buffering > 0 && req.body) postBuffer(req, sink, buffering, (r) => this.dispatcher.submit(r, sink));
    else this.dispatcher.submit(req, sink);
  };

  /** The current generation (config, plugins, workers), for stats and lifecycle plugins. */
  get current(): Generation | null {
    return this.table.current;
  }

  /** Every live worker (starting, ready or retiring), current generation first. */
  workers(): Worker[] {
    return this.table.all();
  }

  /** Requests waiting for a worker slot. */
  get queueDepth(): number {
    return this.dispatcher.queued;
  }

  /** Requests served since start. */
  get requestsTotal(): number {
    return this.totalRequests;
  }

  /** Requests refused because the queue was full. */
  get rejectedTotal(): number {
    return this.dispatcher.rejected;
  }

  /** Bound listeners. */
  boundListeners(): Listener[] {
    return this.listeners.all();
  }

  private boundInfos(): ListenerInfo[] {
    return this.boundListeners().map((l) => l.info);
  }

  /** The attached daemons (`attach-daemon`), for stats. */
  attachedDaemons(): DaemonInfo[] {
    return this.services.daemonList();
  }

  /**
   * First boot: plugins, listeners, pidfile, privileges, workers. Resolves once every worker is ready.
   * On failure logs why, cleans up and calls `onExit(1)`.
   */
  async boot(config: InstanceConfig): Promise<void> {
    for (const w of config.warnings) this.log.warn(`${formatOrigin(w.origin)}: ${w.message}`);
    try {
      const gen = await createGeneration(1, this.opts.registry, config, this.log);
      this.table.live.add(gen);
      this.table.current = gen;
      this.dispatcher.setMaxQueue(gen.core.listen);
      this.vacuum = gen.core.vacuum;
      await this.listeners.bind(gen);
      this.pidfiles.write(gen.core.pidfile);
      dropPrivileges(gen, this.log);
      this.pidfiles.write(gen.core.pidfile2);
      if (gen.runner)
        this.log.info(
          `tsgi: serving ${gen.runner.app} with ${gen.processes} worker(s) × ${gen.runner.slots} slot(s)`,
        );
      if (!(await this.startWorkers(gen, 'boot'))) {
        this.fatal('the app could not be loaded (see the worker output above); exiting');
        return;
      }
      if (this.stopping !== 'none') return;
      this.booted = true;
      this.makeCurrent(gen);
      this.cycleTimer = setInterval(() => this.cycle(), MASTER_CYCLE_MS);
      this.cycleTimer.unref();
      this.log.info(`tsgi: ready (pid ${process.pid}, ${gen.workers.size} worker(s))`);
      publish(channels.lifecycle, () => ({
        phase: 'ready',
        generation: gen.n,
        listeners: this.boundInfos(),
      }));
    } catch (err) {
      this.fatal((err as Error).message);
    }
  }

  /**
   * Reload. By default gracefully (SIGHUP): re-read the config (on error keep serving the old one),
   * bind new listeners, keep unchanged ones, close removed ones; start new workers and switch to them
   * once all are ready; the old ones finish their requests and exit. With `chain`, one worker at a
   * time. If the new workers cannot load the app, the reload is abandoned and the old ones keep
   * serving. A reload asked for while one runs follows it (the last one asked for wins).
   * Resolves when the reload (and any that follows it) is over.
   */
  reload(opts: ReloadOptions = {}): Promise<void> {
    if (this.stopping !== 'none' || !this.table.current || !this.booted) return Promise.resolve();
    if (this.reloading) {
      this.log.info('tsgi: a reload is already running; the one just asked for will follow it');
      this.pendingReload = opts;
      return this.reloading;
    }
    const run = async () => {
      let next: ReloadOptions | null = opts;
      while (next && this.stopping === 'none') {
        this.pendingReload = null;
        if (next.chain) await this.chainReload();
        else await this.replaceAll(next);
        next = this.pendingReload;
      }
    };
    this.reloading = run().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /**
   * Stop. Graceful: stop accepting, finish queued and in-flight requests (bounded by `reload-mercy`),
   * then let workers exit. Immediate: kill workers and drop connections now. A graceful stop asked
   * for twice becomes immediate.
   */
  stop(graceful: boolean): void {
    if (this.stopping === 'immediate') return;
    if (this.stopping === 'graceful' && graceful) return;
    const first = this.stopping === 'none';
    this.stopping = graceful ? 'graceful' : 'immediate';
    this.log.info(graceful ? 'tsgi: graceful stop requested' : 'tsgi: stopping now');
    publish(channels.lifecycle, () => ({ phase: 'stopping', generation: this.table.current?.n ?? 0 }));
    if (this.cycleTimer) clearInterval(this.cycleTimer);
    if (this.manageTimer) clearTimeout(this.manageTimer);
    if (first) {
      this.listeners.closeAll(this.vacuum);
      for (const e of this.edges) e.drain();
      this.services.stop();
    }
    if (graceful) {
      const mercy = (this.table.current?.core['reload-mercy'] ?? 60) * 1000;
      this.stopTimer = setTimeout(() => {
        this.log.warn(`tsgi: requests still running after reload-mercy (${mercy / 1000} s); stopping now`);
        this.stop(false);
      }, mercy);
      this.stopTimer.unref();
      this.continueGracefulStop();
    } else {
      this.dispatcher.failQueued(503, 'the instance is stopping');
      for (const w of this.workers()) if (w.state !== 'dead') w.process.kill('SIGKILL');
      for (const e of this.edges) e.destroyAll();
    }
    this.maybeExit();
  }

  /** Log one line per worker: id, pid, state, requests, in-flight (SIGUSR1, FIFO `s`). */
  logWorkerTable(): void {
    this.log.info(`tsgi: ${this.totalRequests} requests, ${this.dispatcher.queued} queued`);
    for (const w of this.workers())
      this.log.info(
        `tsgi: worker ${w.id} pid ${w.pid} gen ${w.generation} ${w.state} requests ${w.requests} in-flight ${w.active.size}`,
      );
  }

  /**
   * Add one worker (SIGTTIN, FIFO `+`). In cheaper mode up to `processes`; otherwise without bound
   * (gunicorn's TTIN).
   */
  addWorker(): void {
    const gen = this.table.current;
    if (!gen?.runner || this.stopping !== 'none') return;
    if (gen.cheaper && gen.processes >= gen.core.processes) {
      this.log.info(
        `tsgi: already running the most workers cheaper mode allows (processes = ${gen.core.processes})`,
      );
      return;
    }
    this.setWorkerCount(gen, gen.processes + 1, 'manual');
  }

  /** Retire one worker (SIGTTOU, FIFO `-`): never below 1, or below `cheaper` in cheaper mode. */
  removeWorker(): void {
    const gen = this.table.current;
    if (!gen?.runner || this.stopping !== 'none') return;
    const floor = gen.cheaper?.min ?? 1;
    if (gen.processes <= floor) {
      this.log.info(`tsgi: already running the fewest workers allowed (${floor})`);
      return;
    }
    this.setWorkerCount(gen, gen.processes - 1, 'manual');
  }

  /**
   * Take a worker out of rotation; it finishes its requests and exits when the master closes its
   * transport (a starting one is killed at once). Killed after `worker-reload-mercy` if it has not
   * exited. Its slot is refilled if the current generation still wants it.
   */
  retire(w: Worker, reason: WorkerExitReason): void {
    if (w.state === 'retiring' || w.state === 'dead') return;
    const wasStarting = w.state === 'starting';
    this.letGo(w, reason);
    w.process.channel.retire?.(reason === 'stop');
    if (wasStarting) w.process.kill('SIGKILL');
    else if (w.process.channel.inflight === 0) w.process.channel.close();
    const t = setTimeout(() => {
      if (w.state === 'dead') return;
      this.log.warn(`tsgi: worker ${w.id} (pid ${w.pid}) still busy after worker-reload-mercy; killing it`);
      w.process.kill('SIGKILL');
    }, this.mercyMs());
    t.unref();
    this.scheduleManage(0);
  }

  // ---- spawning and reaping ----

  /** Spawn the wanted workers of a new generation; resolves true when all are ready. */
  private async startWorkers(gen: Generation, reason: WorkerSpawnReason): Promise<boolean> {
    const started: Promise<void>[] = [];
    for (let id = 1; id <= gen.processes; id++) started.push(this.spawnWorker(gen, id, reason).process.ready);
    const results = await Promise.allSettled(started);
    return results.every((r) => r.status === 'fulfilled');
  }

  /** Start a worker process for slot `id` of `gen`: as the slot's holder, or as a successor. */
  private spawnWorker(gen: Generation, id: number, reason: WorkerSpawnReason, holder = true): Worker {
    const runner = gen.runner!;
    const proc = runner.spawn({
      workerId: id,
      env: this.workerEnv(gen),
      log: this.log,
      logFd: this.log.sink.fd,
    });
    const w = new Worker(id, gen.n, runner.slots, proc);
    const slot = this.table.slot(id);
    if (slot.spawned) slot.respawns++;
    slot.spawned = true;
    w.respawnCount = slot.respawns;
    w.harakiriCount = slot.harakiris;
    const c = gen.core;
    w.requestLimit = requestLimit(id, c['max-requests'], c['max-requests-delta'], c['max-requests-jitter']);
    this.table.place(w, gen, holder);
    Promise.resolve(proc.started).then(
      () => {
        this.log.info(`tsgi: spawned worker ${id} (pid ${proc.pid}, generation ${gen.n})`);
        publish(channels.workerSpawn, () => ({ worker: w, reason }));
      },
      () => {},
    );
    proc.onExit((exit) => this.reap(w, exit));
    proc.ready.then(
      () => this.onWorkerReady(w),
      () => {},
    );
    return w;
  }

  private workerEnv(gen: Generation): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    const origins = gen.config.origins('env');
    gen.core.env.forEach((kv, i) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) this.log.warn(`${formatOrigin(origins[i])}: env '${kv}' is not KEY=VALUE; ignored`);
      else env[kv.slice(0, eq)] = kv.slice(eq + 1);
    });
    return env;
  }

  private onWorkerReady(w: Worker): void {
    if (w.state !== 'starting') return;
    w.state = 'ready';
    w.readyAtMs = performance.now();
    publish(channels.workerReady, () => ({ worker: w }));
    if (this.stopping !== 'none') {
      this.retire(w, 'stop');
      return;
    }
    const pred = w.predecessor;
    // A successor takes the slot (and requests) as its predecessor retires; it finishes and exits.
    if (pred) this.retire(pred, pred.recycling ?? 'reload');
    const gen = this.table.genOf(w);
    if (this.booted && (gen.serving || pred) && gen.workers.get(w.id) === w) this.dispatcher.add(w);
  }

  /** `w` gives up its slot and takes no more requests (a ready successor of its own takes over). */
  private letGo(w: Worker, reason: WorkerExitReason): void {
    const promoted = this.table.release(w);
    if (promoted?.state === 'ready') this.dispatcher.add(promoted);
    w.state = 'retiring';
    w.retireReason = reason;
    this.dispatcher.remove(w);
  }

  /** A worker process exited: fail its requests, update the table, refill its slot. */
  private reap(w: Worker, exit: WorkerExit): void {
    const gen = this.table.genOf(w);
    const wasReady = w.readyAtMs > 0;
    const prev = w.state;
    const pred = w.predecessor;
    const reason: WorkerExitReason = w.retireReason ?? exit.recycled ?? (wasReady ? 'crash' : 'boot-failure');
    if (prev !== 'retiring') this.letGo(w, reason);
    w.state = 'dead';
    this.table.forget(w);
    if (w.process.channel.inflight > 0) w.process.channel.failAll(502, 'the worker died');
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    if (prev === 'retiring' || exit.recycled)
      this.log.info(`tsgi: worker ${w.id} (pid ${w.pid}) exited (${reason}, ${how})`);
    else
      this.log.error(
        `tsgi: worker ${w.id} (pid ${w.pid}) died (${how})${wasReady ? '' : ' before it was ready'}`,
      );
    publish(channels.workerExit, () => ({ worker: w, exit, reason }));
    if (reason === 'crash' || reason === 'boot-failure') this.backOff(w, pred);
    this.manageWorkers();
    if (this.stopping === 'none' && this.booted) this.failQueuedIfNoneComing();
    this.maybeDropGeneration(gen);
    this.maybeExit();
  }

  /** Respawn backoff: deaths soon after spawn in a row delay the next spawn of that slot. */
  private backOff(w: Worker, pred: Worker | null): void {
    const slot = this.table.slot(w.id);
    const now = performance.now();
    slot.fastDeaths = now - w.spawnedAtMs < FAST_DEATH_MS ? slot.fastDeaths + 1 : 0;
    const delay = respawnDelayMs(slot.fastDeaths);
    slot.notBeforeMs = now + delay;
    if (pred) {
      // A successor that failed to start: the predecessor keeps serving; try again later.
      pred.recycleNotBeforeMs = slot.notBeforeMs + MASTER_CYCLE_MS;
      pred.recycling = null;
      this.log.warn(
        `tsgi: the replacement of worker ${pred.id} (pid ${pred.pid}) failed to start; it keeps serving`,
      );
    } else if (delay > 0 && this.table.genOf(w) === this.table.current && this.booted)
      this.log.warn(
        `tsgi: worker ${w.id} died ${slot.fastDeaths} time(s) in a row soon after start; respawning in ${delay} ms`,
      );
  }

  /** When no worker is ready and none is starting, queued requests get 503 instead of waiting. */
  private failQueuedIfNoneComing(): void {
    if (this.dispatcher.queued === 0) return;
    if (this.workers().some((w) => w.state === 'ready' || w.state === 'starting')) return;
    this.dispatcher.failQueued(503, 'no worker is available');
  }

  /** Start a worker for every slot the current generation wants and no serving worker holds. */
  private manageWorkers(reason: WorkerSpawnReason = 'respawn'): void {
    const gen = this.table.current;
    if (!gen?.runner || !this.booted || this.stopping !== 'none') return;
    const now = performance.now();
    for (const id of this.table.missingSlots()) {
      const wait = this.table.slot(id).notBeforeMs - now;
      if (wait > 0) this.scheduleManage(wait);
      else this.spawnWorker(gen, id, reason);
    }
  }

  /** Run `manageWorkers` after `delayMs` (the earliest asked-for time wins). */
  private scheduleManage(delayMs: number): void {
    const at = performance.now() + delayMs;
    if (this.manageTimer && at >= this.manageAtMs) return;
    if (this.manageTimer) clearTimeout(this.manageTimer);
    this.manageAtMs = at;
    this.manageTimer = setTimeout(() => {
      this.manageTimer = null;
      this.manageAtMs = Number.POSITIVE_INFINITY;
      this.manageWorkers();
    }, delayMs);
  }

  private mercyMs(): number {
    return (this.table.current?.core['worker-reload-mercy'] ?? 60) * 1000;
  }

  // ---- requests ----

  private onRequestDone(w: Worker, req: TsgiRequest, outcome: StreamOutcome): void {
    this.totalRequests++;
    w.requests++;
    const durationMs = performance.now() - req.startedAtMs;
    w.busyMs += durationMs;
    w.txBytes += req.bytesOut;
    if (outcome === 'worker-error') w.exceptions++;
    publish(channels.requestDone, () => ({ req, worker: w, outcome, durationMs }));
    if (w.state === 'retiring') {
      if (w.process.channel.inflight === 0) w.process.channel.close();
    } else if (w.state === 'ready') this.checkAfterRequest(w);
    if (this.stopping === 'graceful') this.continueGracefulStop();
  }

  /** max-requests, reload-on-rss and reload-on-as, checked after each request (uWSGI's place). */
  private checkAfterRequest(w: Worker): void {
    const limits = this.table.genOf(w).limits;
    const memory = needsMemory(limits);
    if (w.requestLimit === 0 && !memory) return;
    if (w.recycling || w.successor) return;
    const r = afterRequest(facts(w), memory ? memoryOf(w) : null, limits);
    if (r) this.recycle(w, r);
  }

  private onReject(depth: number, req: TsgiRequest): void {
    publish(channels.requestRejected, () => ({ req, status: 503, reason: 'queue-full' }));
    if (this.dispatcher.shouldLogReject(performance.now()))
      this.log.warn(
        `tsgi: request queue full (${depth} waiting, listen = ${this.table.current?.core.listen}); answering 503`,
      );
  }

  // ---- the master cycle: harakiri, limits, cheaper, touch files ----

  /** Once a second: harakiri, lifetime and evil memory limits, cheaper, touch files, old edges. */
  private cycle(): void {
    const gen = this.table.current;
    if (!gen || this.stopping === 'immediate') return;
    const now = performance.now();
    for (const hit of overdue<TsgiRequest, Worker>(this.workers(), now, gen.core.harakiri * 1000))
      this.harakiri(hit.worker, hit.req, hit.runningMs);
    for (const w of this.workers()) this.checkLimits(w);
    this.runCheaper(gen);
    const touched = this.services.pollTouches();
    if (touched) {
      const { opts, what } = TOUCH_RELOADS[touched.kind];
      this.log.info(`tsgi: ${touched.file} touched: ${what}`);
      void this.reload(opts);
    }
    for (const e of this.edges)
      if (![...gen.edges.values()].includes(e) && e.openConnections() === 0) this.edges.delete(e);
  }

  private checkLimits(w: Worker): void {
    if (w.state === 'dead' || w.harakiriAtMs > 0 || w.retireReason === 'rss') return;
    const limits = this.table.genOf(w).limits;
    const evilHit = needsEvilCheck(limits) ? evil(memoryOf(w), limits) : null;
    if (evilHit) this.evilReload(w, evilHit);
    else if (w.state === 'ready' && !w.recycling && !w.successor) {
      const r = periodic(facts(w), limits);
      if (r) this.recycle(w, r);
    }
  }

  /**
   * Replace a worker that reached a limit: its successor starts now and takes over when ready; the
   * worker keeps taking requests until then, and finishes the ones it has.
   */
  private recycle(w: Worker, r: Recycle): void {
    const gen = this.table.current;
    if (!gen?.runner || this.stopping !== 'none' || this.table.genOf(w) !== gen) return;
    if (performance.now() < w.recycleNotBeforeMs) return;
    w.recycling = r.reason;
    this.log.info(`tsgi: recycling worker ${w.id} (pid ${w.pid}): ${r.detail}`);
    publish(channels.workerRecycle, () => ({ worker: w, reason: r.reason, evil: false, detail: r.detail }));
    this.table.link(w, this.spawnWorker(gen, w.id, 'recycle', false));
  }

  /** evil-reload-on-rss/as: kill the worker now (its requests get 502); a replacement starts. */
  private evilReload(w: Worker, r: Recycle): void {
    this.log.warn(`*** EVIL RELOAD ON WORKER ${w.id} ${r.detail} (pid: ${w.pid}) ***`);
    publish(channels.workerRecycle, () => ({ worker: w, reason: r.reason, evil: true, detail: r.detail }));
    this.letGo(w, 'rss');
    w.process.kill('SIGKILL');
    this.manageWorkers('recycle');
  }

  /**
   * Harakiri: the request that ran too long gets 504 now, the worker gives up its slot (a
   * replacement starts at once) and is killed (gracefully first with harakiri-graceful-timeout; its
   * stack is logged first with harakiri-verbose). Its other requests get 502 when it dies.
   */
  private harakiri(w: Worker, req: TsgiRequest, runningMs: number): void {
    const core = this.table.genOf(w).core;
    const harakiriMs = this.table.current!.core.harakiri * 1000;
    w.harakiriAtMs = performance.now();
    w.harakiriCount++;
    this.table.slot(w.id).harakiris++;
    const uri = req.var('REQUEST_URI') || req.var('PATH_INFO');
    this.log.warn(`*** HARAKIRI ON WORKER ${w.id} (pid: ${w.pid}, try: 1) ***`);
    this.log.warn(
      `HARAKIRI: --- worker ${w.id} (pid: ${w.pid}) WAS managing request ${req.var('REQUEST_METHOD')} ${uri} for ${(runningMs / 1000).toFixed(2)} s (harakiri = ${harakiriMs / 1000} s) ---`,
    );
    publish(channels.workerHarakiri, () => ({ worker: w, req, runningMs, harakiriMs }));
    this.log.sink.flush(true); // before the worker's stack dump, which it writes to the log itself
    this.letGo(w, 'harakiri');
    w.process.channel.abort(req, {
      status: 504,
      detail: `the request ran longer than harakiri (${harakiriMs / 1000} s)`,
    });
    const plan = killPlan({
      verbose: core['harakiri-verbose'],
      gracefulTimeoutMs: core['harakiri-graceful-timeout'] * 1000,
      gracefulSignal: core['harakiri-graceful-signal'],
    });
    for (const step of plan) {
      const send = () => {
        if (w.state !== 'dead') w.process.kill(step.signal);
      };
      if (step.afterMs === 0) send();
      else setTimeout(send, step.afterMs).unref();
    }
    this.manageWorkers('respawn');
  }

  private runCheaper(gen: Generation): void {
    if (!gen.cheaper || !gen.runner || !this.booted || this.stopping !== 'none' || this.reloading) return;
    const holders = this.table.holders();
    const view = {
      active: holders.length,
      busy: holders.filter((w) => w.active.size > 0).length,
      queued: this.dispatcher.queued,
      min: gen.cheaper.min,
      max: gen.core.processes,
      step: gen.core['cheaper-step'],
      overload: gen.core['cheaper-overload'],
    };
    const algo = gen.core['cheaper-algo'];
    let delta = 0;
    if (algo === 'spare') {
      const d = spare(this.spareState, view);
      this.spareState = d.state;
      delta = d.delta;
    } else if (algo === 'backlog') delta = backlog(view);
    if (delta !== 0)
      this.setWorkerCount(gen, Math.max(view.min, Math.min(view.max, gen.processes + delta)), algo);
  }

  /** Change how many workers the current generation wants; removal retires the oldest idle one. */
  private setWorkerCount(gen: Generation, to: number, why: string): void {
    const from = gen.processes;
    if (to === from) return;
    gen.processes = to;
    this.log.info(
      `tsgi: ${why === 'manual' ? 'worker count' : `cheaper (${why})`}: ${from} → ${to} worker(s)`,
    );
    publish(channels.cheaper, () => ({ from, to, algo: why }));
    if (to > from) {
      this.manageWorkers(why === 'manual' ? 'manual' : 'cheaper');
      return;
    }
    for (let n = from - to; n > 0; n--) {
      const victim = this.cheapestWorker();
      if (victim) this.retire(victim, 'cheaper');
    }
  }

  /** The worker to retire when scaling down: the oldest idle slot holder, else the highest-numbered one. */
  private cheapestWorker(): Worker | null {
    const holders = this.table.holders().filter((w) => !w.successor);
    const idle = holders.filter((w) => w.active.size === 0).sort((a, b) => a.spawnedAtMs - b.spawnedAtMs);
    return idle[0] ?? holders.sort((a, b) => b.id - a.id)[0] ?? null;
  }

  // ---- reloads ----

  /** Replace every worker at once (SIGHUP, FIFO r/R/w/W, touch-reload, touch-workers-reload). */
  private async replaceAll(opts: ReloadOptions): Promise<void> {
    const old = this.table.current!;
    const reread = opts.rereadConfig ?? true;
    this.log.info(`tsgi: ${opts.brutal ? 'brutal' : 'graceful'} ${reread ? '' : 'workers '}reload requested`);
    let gen: Generation | null = null;
    const added: Listener[] = [];
    try {
      const config = reread ? this.opts.reloadConfig() : old.config;
      if (reread) for (const w of config.warnings) this.log.warn(`${formatOrigin(w.origin)}: ${w.message}`);
      gen = await createGeneration(old.n + 1, this.opts.registry, config, this.log);
      added.push(...(await this.listeners.bind(gen)));
      this.table.live.add(gen);
      // In cheaper mode the new generation starts with as many workers as serve now.
      if (gen.cheaper)
        gen.processes = Math.max(gen.cheaper.min, Math.min(gen.core.processes, this.table.holders().length));
      if (!(await this.startWorkers(gen, 'reload')))
        throw new TsgiError('TSGI_ERR_RELOAD_BOOT', 'the new workers could not load the app');
      if (this.stopping !== 'none')
        throw new TsgiError('TSGI_ERR_RELOAD_STOPPED', 'the instance is stopping');
    } catch (err) {
      this.log.error(`tsgi: reload abandoned, still serving the previous config: ${(err as Error).message}`);
      if (gen) this.discardGeneration(gen, added);
      this.reloadFailed(old, (err as Error).message);
      return;
    }
    this.switchTo(gen, opts.brutal ?? false);
    this.log.info(`tsgi: reload done (generation ${gen.n}, ${gen.workers.size} worker(s))`);
    publish(channels.lifecycle, () => ({
      phase: 'reloaded',
      generation: gen.n,
      listeners: this.boundInfos(),
    }));
  }

  /**
   * Chain reload (FIFO `c`, touch-chain-reload): a new generation with the same config imports the
   * app again; its workers replace the old ones one at a time, each old one retiring only after its
   * successor is ready. If the first successor cannot load the app, nothing changes; later failures
   * are retried with backoff (the old worker keeps serving meanwhile), up to a limit.
   */
  private async chainReload(): Promise<void> {
    const old = this.table.current!;
    if (!old.runner) return;
    this.log.info('tsgi: chain reload requested');
    let next: Generation;
    try {
      next = await createGeneration(old.n + 1, this.opts.registry, old.config, this.log);
    } catch (err) {
      this.log.error(`tsgi: chain reload abandoned: ${(err as Error).message}`);
      this.reloadFailed(old, (err as Error).message);
      return;
    }
    this.table.live.add(next);
    next.processes = old.processes;
    let replaced = 0;
    let failures = 0;
    while (this.stopping === 'none' && old.workers.size > 0) {
      const holders = [...old.workers.values()].sort((a, b) => a.id - b.id);
      const victim = holders.find((w) => !w.successor);
      if (!victim) {
        // Every remaining old worker is already being replaced (recycling): wait for those.
        await settled(holders[0]!.successor!.process.ready);
        continue;
      }
      const succ = this.spawnWorker(next, victim.id, 'chain-reload');
      this.table.link(victim, succ);
      if (await settled(succ.process.ready)) {
        if (replaced++ === 0) this.makeCurrent(next);
        failures = 0;
        this.log.info(`tsgi: chain reload: worker ${succ.id} replaced (${replaced} done)`);
        continue;
      }
      if (replaced === 0) {
        this.log.error(
          'tsgi: chain reload abandoned: the new worker could not load the app; still serving the old one',
        );
        this.discardGeneration(next, []);
        this.reloadFailed(old, 'the new worker could not load the app');
        return;
      }
      if (++failures >= CHAIN_MAX_FAILURES) {
        this.log.error(
          `tsgi: chain reload stopped after ${failures} failed workers; ${old.workers.size} old worker(s) left`,
        );
        break;
      }
      await new Promise((r) => setTimeout(r, respawnDelayMs(failures)));
    }
    if (old.workers.size === 0) old.serving = false;
    this.maybeDropGeneration(old);
    if (this.table.current !== next) return;
    this.log.info(`tsgi: chain reload done (generation ${next.n}, ${replaced} worker(s) replaced)`);
    publish(channels.lifecycle, () => ({
      phase: 'chain-reloaded',
      generation: next.n,
      listeners: this.boundInfos(),
    }));
  }

  private reloadFailed(old: Generation, detail: string): void {
    publish(channels.lifecycle, () => ({ phase: 'reload-failed', generation: old.n, detail }));
  }

  /** Switch to a fully started generation: it takes every request; all older workers retire. */
  private switchTo(gen: Generation, brutal: boolean): void {
    const previous = [...this.table.live].filter((g) => g !== gen);
    this.makeCurrent(gen);
    for (const g of previous) {
      g.serving = false;
      for (const w of generationWorkers(g)) {
        this.retire(w, 'reload');
        if (brutal) w.process.kill('SIGKILL');
      }
      this.maybeDropGeneration(g);
    }
  }

  /**
   * `gen` becomes the current generation: new connections reach its edges, its ready workers serve,
   * listeners it no longer has are closed, the services follow its config.
   */
  private makeCurrent(gen: Generation): void {
    this.table.current = gen;
    gen.serving = true;
    this.dispatcher.setMaxQueue(gen.core.listen);
    for (const e of gen.edges.values()) this.edges.add(e);
    for (const w of gen.workers.values()) if (w.state === 'ready' && !w.predecessor) this.dispatcher.add(w);
    this.listeners.wire(gen, this.handle);
    this.listeners.closeRemoved(gen);
    this.services.update(gen, this.workerEnv(gen));
  }

  /** Kill the workers of a generation that will never serve (a failed reload). */
  private discardGeneration(gen: Generation, added: Listener[]): void {
    for (const w of generationWorkers(gen)) {
      this.letGo(w, 'reload');
      w.process.kill('SIGKILL');
    }
    this.listeners.close(added);
    if (!this.table.live.has(gen) || this.table.dropIfEmpty(gen)) void gen.plugins.cleanup();
  }

  private maybeDropGeneration(gen: Generation): void {
    if (this.table.dropIfEmpty(gen)) void gen.plugins.cleanup();
  }

  private fifoCommand(c: FifoCommand): void {
    this.log.info(`tsgi: master-fifo command: ${c}`);
    const actions: Record<FifoCommand, () => unknown> = {
      reload: () => this.reload(),
      'reload-brutal': () => this.reload({ brutal: true }),
      'workers-reload': () => this.reload({ rereadConfig: false }),
      'workers-reload-brutal': () => this.reload({ rereadConfig: false, brutal: true }),
      'chain-reload': () => this.reload({ chain: true, rereadConfig: false }),
      stop: () => this.stop(true),
      'stop-now': () => this.stop(false),
      'add-worker': () => this.addWorker(),
      'remove-worker': () => this.removeWorker(),
      stats: () => this.logWorkerTable(),
      pidfiles: () => this.pidfiles.rewrite(),
    };
    actions[c]();
  }

  // ---- stopping ----

  private continueGracefulStop(): void {
    if (this.stopping !== 'graceful') return;
    if (this.dispatcher.queued > 0 && !this.workers().some((w) => w.state === 'ready'))
      this.dispatcher.failQueued(503, 'the instance is stopping');
    if (this.dispatcher.queued > 0) return;
    for (const w of this.workers()) if (w.state === 'ready' || w.state === 'starting') this.retire(w, 'stop');
    this.maybeExit();
  }

  private fatal(message: string): void {
    this.log.error(`tsgi: ${message}`);
    this.exitCode = 1;
    this.stop(false);
  }

  private maybeExit(): void {
    if (this.stopping === 'none' || this.exited) return;
    if (this.workers().some((w) => w.state !== 'dead')) return;
    if (this.services.daemonsRunning > 0) return;
    this.exited = true;
    if (this.stopTimer) clearTimeout(this.stopTimer);
    if (this.manageTimer) clearTimeout(this.manageTimer);
    this.services.close(this.vacuum);
    this.listeners.closeAll(this.vacuum);
    const gens = [...this.table.live];
    this.table.live.clear();
    void Promise.all(gens.map((g) => g.plugins.cleanup())).finally(() => {
      for (const e of this.edges) e.destroyAll();
      for (const g of gens) for (const e of g.edges.values()) e.destroyAll();
      if (this.vacuum) this.pidfiles.remove();
      this.log.info(`tsgi: stopped (exit code ${this.exitCode})`);
      this.opts.onExit(this.exitCode);
    });
  }
}

/** What the recycling policy looks at for one worker. */
function facts(w: Worker): WorkerFacts {
  return {
    id: w.id,
    requests: w.requests,
    requestLimit: w.requestLimit,
    livedMs: performance.now() - w.spawnedAtMs,
  };
}

/** A worker's memory from /proc. */
function memoryOf(w: Worker): Memory {
  const m = processMemory(w.pid);
  return { rssBytes: m.rss, vszBytes: m.vsz };
}

/** Whether a promise fulfils (true) or rejects (false). */
function settled(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => true,
    () => false,
  );
}
