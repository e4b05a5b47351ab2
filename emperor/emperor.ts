import { performance } from 'node:perf_hooks';
import type { Logger } from '../core/log/logger.js';
import { Blacklist } from './blacklist.js';
import { type Identity, prepareWorkdir, type VassalTemplates, vassalArgs, vassalIdentity } from './launch.js';
import type { Scanner, Snapshot, VassalSpec } from './scanner.js';
import { VASSAL_STATES, Vassal, type VassalExit, type VassalOutput, type VassalState } from './vassal.js';

/** The emperor's settings, in the units it uses internally. */
export interface EmperorSettings {
  readonly scanners: readonly Scanner[];
  readonly templates: VassalTemplates;
  /** Blacklist step and cap, ms (`emperor-throttle`, `emperor-max-throttle`). */
  readonly throttleMs: number;
  readonly maxThrottleMs: number;
  readonly noBlacklist: boolean;
  /** `emperor-curse-tolerance` in ms when set explicitly, else null (derived per vassal). */
  readonly curseToleranceMs: number | null;
  readonly requiredHeartbeatMs: number;
  readonly tyrant: boolean;
  readonly log: Logger;
  /** Where vassals' stdout and stderr go; default the emperor's log descriptor (inherited). */
  readonly output?: VassalOutput;
  /** Called when every vassal is gone after `stop()`. */
  readonly onStopped: () => void;
}

/** Counters the metrics view reads. */
export interface EmperorCounters {
  spawns: number;
  respawns: number;
  reloads: number;
  blacklistings: number;
}

/**
 * What an operator may ask of one vassal (the dashboard): a graceful or chain reload, stop (it stays
 * stopped until started), start (a stopped or blacklisted vassal, now), unblacklist (start a
 * blacklisted vassal now and forget its failures).
 */
export type VassalAction = 'reload' | 'chain-reload' | 'stop' | 'start' | 'unblacklist';

/** Every action, for validation of requests. */
export const VASSAL_ACTIONS: readonly VassalAction[] = [
  'reload',
  'chain-reload',
  'stop',
  'start',
  'unblacklist',
];

const ACTION_WORDS: Readonly<Record<VassalAction, string>> = {
  reload: 'a graceful reload',
  'chain-reload': 'a chain reload',
  stop: 'a stop',
  start: 'a start',
  unblacklist: 'the end of the blacklisting',
};

/** Curse tolerance when neither the option nor the vassal says (uWSGI's default), seconds. */
const DEFAULT_CURSE_TOLERANCE_S = 30;
/** Grace added to a vassal's own stop bound when deriving its curse tolerance, seconds. */
const CURSE_GRACE_S = 5;

/**
 * The emperor: reconciles the vassals that run against what its scanners see. A new vassal is
 * started, a new version reloaded gracefully, a vanished one cursed (graceful stop, SIGKILL after the
 * curse tolerance); a vassal that exits on its own is respawned, through the blacklist when it never
 * became loyal. One vassal's failure never touches another's process.
 */
export class Emperor {
  readonly vassals = new Map<string, Vassal>();
  readonly blacklist: Blacklist;
  readonly counters: EmperorCounters = { spawns: 0, respawns: 0, reloads: 0, blacklistings: 0 };
  private readonly owners = new Map<string, Scanner>();
  private readonly log: Logger;
  private housekeeping: NodeJS.Timeout | null = null;
  private stopping: 'none' | 'graceful' | 'immediate' = 'none';
  private stopped = false;
  private readonly emperorUid = process.getuid?.() ?? 0;

  constructor(private readonly s: EmperorSettings) {
    this.log = s.log;
    this.blacklist = new Blacklist(s.throttleMs, s.maxThrottleMs);
  }

  /** Start every scanner; vassals start as their snapshots arrive. */
  start(): void {
    for (const sc of this.s.scanners) sc.start((snap) => this.reconcile(sc, snap));
    this.housekeeping = setInterval(() => this.checkHeartbeats(), 1000);
  }

  /** Rescan every source now (SIGWINCH). */
  rescan(): void {
    for (const sc of this.s.scanners) sc.scanNow();
  }

