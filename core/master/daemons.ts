import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { nodePty } from '../deps.js';
import type { Logger } from '../log/logger.js';
import { type DaemonSpec, plainDaemon } from './daemon-spec.js';
import { FAST_DEATH_MS, respawnDelayMs } from './respawn.js';

/** One attached daemon as the stats and logs see it. */
export interface DaemonInfo {
  readonly cmd: string;
  /** Its log prefix. */
  readonly name: string;
  /** The running process (0 while it is down); for a smart daemon, the pid in its pidfile. */
  readonly pid: number;
  /** Times it was started again after dying. */
  readonly respawns: number;
  /** `dumb` (tsgi's child), `pty` (tsgi's child on a pseudo-terminal) or `smart` (tracked by pidfile). */
  readonly kind: 'dumb' | 'pty' | 'smart';
}

/** A started process: a child, or a child on a pseudo-terminal. */
interface Proc {
  readonly pid: number;
  onExit(cb: (how: string) => void): void;
}

interface Daemon {
  spec: DaemonSpec;
  proc: Proc | null;
  /** Smart daemons: the pid read from the pidfile (0 = none alive). */
  smartPid: number;
  /** Smart daemons: whether the pidfile was seen pointing at a live process since the last start. */
  monitored: boolean;
  /** Smart daemons: pidfile checks since the last start without a live pid. */
  checks: number;
  respawns: number;
  fastDeaths: number;
  startedAtMs: number;
  timer: NodeJS.Timeout | null;
  stopping: boolean;
}

/** How often smart daemons' pidfiles are checked, ms (uWSGI checks once per master cycle, 1 s). */
const PIDFILE_CHECK_MS = 1000;

/** The live pid in `pidfile`, or 0 (missing file, junk, dead process). */
export function pidfilePid(pidfile: string): number {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidfile, 'utf8').trim(), 10);
  } catch {
    return 0;
  }
  if (!Number.isInteger(pid) || pid <= 0) return 0;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : 0;
  }
}

/**
 * uWSGI's attached daemons (core/daemons.c): `attach-daemon` and `attach-daemon2` commands run beside
 * the instance (`/bin/sh -c`, in their own process group, each output line in the instance log
 * prefixed `[name]`), restarted with capped backoff when they die, stopped with the instance
 * (`stopsignal` to the group, SIGKILL after worker-reload-mercy); `pty=1` runs one on a
 * pseudo-terminal. Smart daemons (`smart-attach-daemon`, `pidfile=`) are tracked by their pidfile,
 * checked every second: started when no live pid is there, started again when that pid dies, and
 * left running when the instance reloads or stops (as uWSGI does). A reload keeps the daemons whose
 * option did not change (sending `reloadsignal` if set) and starts or stops the others.
 */
export class Daemons {
  private readonly daemons = new Map<string, Daemon>();
  private synced = false;
  private poller: NodeJS.Timeout | null = null;
  /** The environment of the latest config (restarts after a reload get the new one). */
  private env: NodeJS.ProcessEnv = {};

  /**
   * @param log the instance log; smart daemons write their output to `logFd` directly (they outlive tsgi)
   * @param mercyMs how long a stopped daemon gets before SIGKILL, ms
   * @param onIdle called when the last daemon process exited after `stopAll`
   */
  constructor(
    private readonly log: Logger,
    private readonly logFd: number,
    private readonly mercyMs: () => number,
    private readonly onIdle: () => void,
  ) {}

  /**
   * Make the running set match `specs` (plain `attach-daemon` commands may be given as strings):
   * start the new ones, stop the ones no longer listed, send `reloadsignal` to kept ones on a reload.
   */
  sync(specs: ReadonlyArray<DaemonSpec | string>, env: NodeJS.ProcessEnv): void {
    const wanted = new Map<string, DaemonSpec>();
    for (const s of specs) {
      const spec = typeof s === 'string' ? plainDaemon(s) : s;
      wanted.set(spec.key, spec);
    }
    for (const [key, d] of this.daemons) if (!wanted.has(key)) this.stopOne(d, true);
    for (const [key, spec] of wanted) {
      const kept = this.daemons.get(key);
      if (kept) {
        if (this.synced && spec.reloadSignal && kept.proc) {
          this.log.info(
            `tsgi: daemon '${spec.cmd}' (pid ${kept.proc.pid}) sent ${spec.reloadSignal} for the reload`,
          );
          signalGroup(kept.proc.pid, spec.reloadSignal);
        }
        continue;
      }
      const d: Daemon = {
        spec,
        proc: null,
        smartPid: 0,
        monitored: false,
        checks: 0,
        respawns: 0,
        fastDeaths: 0,
        startedAtMs: 0,
        timer: null,
        stopping: false,
      };
      this.daemons.set(key, d);
      if (spec.pidfile) this.startSmart(d, env);
      else this.start(d, env);
    }
    this.synced = true;
    this.env = env;
    this.updatePoller();
  }

