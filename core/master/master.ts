import { unlinkSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { InstanceConfig } from '../config/resolve.js';
import { Dispatcher } from '../dispatch/dispatcher.js';
import { formatOrigin, TsgiError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { defaultRequestLine } from '../log/request-log.js';
import {
  bindListener,
  closeListener,
  type Listener,
  listenerKeys,
  listeningLine,
  somaxconn,
} from '../net/listeners.js';
import { primaryGid, resolveGid, resolveUid } from '../net/users.js';
import { runRequestHooks } from '../plugin/hooks.js';
import type { PluginRegistry } from '../plugin/registry.js';
import type { ListenerInfo, RequestHandler, StreamOutcome, WorkerExit } from '../plugin/types.js';
import { postBuffer } from '../request/post-buffering.js';
import type { TsgiRequest } from '../request/request.js';
import { type ResponseSink, sendError } from '../request/sink.js';
import { channels, publish, type WorkerExitReason } from './events.js';
import { createGeneration, type Generation } from './generation.js';
import { FAST_DEATH_MS, respawnDelayMs } from './respawn.js';
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

type StopMode = 'none' | 'graceful' | 'immediate';

/**
 * The instance master: binds listeners, starts and supervises workers, dispatches requests, reloads
 * gracefully and stops cleanly. One per `tsgi` process.
 *
 * Invariants: the master never exits while a worker it started is alive (it waits for their exit);
 * every request handed to `handle` is answered exactly once; a worker that dies costs only its own
 * in-flight requests (502), and its slot is respawned with capped backoff.
 */
export class Master {
  private gen: Generation | null = null;
  /** Generations whose workers are still alive (the current one and retiring ones). */
  private readonly live = new Set<Generation>();
  private readonly listeners = new Map<string, Listener>();
  private readonly dispatcher: Dispatcher;
  private readonly log: Logger;
  private stopping: StopMode = 'none';
  private reloading = false;
  private booted = false;
  private totalRequests = 0;
  private readonly fastDeaths = new Map<number, number>();
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private stopTimer: NodeJS.Timeout | null = null;
  private pidfiles: string[] = [];
  private vacuum = false;
  private exitCode = 0;
  private exited = false;

  constructor(private readonly opts: MasterOptions) {
    this.log = opts.log;
    this.dispatcher = new Dispatcher(
      1024,
      (w, req, outcome) => this.onRequestDone(w, req, outcome),
      (depth) => this.onReject(depth),
    );
  }

  /** The request entry point given to every edge: request hooks, then a worker. */
  readonly handle: RequestHandler = (req: TsgiRequest, sink: ResponseSink): void => {
    const gen = this.gen;
    if (!gen) {
      sendError(sink, 503, 'instance is not ready');
      return;
    }
    if (gen.hooks.length > 0) runRequestHooks(gen.hooks, req, sink, this.dispatch);
    else this.dispatch(req, sink);
  };

  /** After the hooks: a worker of the current generation (queued when all are busy). */
  private readonly dispatch: RequestHandler = (req: TsgiRequest, sink: ResponseSink): void => {
    const gen = this.gen;
    if (!gen) {
      sendError(sink, 503, 'instance is not ready');
      return;
    }
    if (!gen.runner) {
      sendError(sink, 404, 'no app is configured on this instance');
      return;
    }
    const buffering = gen.core['post-buffering'];
    if (buffering > 0 && req.body) postBuffer(req, sink, buffering, (r) => this.dispatcher.submit(r, sink));
    else this.dispatcher.submit(req, sink);
  };

  /** The current generation (config, plugins, workers), for stats and lifecycle plugins. */
  get current(): Generation | null {
    return this.gen;
  }

  /** Every live worker, current generation first. */
  workers(): Worker[] {
    const out: Worker[] = [];
    if (this.gen) out.push(...this.gen.workers.values());
    for (const g of this.live) if (g !== this.gen) out.push(...g.workers.values());
    return out;
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
    return [...this.listeners.values()];
  }

  private boundInfos(): ListenerInfo[] {
    return this.boundListeners().map((l) => l.info);
  }

  /**
   * First boot: plugins, listeners, pidfile, privileges, workers. Resolves once every worker is ready.
   * On failure logs why, cleans up and calls `onExit(1)`.
   */
  async boot(config: InstanceConfig): Promise<void> {
    for (const w of config.warnings) this.log.warn(`${formatOrigin(w.origin)}: ${w.message}`);
    try {
      const gen = await createGeneration(1, this.opts.registry, config, this.log);
      this.gen = gen;
      this.live.add(gen);
      this.dispatcher.setMaxQueue(gen.core.listen);
      this.vacuum = gen.core.vacuum;
      await this.bindListeners(gen);
      this.writePidfile(gen.core.pidfile);
      this.dropPrivileges(gen);
      this.writePidfile(gen.core.pidfile2);
      if (gen.runner)
        this.log.info(
          `tsgi: serving ${gen.runner.app} with ${gen.processes} worker(s) × ${gen.runner.slots} slot(s)`,
        );
      const ok = await this.startWorkers(gen);
      if (!ok) {
        this.fatal('the app could not be loaded (see the worker output above); exiting');
        return;
      }
      this.booted = true;
      for (const w of gen.workers.values()) if (w.state === 'ready') this.dispatcher.add(w);
      this.wireListeners(gen);
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
   * Graceful reload (SIGHUP): re-read the config; on error keep serving the old one. Bind new
   * listeners, keep unchanged ones, close removed ones; start new workers and switch to them once all
   * are ready; the old workers finish their requests and exit. If the new workers cannot load the
   * app, the reload is abandoned and the old workers keep serving.
   */
  async reload(): Promise<void> {
    if (this.reloading || this.stopping !== 'none' || !this.gen) return;
    this.reloading = true;
    const old = this.gen;
    this.log.info('tsgi: graceful reload requested');
    let gen: Generation | null = null;
    const added: Listener[] = [];
    try {
      const config = this.opts.reloadConfig();
      for (const w of config.warnings) this.log.warn(`${formatOrigin(w.origin)}: ${w.message}`);
      gen = await createGeneration(old.n + 1, this.opts.registry, config, this.log);
      added.push(...(await this.bindListeners(gen)));
      this.live.add(gen);
      if (!(await this.startWorkers(gen)))
        throw new TsgiError('TSGI_ERR_RELOAD_BOOT', 'the new workers could not load the app');
    } catch (err) {
      this.log.error(`tsgi: reload abandoned, still serving the previous config: ${(err as Error).message}`);
      if (gen) await this.discardGeneration(gen, added);
      this.reloading = false;
      publish(channels.lifecycle, () => ({
        phase: 'reload-failed',
        generation: old.n,
        detail: (err as Error).message,
      }));
      return;
    }
    this.switchTo(gen, old);
    this.reloading = false;
    this.log.info(`tsgi: reload done (generation ${gen.n}, ${gen.workers.size} worker(s))`);
    publish(channels.lifecycle, () => ({
      phase: 'reloaded',
      generation: gen.n,
      listeners: this.boundInfos(),
    }));
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
    publish(channels.lifecycle, () => ({ phase: 'stopping', generation: this.gen?.n ?? 0 }));
    for (const t of this.respawnTimers) clearTimeout(t);
    this.respawnTimers.clear();
    if (first) {
      for (const l of this.listeners.values()) closeListener(l, this.vacuum, this.log);
      this.listeners.clear();
      for (const g of this.live) for (const e of g.edges.values()) e.drain();
    }
    if (graceful) {
      const mercy = (this.gen?.core['reload-mercy'] ?? 60) * 1000;
      this.stopTimer = setTimeout(() => {
        this.log.warn(`tsgi: requests still running after reload-mercy (${mercy / 1000} s); stopping now`);
        this.stop(false);
      }, mercy);
      this.stopTimer.unref();
      this.continueGracefulStop();
    } else {
      this.dispatcher.failQueued(503, 'the instance is stopping');
      for (const w of this.workers()) if (w.state !== 'dead') w.process.kill('SIGKILL');
      for (const g of this.live) for (const e of g.edges.values()) e.destroyAll();
    }
    this.maybeExit();
  }

  /** Log one line per worker: id, pid, state, requests, in-flight (SIGUSR1). */
  logWorkerTable(): void {
    this.log.info(`tsgi: ${this.totalRequests} requests, ${this.dispatcher.queued} queued`);
    for (const w of this.workers())
      this.log.info(
        `tsgi: worker ${w.id} pid ${w.pid} gen ${w.generation} ${w.state} requests ${w.requests} in-flight ${w.active.size}`,
      );
  }

  /** Add one worker to the current generation (SIGTTIN). */
  addWorker(): void {
    const gen = this.gen;
    if (!gen?.runner || this.stopping !== 'none') return;
    gen.processes++;
    this.spawnWorker(gen, gen.processes);
  }

  /** Retire the highest-numbered worker of the current generation (SIGTTOU); never the last one. */
  removeWorker(): void {
    const gen = this.gen;
    if (!gen || gen.processes <= 1 || this.stopping !== 'none') return;
    const w = gen.workers.get(gen.processes);
    gen.processes--;
    if (w) this.retire(w, 'cheaper');
  }

  // ---- workers ----

  /** Spawn every worker of `gen`; resolves true when all are ready, false if any failed to boot. */
  private async startWorkers(gen: Generation): Promise<boolean> {
    const started: Promise<void>[] = [];
    for (let id = 1; id <= gen.processes; id++) started.push(this.spawnWorker(gen, id).process.ready);
    const results = await Promise.allSettled(started);
    return results.every((r) => r.status === 'fulfilled');
  }

  private spawnWorker(gen: Generation, id: number, previous?: Worker): Worker {
    const runner = gen.runner!;
    const proc = runner.spawn({
      workerId: id,
      env: this.workerEnv(gen),
      log: this.log,
      logFd: this.log.sink.fd,
    });
    const w = new Worker(id, gen.n, runner.slots, proc);
    if (previous) {
      w.respawnCount = previous.respawnCount + 1;
      w.harakiriCount = previous.harakiriCount;
    }
    gen.workers.set(id, w);
    this.log.info(`tsgi: spawned worker ${id} (pid ${proc.pid}, generation ${gen.n})`);
    publish(channels.workerSpawn, () => ({ worker: w }));
    proc.onExit((exit) => this.onWorkerExit(gen, w, exit));
    proc.ready.then(
      () => this.onWorkerReady(gen, w),
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

  private onWorkerReady(gen: Generation, w: Worker): void {
    if (w.state !== 'starting') return;
    w.state = 'ready';
    w.readyAtMs = performance.now();
    publish(channels.workerReady, () => ({ worker: w }));
    if (this.stopping !== 'none') {
      this.retire(w, 'stop');
      return;
    }
    if (gen === this.gen && this.booted) this.dispatcher.add(w);
  }

  private onWorkerExit(gen: Generation, w: Worker, exit: WorkerExit): void {
    const wasReady = w.readyAtMs > 0;
    const prev = w.state;
    w.state = 'dead';
    this.dispatcher.remove(w);
    if (w.process.channel.inflight > 0) w.process.channel.failAll(502, 'the worker died');
    if (gen.workers.get(w.id) === w) gen.workers.delete(w.id);
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    const reason: WorkerExitReason =
      (w.retireReason as WorkerExitReason | null) ?? (wasReady ? 'crash' : 'boot-failure');
    if (prev === 'retiring') this.log.info(`tsgi: worker ${w.id} (pid ${w.pid}) exited (${reason}, ${how})`);
    else
      this.log.error(
        `tsgi: worker ${w.id} (pid ${w.pid}) died (${how})${wasReady ? '' : ' before it was ready'}`,
      );
    publish(channels.workerExit, () => ({ worker: w, exit, reason }));
    if (this.stopping === 'none' && gen === this.gen && prev !== 'retiring' && this.booted)
      this.scheduleRespawn(gen, w);
    else if (
      this.stopping === 'none' &&
      gen === this.gen &&
      prev === 'retiring' &&
      w.id <= gen.processes &&
      !gen.workers.has(w.id)
    )
      this.spawnWorker(gen, w.id, w);
    this.maybeDropGeneration(gen);
    this.maybeExit();
  }

  private scheduleRespawn(gen: Generation, w: Worker): void {
    const lived = performance.now() - w.spawnedAtMs;
    const n = lived < FAST_DEATH_MS ? (this.fastDeaths.get(w.id) ?? 0) + 1 : 0;
    this.fastDeaths.set(w.id, n);
    const delay = respawnDelayMs(n);
    if (delay > 0)
      this.log.warn(
        `tsgi: worker ${w.id} died ${n} time(s) in a row soon after start; respawning in ${delay} ms`,
      );
    if (![...gen.workers.values()].some((x) => x.state === 'ready'))
      this.dispatcher.failQueued(503, 'no worker is available');
    const t = setTimeout(() => {
      this.respawnTimers.delete(t);
      if (this.stopping === 'none' && gen === this.gen && !gen.workers.has(w.id) && w.id <= gen.processes)
        this.spawnWorker(gen, w.id, w);
    }, delay);
    this.respawnTimers.add(t);
  }

  /**
   * Take a worker out of rotation; it finishes its requests and exits when the master closes its
   * transport. Killed after `worker-reload-mercy` if it has not exited.
   */
  retire(w: Worker, reason: WorkerExitReason): void {
    if (w.state === 'retiring' || w.state === 'dead') return;
    const wasStarting = w.state === 'starting';
    w.state = 'retiring';
    w.retireReason = reason;
    this.dispatcher.remove(w);
    if (wasStarting) {
      w.process.kill('SIGTERM');
    } else if (w.process.channel.inflight === 0) w.process.channel.close();
    const mercyMs = (this.gen?.core['worker-reload-mercy'] ?? 60) * 1000;
    const t = setTimeout(() => {
      if (w.state === 'dead') return;
      this.log.warn(`tsgi: worker ${w.id} (pid ${w.pid}) still busy after worker-reload-mercy; killing it`);
      w.process.kill('SIGKILL');
    }, mercyMs);
    t.unref();
  }

  private onRequestDone(w: Worker, req: TsgiRequest, outcome: StreamOutcome): void {
    this.totalRequests++;
    w.requests++;
    const durationMs = performance.now() - req.startedAtMs;
    w.busyMs += durationMs;
    w.txBytes += req.bytesOut;
    if (req.status >= 500) w.exceptions++;
    const gen = this.gen;
    if (gen && !gen.core['disable-logging'])
      this.log.request(
        defaultRequestLine(req, durationMs, {
          workerPid: w.pid,
          workerRequests: w.requests,
          totalRequests: this.totalRequests,
        }),
      );
    publish(channels.requestDone, () => ({ req, worker: w, outcome, durationMs }));
    if (w.state === 'retiring' && w.process.channel.inflight === 0) w.process.channel.close();
    if (this.stopping === 'graceful') this.continueGracefulStop();
  }

  private onReject(depth: number): void {
    const now = performance.now();
    if (this.dispatcher.shouldLogReject(now))
      this.log.warn(
        `tsgi: request queue full (${depth} waiting, listen = ${this.gen?.core.listen}); answering 503`,
      );
  }

  // ---- generations and listeners ----

  private switchTo(gen: Generation, old: Generation): void {
    this.gen = gen;
    this.dispatcher.setMaxQueue(gen.core.listen);
    this.wireListeners(gen);
    const wanted = new Set(listenerKeys(gen.listens));
    for (const [key, l] of this.listeners) {
      if (!wanted.has(key)) {
        this.log.info(`tsgi: closing listener ${l.info.proto}://${l.info.bound} (removed from the config)`);
        closeListener(l, true, this.log);
        this.listeners.delete(key);
      }
    }
    for (const w of gen.workers.values()) if (w.state === 'ready') this.dispatcher.add(w);
    for (const w of old.workers.values()) this.retire(w, 'reload');
    for (const e of old.edges.values()) if (![...gen.edges.values()].includes(e)) e.drain();
    this.maybeDropGeneration(old);
  }

  private async discardGeneration(gen: Generation, added: Listener[]): Promise<void> {
    for (const w of gen.workers.values()) {
      w.retireReason = 'reload';
      w.state = 'retiring';
      w.process.kill('SIGKILL');
    }
    for (const l of added) {
      closeListener(l, true, this.log);
      this.listeners.delete(l.key);
    }
    if (gen.workers.size === 0) {
      this.live.delete(gen);
      await gen.plugins.cleanup();
    }
  }

  private maybeDropGeneration(gen: Generation): void {
    if (gen === this.gen || gen.workers.size > 0 || !this.live.has(gen)) return;
    this.live.delete(gen);
    void gen.plugins.cleanup();
  }

  /** Bind the listeners of `gen` that are not bound yet; returns the new ones. */
  private async bindListeners(gen: Generation): Promise<Listener[]> {
    const cap = somaxconn();
    let backlog = gen.core.listen;
    if (cap !== null && backlog > cap) {
      this.log.warn(
        `tsgi: listen = ${backlog} is above net.core.somaxconn (${cap}); the kernel backlog is capped at ${cap}`,
      );
      backlog = cap;
    }
    const chmod = gen.config.has('chmod-socket') ? gen.core['chmod-socket'] : null;
    const chown = this.chownSpec(gen);
    const added: Listener[] = [];
    try {
      const keys = listenerKeys(gen.listens);
      for (const [i, spec] of gen.listens.entries()) {
        const key = keys[i]!;
        if (this.listeners.has(key)) continue;
        const l = await bindListener(spec, key, { backlog, chmod, chown });
        this.listeners.set(key, l);
        added.push(l);
        this.log.info(listeningLine(l.info));
      }
    } catch (err) {
      for (const l of added) {
        closeListener(l, true, this.log);
        this.listeners.delete(l.key);
      }
      throw err;
    }
    return added;
  }

  private chownSpec(gen: Generation): { uid: number; gid: number } | null {
    const spec = gen.core['chown-socket'];
    if (!spec) return null;
    const origin = gen.config.origin('chown-socket');
    const [u, g] = spec.split(':');
    const uid = resolveUid(u!, 'chown-socket', origin);
    const gid = g ? resolveGid(g, 'chown-socket', origin) : (primaryGid(uid) ?? uid);
    return { uid, gid };
  }

  /** Point every listener of `gen` at its edge (new connections go to the new generation's edges). */
  private wireListeners(gen: Generation): void {
    const keys = listenerKeys(gen.listens);
    for (const [i, spec] of gen.listens.entries()) {
      const l = this.listeners.get(keys[i]!);
      const edge = gen.edges.get(spec.proto);
      if (!l || !edge) continue;
      l.server.removeAllListeners('connection');
      l.server.on('connection', (socket) => edge.accept(socket, l.info, this.handle));
    }
  }

  // ---- process-level ----

  private writePidfile(path: string | null): void {
    if (!path) return;
    writeFileSync(path, `${process.pid}\n`);
    this.pidfiles.push(path);
  }

  private dropPrivileges(gen: Generation): void {
    const { uid: user, gid: group } = gen.core;
    if (!user && !group) return;
    if (process.getuid?.() !== 0) {
      this.log.warn('tsgi: uid/gid given but not running as root; not changing user');
      return;
    }
    const uid = user ? resolveUid(user, 'uid', gen.config.origin('uid')) : null;
    const gid = group
      ? resolveGid(group, 'gid', gen.config.origin('gid'))
      : uid !== null
        ? primaryGid(uid)
        : null;
    if (gid !== null) {
      process.setgroups?.([gid]);
      process.setgid?.(gid);
    }
    if (uid !== null) process.setuid?.(uid);
    this.log.info(`tsgi: running as uid ${process.getuid?.()} gid ${process.getgid?.()}`);
  }

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
    this.exited = true;
    if (this.stopTimer) clearTimeout(this.stopTimer);
    for (const l of this.listeners.values()) closeListener(l, this.vacuum, this.log);
    this.listeners.clear();
    const gens = [...this.live];
    this.live.clear();
    void Promise.all(gens.map((g) => g.plugins.cleanup())).finally(() => {
      for (const g of gens) for (const e of g.edges.values()) e.destroyAll();
      if (this.vacuum)
        for (const p of this.pidfiles)
          try {
            unlinkSync(p);
          } catch {}
      this.log.info(`tsgi: stopped (exit code ${this.exitCode})`);
      this.opts.onExit(this.exitCode);
    });
  }
}