  /** Bring the vassals of `scanner` in line with its snapshot. */
  reconcile(scanner: Scanner, snap: Snapshot): void {
    if (this.stopping !== 'none') return;
    for (const v of this.vassals.values())
      if (this.owners.get(v.name) === scanner && !snap.has(v.name)) this.remove(v, 'removed');
    for (const spec of snap.values()) {
      const v = this.vassals.get(spec.name);
      if (!v) this.add(scanner, spec);
      else if (this.owners.get(v.name) !== scanner) this.noteDuplicate(v, scanner);
      else this.update(v, spec);
    }
  }

  private add(scanner: Scanner, spec: VassalSpec): void {
    const v = new Vassal(
      spec,
      { onLoyal: (x) => this.onLoyal(x), onExit: (x, e) => this.onExit(x, e) },
      this.log,
    );
    this.vassals.set(spec.name, v);
    this.owners.set(spec.name, scanner);
    this.log.info(`vassal ${spec.name} found (${scanner.arg})`);
    this.startVassal(v);
  }

  private update(v: Vassal, spec: VassalSpec): void {
    if (v.held) {
      v.spec = spec; // stopped by an operator: the new version starts when they start it
      return;
    }
    const owner = (x: VassalSpec) => (x.owner ? `${x.owner.uid}:${x.owner.gid}` : '');
    const ownerChanged = this.s.tyrant && owner(spec) !== owner(v.spec);
    if (v.state === 'cursed') {
      if (v.successor || spec.version !== v.spec.version || ownerChanged) v.successor = spec;
      return;
    }
    if (spec.version === v.spec.version && !ownerChanged) return;
    if (v.state === 'blacklisted' || v.state === 'refused') {
      v.spec = spec;
      this.log.info(`vassal ${v.name} changed; starting it now`);
      this.startVassal(v, false);
    } else if (ownerChanged) {
      // uWSGI stops a tyrant vassal whose file changed hands; tsgi starts it again as the new owner
      this.log.info(`vassal ${v.name}: the owner of its file changed; restarting it as ${owner(spec)}`);
      v.successor = spec;
      v.curse(true, this.curseToleranceMs(v));
    } else {
      this.counters.reloads++;
      this.log.info(`vassal ${v.name} changed; reloading it gracefully`);
      v.reload(spec);
    }
  }

  private remove(v: Vassal, why: string): void {
    v.successor = null;
    v.held = false; // its file is gone: once stopped it is forgotten, not kept as `stopped`
    if (!v.proc) {
      this.forget(v, why);
      return;
    }
    this.log.info(`vassal ${v.name} ${why}; stopping it gracefully`);
    v.curse(true, this.curseToleranceMs(v));
  }

  private forget(v: Vassal, why: string): void {
    if (v.timer) clearTimeout(v.timer);
    this.vassals.delete(v.name);
    this.owners.delete(v.name);
    this.blacklist.remove(v.name);
    this.log.info(`vassal ${v.name} ${why}`);
    this.maybeStopped();
  }

  /**
   * Start `v` now (or, with `respectBlacklist`, when its blacklist delay ends), or not at all when its
   * identity is refused.
   */
  private startVassal(v: Vassal, respectBlacklist = true): void {
    if (v.timer) clearTimeout(v.timer);
    v.timer = null;
    let id: Identity;
    try {
      id = vassalIdentity(v.spec, this.s.tyrant, this.emperorUid);
      if (v.spec.source.kind === 'inline') prepareWorkdir(v.spec.cwd, id);
    } catch (err) {
      const why = (err as Error).message;
      if (v.refusal !== `${v.spec.version} ${why}`) this.log.error(`vassal ${v.name} refused: ${why}`);
      v.refusal = `${v.spec.version} ${why}`;
      v.state = 'refused';
      return;
    }
    v.refusal = null;
    const waitMs = respectBlacklist ? this.blacklist.waitMs(v.name, Date.now()) : 0;
    if (waitMs > 0) {
      v.state = 'blacklisted';
      v.timer = setTimeout(() => this.startVassal(v, false), waitMs);
      return;
    }
    this.counters.spawns++;
    v.spawn(vassalArgs(v.spec, this.s.templates), id, this.s.output ?? this.log.sink.fd);
    if (v.proc?.pid)
      this.log.info(
        `vassal ${v.name} spawned (pid ${v.pid}${id.uid !== null ? `, uid ${id.uid} gid ${id.gid}` : ''})`,
      );
  }

