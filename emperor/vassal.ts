import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../core/log/logger.js';
import { publish } from '../core/master/events.js';
import { emperorChannels } from './events.js';
import { type Identity, TSGI_CLI } from './launch.js';
import {
  EMPEROR_ENV,
  type EmperorMessage,
  type ListenerAddress,
  type MetricJSON,
  parseVassalMessage,
  type QueryAnswer,
  type QueryWhat,
  type VassalMessage,
} from './messages.js';
import type { VassalSpec } from './scanner.js';

/**
 * A vassal's state in the emperor (uWSGI's words):
 * `spawning` (process started, not loyal yet) → `loyal` (every worker ready, listeners accepting) ⇄
 * `reloading` (graceful reload under way); `cursed` (asked to stop, killed after the curse
 * tolerance); `blacklisted` (failed before becoming loyal, waiting for its delay); `refused` (not
 * started: tyrant rules, bad identity); `stopped` (stopped by an operator from the dashboard, kept
 * until started again or its config disappears).
 */
export type VassalState =
  | 'spawning'
  | 'loyal'
  | 'reloading'
  | 'cursed'
  | 'blacklisted'
  | 'refused'
  | 'stopped';

/** Every state, for metrics and the status table. */
export const VASSAL_STATES: readonly VassalState[] = [
  'spawning',
  'loyal',
  'reloading',
  'cursed',
  'blacklisted',
  'refused',
  'stopped',
];

/** How a vassal process ended. */
export interface VassalExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Epoch seconds. */
  readonly atS: number;
}

/** Where a vassal's stdout and stderr go: a descriptor it inherits, or a function fed its output. */
export type VassalOutput = number | ((v: Vassal, chunk: Buffer) => void);

/** What a vassal tells the emperor about. */
export interface VassalEvents {
  onLoyal(v: Vassal): void;
  onExit(v: Vassal, exit: VassalExit): void;
}

const nowS = () => Math.floor(Date.now() / 1000);

/**
 * One vassal: its latest spec, its `tsgi` process (when running), its place in the state machine and
 * the bookkeeping uWSGI's emperor stats show. It speaks the typed protocol of `messages.ts` over the
 * process's IPC channel; decisions (respawn, blacklist, stop) belong to the emperor.
 *
 * Invariant: at most one process per vassal; `proc` is null in `blacklisted`, `refused` and `stopped`.
 * Each change of state or process is published on `tsgi:emperor:vassal` (see `events.ts`).
 */
export class Vassal {
  private current: VassalState = 'spawning';
  proc: ChildProcess | null = null;
  /** An operator stopped it: once its process is gone it stays `stopped` (not respawned). */
  held = false;
  /** Every worker ready and listeners accepting, in the current process. */
  loyal = false;
  /** The process started and reported on the channel (uWSGI's `ready`). */
  ready = false;
  identity: Identity = { uid: null, gid: null };
  listeners: readonly ListenerAddress[] = [];
  /** Its consoles as it reported them (`tsgi-emperor console NAME` attaches to the first). */
  consoles: readonly ListenerAddress[] = [];
  /** The vassal's own graceful-stop bound, seconds (from its `loyal` message). */
  mercyS = 0;
  /** Spawns and reloads after the first start (uWSGI's `respawns`). */
  respawns = 0;
  lastExit: VassalExit | null = null;
  /** A spec to start once the current process is gone (owner changed, removed and re-added). */
  successor: VassalSpec | null = null;
  /** Epoch seconds, as uWSGI's stats keys (`born` is the config's mtime when first seen). */
  readonly bornS: number;
  readonly firstRunS = nowS();
  lastRunS = 0;
  /** Epoch seconds when the current process started (0: none). */
  startedAtS = 0;
  lastLoyalS = 0;
  lastReadyS = 0;
  lastHeartbeatS = 0;
  cursedAtS = 0;
  /** Monotonic ms of the last heartbeat (0: none yet in this process). */
  lastHeartbeatAtMs = 0;
  /** Timer for a delayed start (blacklist) or the curse tolerance. */
  timer: NodeJS.Timeout | null = null;
  /** The refusal already logged for the current spec version. */
  refusal: string | null = null;
  /** A reload asked for while another runs or before loyalty: null, or whether it is a chain reload. */
  private reloadPending: { chain: boolean } | null = null;
  private outbox: EmperorMessage[] = [];
  private nextRequestId = 1;
  /** Callers waiting for a `metrics` or `answer` message, by request id (null: no answer). */
  private readonly waiters = new Map<number, (m: VassalMessage | null) => void>();

