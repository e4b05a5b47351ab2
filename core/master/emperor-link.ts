import {
  EMPEROR_ENV,
  type EmperorMessage,
  INLINE_CONFIG_SCHEME,
  type ListenerAddress,
  type MetricJSON,
  parseEmperorMessage,
  type QueryAnswer,
  type QueryWhat,
  type StatsDoc,
  type VassalMessage,
} from '../../emperor/messages.js';
import type { Logger } from '../log/logger.js';
import { collectProcessMetrics, registry } from '../metrics/registry.js';
import { statsDocument } from '../stats/stats.js';
import { version } from '../version.js';
import { channels, type MasterLifecycleEvent } from './events.js';
import type { Master } from './master.js';

/**
 * The name of an in-band config named on the command line (`--ini emperor://NAME`), or null.
 * uWSGI launches vassals whose config is not a file this way (`core/emperor.c`, `vassal_new_argv`).
 */
export function inlineConfigName(argv: readonly string[]): string | null {
  for (const a of argv) {
    const v = a.startsWith('--ini=') ? a.slice(6) : a;
    if (v.startsWith(INLINE_CONFIG_SCHEME)) return v.slice(INLINE_CONFIG_SCHEME.length);
  }
  return null;
}

/** The registry as JSON: every family, or only those named (unknown names are left out). */
async function gatherMetrics(names: readonly string[] | undefined): Promise<MetricJSON[]> {
  if (!names) return (await registry.getMetricsAsJSON()) as unknown as MetricJSON[];
  const metrics = names.map((n) => registry.getSingleMetric(n)).filter((m) => m !== undefined);
  return (await Promise.all(metrics.map((m) => m.get()))) as unknown as MetricJSON[];
}

/**
 * The vassal's end of the emperor ↔ vassal channel (the Node IPC channel of a `tsgi` spawned by
 * `tsgi-emperor`). It reports the master's lifecycle (`tsgi:master:lifecycle` on
 * node:diagnostics_channel) as typed messages, applies the emperor's requests through the master's
 * public methods (`reload()`, `stop()`), answers metrics requests from the instance registry, and
 * stops the instance when the emperor goes away (channel closed: graceful stop, then exit), so a
 * vassal never outlives its emperor.
 */
export class EmperorLink {
  private text: string | null = null;
  private textWaiters: Array<() => void> = [];
  private master: Master | null = null;
  private log: Logger | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private pendingStop: boolean | null = null;
  private emperorGone = false;

  /**
   * The link of a process spawned by an emperor (`TSGI_EMPEROR=1` and an IPC channel), or null.
   * Removes `TSGI_EMPEROR` from the environment so workers do not inherit it.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): EmperorLink | null {
    if (env[EMPEROR_ENV] !== '1' || typeof process.send !== 'function') return null;
    delete env[EMPEROR_ENV];
    return new EmperorLink();
  }

  private constructor() {
    process.on('message', (raw) => this.onMessage(raw));
    process.once('disconnect', () => this.onEmperorGone());
    // The emperor may have died while this process was still loading: its 'disconnect' is gone.
    if (!process.connected) this.onEmperorGone();
    this.send({ type: 'spawned' });
  }

  /** Resolves once the emperor has sent the in-band config text (`config` message). */
  configText(): Promise<string> {
    if (this.text !== null) return Promise.resolve(this.text);
    return new Promise((resolve) => this.textWaiters.push(() => resolve(this.text!)));
  }

  /**
   * The in-band config for the config reader (`LoadConfigOptions.inline`): the latest text the
   * emperor sent for the `emperor://NAME` in `argv`, or undefined when `argv` names none.
   */
  inline(argv: readonly string[]): { name: string; text: string } | undefined {
    const name = inlineConfigName(argv);
    return name !== null && this.text !== null ? { name, text: this.text } : undefined;
  }

  /**
   * Connect the link to the instance's master (before `boot`, so no lifecycle event is missed):
   * lifecycle events go to the emperor; `reload`/`stop` requests go to the master.
   */
  attach(master: Master, log: Logger): void {
    this.master = master;
    this.log = log;
    channels.lifecycle.subscribe((ev) => this.onLifecycle(ev as MasterLifecycleEvent));
    if (this.emperorGone) this.onEmperorGone();
    else if (this.pendingStop !== null) master.stop(this.pendingStop);
  }