  private onLoyal(v: Vassal): void {
    if (this.blacklist.remove(v.name)) this.log.info(`vassal ${v.name} left the blacklist`);
    const where = v.listeners.map((l) =>
      l.address.startsWith('/') ? `${l.proto} unix:${l.address}` : `${l.proto}://${l.address}`,
    );
    this.log.info(`vassal ${v.name} (pid ${v.pid}) is loyal${where.length ? `: ${where.join(' ')}` : ''}`);
  }

  private onExit(v: Vassal, exit: VassalExit): void {
    if (v.timer) clearTimeout(v.timer);
    v.timer = null;
    const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
    if (v.state === 'cursed' && v.held && this.stopping === 'none') {
      v.state = 'stopped';
      this.log.info(`vassal ${v.name} stopped (${how}); it stays stopped until started`);
      return;
    }
    if (v.state === 'cursed') {
      const next = v.successor;
      if (next && this.stopping === 'none') {
        v.successor = null;
        v.spec = next;
        this.log.info(`vassal ${v.name} stopped (${how}); starting it again`);
        this.startVassal(v);
      } else this.forget(v, `stopped (${how})`);
      return;
    }
    if (this.stopping !== 'none') {
      this.forget(v, `exited (${how})`);
      return;
    }
    this.counters.respawns++;
    v.respawns++;
    if (!v.loyal && !this.s.noBlacklist) {
      this.counters.blacklistings++;
      const e = this.blacklist.add(v.name, Date.now());
      this.log.error(
        `vassal ${v.name} exited before becoming loyal (${how}); blacklisted (attempt ${e.attempt}), next start in ${e.delayMs} ms`,
      );
    } else this.log.error(`vassal ${v.name} died (${how}); respawning it`);
    this.startVassal(v);
  }

  private noteDuplicate(v: Vassal, scanner: Scanner): void {
    const key = `duplicate ${scanner.arg}`;
    if (v.refusal === key) return;
    v.refusal = key;
    this.log.warn(
      `vassal ${v.name} is also found by ${scanner.arg}; the one from ${this.owners.get(v.name)?.arg} runs`,
    );
  }

  private curseToleranceMs(v: Vassal): number {
    if (this.s.curseToleranceMs !== null) return this.s.curseToleranceMs;
    return Math.max(DEFAULT_CURSE_TOLERANCE_S, v.mercyS + CURSE_GRACE_S) * 1000;
  }

  private checkHeartbeats(): void {
    const now = performance.now();
    for (const v of this.vassals.values()) {
      if (v.lastHeartbeatAtMs === 0 || v.state === 'cursed' || !v.proc) continue;
      if (now - v.lastHeartbeatAtMs <= this.s.requiredHeartbeatMs) continue;
      this.log.error(
        `vassal ${v.name} sent no heartbeat in the last ${this.s.requiredHeartbeatMs / 1000} s; killing and respawning it`,
      );
      v.lastHeartbeatAtMs = 0;
      v.signal('SIGKILL');
    }
  }

  /** Reload every running vassal gracefully (SIGHUP). */
  reloadAll(): void {
    if (this.stopping !== 'none') return;
    this.log.info('reloading every vassal');
    for (const v of this.vassals.values())
      if (v.proc && v.state !== 'cursed') {
        this.counters.reloads++;
        v.reload(v.spec);
      }
  }