  constructor(
    public spec: VassalSpec,
    private readonly events: VassalEvents,
    private readonly log: Logger,
  ) {
    this.bornS = spec.mtimeS;
  }

  get name(): string {
    return this.spec.name;
  }

  get state(): VassalState {
    return this.current;
  }

  set state(next: VassalState) {
    if (next === this.current) return;
    const previous = this.current;
    this.current = next;
    publish(emperorChannels.vassal, () => ({ vassal: this, previous }));
  }

  get pid(): number {
    return this.proc?.pid ?? 0;
  }

  /**
   * Start the vassal's `tsgi` process in its own process group (so a curse can kill its whole tree),
   * with the IPC channel on fd 3 and its output on the emperor's log fd (a number) or piped to
   * `output` (a function: the dashboard's log tail).
   */
  spawn(args: readonly string[], identity: Identity, output: VassalOutput): void {
    this.identity = identity;
    this.loyal = this.ready = false;
    this.reloadPending = null;
    this.lastHeartbeatAtMs = 0;
    this.cursedAtS = 0;
    this.outbox = [];
    this.lastRunS = nowS();
    this.state = 'spawning';
    let child: ChildProcess;
    try {
      child = spawn(process.execPath, [TSGI_CLI, ...args], {
        cwd: this.spec.cwd,
        env: { ...process.env, [EMPEROR_ENV]: '1' },
        stdio:
          typeof output === 'number' ? ['ignore', output, output, 'ipc'] : ['ignore', 'pipe', 'pipe', 'ipc'],
        detached: true,
        ...(identity.uid !== null ? { uid: identity.uid } : {}),
        ...(identity.gid !== null ? { gid: identity.gid } : {}),
      });
    } catch (err) {
      this.log.error(`vassal ${this.name}: cannot start: ${(err as Error).message}`);
      this.lastExit = { code: 127, signal: null, atS: nowS() };
      setImmediate(() => this.events.onExit(this, this.lastExit!));
      return;
    }
    this.proc = child;
    this.startedAtS = nowS();
    if (typeof output === 'function')
      for (const stream of [child.stdout, child.stderr]) stream?.on('data', (d: Buffer) => output(this, d));
    publish(emperorChannels.vassal, () => ({ vassal: this, previous: this.state }));
    let ended = false;
    const end = (code: number | null, signal: NodeJS.Signals | null) => {
      if (ended) return;
      ended = true;
      this.proc = null;
      this.startedAtS = 0;
      for (const w of this.waiters.values()) w(null);
      this.waiters.clear();
      this.lastExit = { code, signal, atS: nowS() };
      this.events.onExit(this, this.lastExit);
    };
    child.on('message', (raw) => this.onMessage(raw));
    child.on('error', (err) => {
      this.log.error(`vassal ${this.name}: cannot start: ${err.message}`);
      if (child.pid === undefined) end(127, null);
    });
    child.on('exit', (code, signal) => end(code, signal));
  }

  /**
   * A new version of the config: reload gracefully (in-band vassals get the new text first). With
   * `chain`, the workers are replaced one at a time with the config kept (an operator's chain reload).
   */
  reload(spec: VassalSpec, chain = false): void {
    this.spec = spec;
    this.respawns++;
    this.lastRunS = nowS();
    if (this.state === 'loyal') this.sendReload(chain);
    else this.reloadPending = { chain }; // applied once loyal or once the running reload ends
  }