  private onLifecycle(ev: MasterLifecycleEvent): void {
    const master = this.master!;
    switch (ev.phase) {
      case 'ready': {
        const core = master.current?.core;
        this.send({
          type: 'loyal',
          generation: ev.generation,
          listeners: this.listeners(),
          mercyS: Math.max(core?.['reload-mercy'] ?? 0, core?.['worker-reload-mercy'] ?? 0),
        });
        this.startHeartbeat(core?.heartbeat ?? 0);
        break;
      }
      case 'reloaded':
      case 'chain-reloaded':
        this.send({ type: 'reloaded', generation: ev.generation, listeners: this.listeners() });
        this.startHeartbeat(master.current?.core.heartbeat ?? 0);
        break;
      case 'reload-failed':
        this.send({ type: 'reload-failed', generation: ev.generation, detail: ev.detail ?? '' });
        break;
      case 'stopping':
        this.stopHeartbeat();
        this.send({ type: 'stopping' });
        break;
    }
  }

  /** Tell the emperor which consoles this vassal serves (`proto` `pty` raw, `pty-u` framed). */
  consoles(list: readonly ListenerAddress[]): void {
    this.send({ type: 'consoles', consoles: list });
  }

  private listeners(): ListenerAddress[] {
    return (this.master?.boundListeners() ?? []).map((l) => ({ proto: l.info.proto, address: l.info.bound }));
  }

  private onMessage(raw: unknown): void {
    const msg = parseEmperorMessage(raw);
    if (!msg) {
      this.log?.warn(`tsgi: ignoring a malformed message from the emperor: ${JSON.stringify(raw)}`);
      return;
    }
    this.apply(msg);
  }

  private apply(msg: EmperorMessage): void {
    switch (msg.type) {
      case 'config':
        this.text = msg.text;
        for (const w of this.textWaiters.splice(0)) w();
        break;
      case 'reload':
        if (this.master) void this.master.reload(msg.chain ? { chain: true, rereadConfig: false } : {});
        break;
      case 'stop':
        if (this.master) this.master.stop(msg.graceful);
        else this.pendingStop = msg.graceful;
        break;
      case 'metrics-request':
        collectProcessMetrics();
        gatherMetrics(msg.names).then(
          (metrics) => this.send({ type: 'metrics', id: msg.id, metrics }),
          (err: Error) => this.log?.warn(`tsgi: cannot gather metrics for the emperor: ${err.message}`),
        );
        break;
      case 'query':
        this.answer(msg.id, msg.what).then(
          (a) => this.send(a),
          (err: Error) => this.send({ type: 'answer', id: msg.id, what: msg.what, error: err.message }),
        );
        break;
    }
  }

  /** The stats document (no per-core lists: those carry request headers) or the resolved config. */
  private async answer(id: number, what: QueryWhat): Promise<QueryAnswer> {
    const cur = this.master?.current;
    if (!cur) return { type: 'answer', id, what, error: 'not booted yet' };
    if (what === 'config')
      return {
        type: 'answer',
        id,
        what,
        entries: cur.config.entries.map((e) => ({ key: e.key, value: e.value })),
      };
    const stats = await statsDocument(this.master!, { version: version(), noCores: true });
    return { type: 'answer', id, what, stats: stats as unknown as StatsDoc };
  }

  /** The emperor is gone (its end of the channel closed): stop gracefully; never outlive it. */
  private onEmperorGone(): void {
    this.emperorGone = true;
    this.stopHeartbeat();
    if (!this.master) {
      process.stderr.write('tsgi: lost the connection with the emperor before booting; exiting\n');
      process.exit(1);
    }
    this.log?.warn('tsgi: lost the connection with the emperor; stopping gracefully');
    this.master.stop(true);
  }

  private startHeartbeat(seconds: number): void {
    this.stopHeartbeat();
    if (seconds <= 0) return;
    this.send({ type: 'heartbeat' });
    this.heartbeatTimer = setInterval(() => this.send({ type: 'heartbeat' }), seconds * 1000);
    this.heartbeatTimer.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private send(msg: VassalMessage): void {
    if (this.emperorGone || !process.connected) return;
    process.send!(msg, undefined, undefined, (err: Error | null) => {
      if (err) this.log?.warn(`tsgi: cannot send '${msg.type}' to the emperor: ${err.message}`);
    });
  }
}