  /**
   * Apply an operator's action to the vassal `name`, logging it with `who` asked for it.
   * @returns null when done or under way, else why it does not apply (unknown vassal, wrong state).
   */
  act(name: string, action: VassalAction, who: string): string | null {
    const v = this.vassals.get(name);
    if (!v) return `no vassal named ${name}`;
    if (this.stopping !== 'none') return 'the emperor is stopping';
    const why = this.refusal(v, action);
    if (why) return why;
    this.log.info(`${who} asked for ${ACTION_WORDS[action]} of vassal ${name}`);
    switch (action) {
      case 'reload':
      case 'chain-reload':
        this.counters.reloads++;
        v.reload(v.spec, action === 'chain-reload');
        break;
      case 'stop':
        v.held = true;
        v.successor = null;
        this.blacklist.remove(v.name);
        if (v.proc) v.curse(true, this.curseToleranceMs(v));
        else {
          if (v.timer) clearTimeout(v.timer);
          v.timer = null;
          v.state = 'stopped';
        }
        break;
      case 'start':
      case 'unblacklist':
        v.held = false;
        this.blacklist.remove(v.name);
        this.startVassal(v, false);
        break;
    }
    return null;
  }

  /** Why `action` does not apply to `v` in its current state, or null. */
  private refusal(v: Vassal, action: VassalAction): string | null {
    const s = v.state;
    switch (action) {
      case 'reload':
      case 'chain-reload':
        return v.proc && s !== 'cursed' ? null : `vassal ${v.name} is ${s}, not running`;
      case 'stop':
        return s === 'stopped' || s === 'cursed' ? `vassal ${v.name} is already ${s}` : null;
      case 'start':
        return s === 'stopped' || s === 'blacklisted' ? null : `vassal ${v.name} is ${s}, not stopped`;
      case 'unblacklist':
        return s === 'blacklisted' ? null : `vassal ${v.name} is ${s}, not blacklisted`;
    }
  }

  /** Empty the blacklist and start every waiting vassal now (SIGURG). */
  clearBlacklist(): void {
    this.blacklist.clear();
    this.log.info('blacklist cleared');
    for (const v of this.vassals.values()) if (v.state === 'blacklisted') this.startVassal(v, false);
  }

  /**
   * Stop every vassal and then call `onStopped` (SIGTERM/SIGINT: graceful; asked twice, or SIGQUIT:
   * at once). Scanners stop first, so nothing new starts.
   */
  stop(graceful: boolean): void {
    if (this.stopping === 'immediate' || (this.stopping === 'graceful' && graceful)) return;
    const first = this.stopping === 'none';
    this.stopping = graceful ? 'graceful' : 'immediate';
    this.log.info(graceful ? 'stopping every vassal gracefully' : 'stopping every vassal now');
    if (first) {
      if (this.housekeeping) clearInterval(this.housekeeping);
      for (const sc of this.s.scanners) void sc.stop();
    }
    for (const v of [...this.vassals.values()]) {
      v.successor = null;
      if (v.proc) v.curse(graceful, graceful ? this.curseToleranceMs(v) : 2000);
      else this.forget(v, 'dropped');
    }
    this.maybeStopped();
  }

  private maybeStopped(): void {
    if (this.stopping !== 'none' && this.vassals.size === 0 && !this.stopped) {
      this.stopped = true;
      this.log.info('every vassal is gone; the emperor stops');
      this.s.onStopped();
    }
  }

  /** Vassals per state (metrics). */
  countByState(): Map<VassalState, number> {
    const m = new Map<VassalState, number>(VASSAL_STATES.map((s) => [s, 0]));
    for (const v of this.vassals.values()) m.set(v.state, (m.get(v.state) ?? 0) + 1);
    return m;
  }

  /** One line per vassal (SIGUSR1). */
  logStatus(): void {
    this.log.info(`${this.vassals.size} vassal(s), ${this.blacklist.all().length} blacklisted`);
    for (const v of [...this.vassals.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const bl = this.blacklist.get(v.name);
      const exit = v.lastExit ? (v.lastExit.signal ?? `code ${v.lastExit.code}`) : '-';
      this.log.info(
        `vassal ${v.name} pid ${v.pid || '-'} ${v.state} loyal ${v.loyal ? 1 : 0} respawns ${v.respawns} blacklist ${bl ? `${bl.delayMs} ms` : '-'} last exit ${exit}`,
      );
    }
  }
}