  /** Stop every daemon tsgi owns (stopsignal to its process group, SIGKILL after worker-reload-mercy); smart ones keep running. */
  stopAll(): void {
    for (const d of this.daemons.values()) this.stopOne(d, false);
    this.updatePoller();
  }

  /** Daemon processes tsgi still waits for (smart daemons are not waited for). */
  get running(): number {
    let n = 0;
    for (const d of this.daemons.values()) if (d.proc && !d.spec.pidfile) n++;
    return n;
  }

  /** The daemons, for stats and metrics. */
  list(): DaemonInfo[] {
    return [...this.daemons.values()].map((d) => ({
      cmd: d.spec.cmd,
      name: d.spec.name,
      pid: d.spec.pidfile ? d.smartPid : (d.proc?.pid ?? 0),
      respawns: d.respawns,
      kind: d.spec.pidfile ? 'smart' : d.spec.pty ? 'pty' : 'dumb',
    }));
  }

  private spawnOptions(spec: DaemonSpec, env: NodeJS.ProcessEnv) {
    return {
      cwd: spec.chdir ?? process.cwd(),
      env,
      ...(spec.uid !== null ? { uid: spec.uid } : {}),
      ...(spec.gid !== null ? { gid: spec.gid } : {}),
    };
  }

  /** Start a dumb or pty daemon: tsgi's child, its output prefixed in the log. */
  private start(d: Daemon, env: NodeJS.ProcessEnv): void {
    d.timer = null;
    const spec = d.spec;
    let proc: Proc;
    try {
      proc = spec.pty ? this.spawnPty(spec, env) : this.spawnChild(spec, env);
    } catch (err) {
      this.log.error(`tsgi: cannot start daemon '${spec.cmd}': ${(err as Error).message}`);
      this.scheduleRestart(d, env, 'could not start');
      return;
    }
    d.proc = proc;
    d.startedAtMs = performance.now();
    this.log.info(`tsgi: spawned daemon '${spec.cmd}' (pid ${proc.pid}${spec.pty ? ', on a pty' : ''})`);
    proc.onExit((how) => {
      d.proc = null;
      if (d.stopping) {
        this.log.info(`tsgi: daemon '${spec.cmd}' (pid ${proc.pid}) stopped (${how})`);
        if (this.daemons.get(spec.key) === d) this.daemons.delete(spec.key);
        if (this.running === 0) this.onIdle();
        return;
      }
      this.scheduleRestart(d, env, `(pid ${proc.pid}) died (${how})`);
    });
  }

  private scheduleRestart(d: Daemon, env: NodeJS.ProcessEnv, what: string): void {
    d.fastDeaths = performance.now() - d.startedAtMs < FAST_DEATH_MS ? d.fastDeaths + 1 : 0;
    const delay = respawnDelayMs(d.fastDeaths);
    this.log.warn(`tsgi: daemon '${d.spec.cmd}' ${what}; restarting in ${delay} ms`);
    d.respawns++;
    d.timer = setTimeout(() => (d.spec.pidfile ? this.launchSmart(d, env) : this.start(d, env)), delay);
  }