  /**
   * Stop: gracefully (finish in-flight requests) or at once; SIGKILL to the process group after
   * `toleranceMs`. Asking again gracefully is a no-op; asking at once after a graceful request
   * hurries it (and restarts the tolerance with the shorter bound).
   */
  curse(graceful: boolean, toleranceMs: number): void {
    if (!this.proc || (this.state === 'cursed' && graceful)) return;
    if (this.state !== 'cursed') this.cursedAtS = nowS();
    this.state = 'cursed';
    if (this.ready) this.send({ type: 'stop', graceful });
    else this.signal('SIGTERM');
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.log.warn(
        `vassal ${this.name} (pid ${this.pid}) is still alive ${toleranceMs / 1000} s after being cursed; killing it`,
      );
      this.signal('SIGKILL');
    }, toleranceMs);
  }

  /** Send a signal to the vassal's whole process group (master and workers). */
  signal(sig: NodeJS.Signals): void {
    const pid = this.proc?.pid;
    if (!pid) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {}
    }
  }

  /**
   * The vassal's metrics (prom-client JSON; only the families in `names` when given), or null if it
   * does not answer within `timeoutMs`.
   */
  async metrics(timeoutMs: number, names?: readonly string[]): Promise<readonly MetricJSON[] | null> {
    const m = await this.request(timeoutMs, (id) =>
      names ? { type: 'metrics-request', id, names } : { type: 'metrics-request', id },
    );
    return m?.type === 'metrics' ? m.metrics : null;
  }

  /** The vassal's stats document or resolved config (see `QueryWhat`), or null without an answer in time. */
  async query(what: QueryWhat, timeoutMs: number): Promise<QueryAnswer | null> {
    const m = await this.request(timeoutMs, (id) => ({ type: 'query', id, what }));
    return m?.type === 'answer' ? m : null;
  }

  /** Send the request `make(id)` and wait for the message answering that id (null: none in time). */
  private request(timeoutMs: number, make: (id: number) => EmperorMessage): Promise<VassalMessage | null> {
    if (!this.proc || !this.ready || this.state === 'cursed') return Promise.resolve(null);
    const id = this.nextRequestId++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiters.delete(id);
        resolve(null);
      }, timeoutMs);
      this.waiters.set(id, (m) => {
        clearTimeout(t);
        this.waiters.delete(id);
        resolve(m);
      });
      this.send(make(id));
    });
  }

  private sendReload(chain: boolean): void {
    this.reloadPending = null;
    this.state = 'reloading';
    if (this.spec.source.kind === 'inline') this.send({ type: 'config', text: this.spec.source.text });
    this.send(chain ? { type: 'reload', chain: true } : { type: 'reload' });
  }

  private onMessage(raw: unknown): void {
    const msg = parseVassalMessage(raw);
    if (!msg) {
      this.log.warn(
        `vassal ${this.name}: ignoring a malformed message: ${JSON.stringify(raw).slice(0, 200)}`,
      );
      return;
    }
    this.handle(msg);
  }

  private handle(msg: VassalMessage): void {
    switch (msg.type) {
      case 'spawned':
        this.ready = true;
        this.lastReadyS = nowS();
        if (this.spec.source.kind === 'inline') this.send({ type: 'config', text: this.spec.source.text });
        for (const m of this.outbox.splice(0)) this.send(m);
        break;
      case 'loyal':
        this.loyal = true;
        this.lastLoyalS = nowS();
        this.listeners = msg.listeners;
        this.mercyS = msg.mercyS;
        if (this.state === 'spawning') this.state = 'loyal';
        this.events.onLoyal(this);
        if (this.reloadPending && this.state === 'loyal') this.sendReload(this.reloadPending.chain);
        break;
      case 'consoles':
        this.consoles = msg.consoles;
        break;
      case 'reloaded':
      case 'reload-failed':
        if (msg.type === 'reloaded') {
          this.listeners = msg.listeners;
          this.log.info(`vassal ${this.name} reloaded (generation ${msg.generation})`);
        } else
          this.log.error(
            `vassal ${this.name}: reload failed, still serving the previous config: ${msg.detail}`,
          );
        if (this.state === 'reloading') this.state = 'loyal';
        if (this.reloadPending && this.state === 'loyal') this.sendReload(this.reloadPending.chain);
        break;
      case 'heartbeat':
        this.lastHeartbeatAtMs = performance.now();
        this.lastHeartbeatS = nowS();
        break;
      case 'stopping':
        break;
      case 'metrics':
      case 'answer':
        this.waiters.get(msg.id)?.(msg);
        break;
    }
  }

  private send(msg: EmperorMessage): void {
    const child = this.proc;
    if (!child) return;
    if (!this.ready) {
      this.outbox.push(msg);
      return;
    }
    if (!child.connected) return;
    child.send(msg, (err: Error | null) => {
      if (err) this.log.warn(`vassal ${this.name}: cannot send '${msg.type}': ${err.message}`);
    });
  }
}