  private spawnChild(spec: DaemonSpec, env: NodeJS.ProcessEnv): Proc {
    const child: ChildProcess = spawn('/bin/sh', ['-c', spec.cmd], {
      ...this.spawnOptions(spec, env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    child.on('error', (err) => this.log.error(`tsgi: cannot start daemon '${spec.cmd}': ${err.message}`));
    const out = this.lineWriter(spec.name);
    const err = this.lineWriter(spec.name);
    child.stdout!.on('data', out.write);
    child.stderr!.on('data', err.write);
    if (!child.pid) throw new Error('spawn failed');
    return {
      pid: child.pid,
      onExit: (cb) =>
        child.on('close', (code, signal) => {
          out.flush();
          err.flush();
          cb(signal ? `killed by ${signal}` : `exit code ${code}`);
        }),
    };
  }

  private spawnPty(spec: DaemonSpec, env: NodeJS.ProcessEnv): Proc {
    const term = nodePty().spawn('/bin/sh', ['-c', spec.cmd], {
      ...this.spawnOptions(spec, env),
      env: { TERM: 'xterm-256color', ...env } as Record<string, string>,
      name: 'xterm-256color',
      cols: 120,
      rows: 40,
      encoding: null,
    });
    const out = this.lineWriter(spec.name);
    term.onData((d: string | Buffer) => out.write(typeof d === 'string' ? Buffer.from(d) : d));
    return {
      pid: term.pid,
      onExit: (cb) =>
        term.onExit(({ exitCode, signal }) => {
          out.flush();
          cb(signal ? `killed by signal ${signal}` : `exit code ${exitCode}`);
        }),
    };
  }

  /** Output → whole lines in the instance log as `[name] line` (a pty's CR before LF dropped). */
  private lineWriter(name: string): { write: (d: Buffer) => void; flush: () => void } {
    let partial = '';
    const emit = (line: string) => this.log.info(`[${name}] ${line.replace(/\r$/, '')}`);
    return {
      write: (d: Buffer) => {
        const lines = (partial + d.toString('utf8')).split('\n');
        partial = lines.pop() ?? '';
        for (const l of lines) emit(l);
        if (partial.length > 16_384) {
          emit(partial);
          partial = '';
        }
      },
      flush: () => {
        if (partial) emit(partial);
        partial = '';
      },
    };
  }

  /** A smart daemon at sync: adopt the live pid in its pidfile, or start it. */
  private startSmart(d: Daemon, env: NodeJS.ProcessEnv): void {
    const pid = pidfilePid(d.spec.pidfile!);
    if (pid > 0) {
      d.smartPid = pid;
      d.monitored = true;
      this.log.info(`tsgi: daemon '${d.spec.cmd}' found running (pid ${pid}, from ${d.spec.pidfile})`);
      return;
    }
    this.launchSmart(d, env);
  }

  /** Run a smart daemon's command, detached, output straight to the log file (it outlives tsgi). */
  private launchSmart(d: Daemon, env: NodeJS.ProcessEnv): void {
    d.timer = null;
    if (d.stopping) return;
    const spec = d.spec;
    d.monitored = false;
    d.checks = 0;
    d.startedAtMs = performance.now();
    let child: ChildProcess;
    try {
      child = spawn('/bin/sh', ['-c', spec.daemonize ? `exec ${spec.cmd}` : spec.cmd], {
        ...this.spawnOptions(spec, env),
        stdio: ['ignore', this.logFd, this.logFd],
        detached: true,
      });
    } catch (err) {
      this.log.error(`tsgi: cannot start daemon '${spec.cmd}': ${(err as Error).message}`);
      return;
    }
    child.on('error', (err) => this.log.error(`tsgi: cannot start daemon '${spec.cmd}': ${err.message}`));
    child.unref();
    if (spec.daemonize && child.pid) {
      try {
        writeFileSync(spec.pidfile!, `${child.pid}\n`);
      } catch (err) {
        this.log.error(`tsgi: daemon '${spec.cmd}': cannot write ${spec.pidfile}: ${(err as Error).message}`);
      }
    }
    this.log.info(`tsgi: spawned daemon '${spec.cmd}' (pid ${child.pid}, tracked by ${spec.pidfile})`);
  }

  /** Check the smart daemons' pidfiles (uWSGI's uwsgi_daemons_smart_check). */
  private checkSmart(env: NodeJS.ProcessEnv): void {
    for (const d of this.daemons.values()) {
      if (!d.spec.pidfile || d.timer || d.stopping) continue;
      const pid = pidfilePid(d.spec.pidfile);
      if (pid > 0) {
        if (pid !== d.smartPid && d.smartPid > 0)
          this.log.info(`tsgi: daemon '${d.spec.cmd}' pid changed (${d.smartPid} → ${pid})`);
        d.smartPid = pid;
        d.monitored = true;
        continue;
      }
      if (d.monitored) {
        const was = d.smartPid;
        d.smartPid = 0;
        d.monitored = false;
        this.scheduleRestart(d, env, `(pid ${was} from ${d.spec.pidfile}) is gone`);
        continue;
      }
      if (++d.checks >= d.spec.freq) {
        this.log.warn(
          `tsgi: daemon '${d.spec.cmd}' wrote no live pid to ${d.spec.pidfile} in ${d.checks} checks`,
        );
        this.scheduleRestart(d, env, 'did not start');
      }
    }
  }

  private updatePoller(): void {
    const any = [...this.daemons.values()].some((d) => d.spec.pidfile && !d.stopping);
    if (any && !this.poller) {
      this.poller = setInterval(() => this.checkSmart(this.env), PIDFILE_CHECK_MS);
      this.poller.unref();
    } else if (!any && this.poller) {
      clearInterval(this.poller);
      this.poller = null;
    }
  }

  /** Stop one daemon. Smart daemons are only forgotten (uWSGI leaves them running). */
  private stopOne(d: Daemon, removed: boolean): void {
    d.stopping = true;
    if (d.timer) clearTimeout(d.timer);
    d.timer = null;
    const proc = d.proc;
    if (d.spec.pidfile || !proc) {
      if (d.spec.pidfile && removed)
        this.log.info(
          `tsgi: daemon '${d.spec.cmd}' no longer configured; left running (pidfile ${d.spec.pidfile})`,
        );
      this.daemons.delete(d.spec.key);
      return;
    }
    signalGroup(proc.pid, d.spec.stopSignal);
    const t = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), this.mercyMs());
    t.unref();
    proc.onExit(() => clearTimeout(t));
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}
