import { type ChildProcess, spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log/logger.js';
import { FAST_DEATH_MS, respawnDelayMs } from './respawn.js';

/** One attached daemon as the stats and logs see it. */
export interface DaemonInfo {
  readonly cmd: string;
  readonly pid: number;
  readonly respawns: number;
}

interface Daemon {
  readonly cmd: string;
  child: ChildProcess | null;
  respawns: number;
  fastDeaths: number;
  startedAtMs: number;
  timer: NodeJS.Timeout | null;
  stopping: boolean;
}

/**
 * uWSGI's `attach-daemon`: commands run beside the instance (`/bin/sh -c`, in their own process
 * group, output to the instance log), restarted with capped backoff when they die, stopped with the
 * instance. A reload keeps the daemons whose command did not change and starts or stops the others
 * (uWSGI restarts them all, because it re-executes itself).
 */
export class Daemons {
  private readonly daemons = new Map<string, Daemon>();

  /**
   * @param log the instance log; daemons write their output to `logFd`
   * @param mercyMs how long a stopped daemon gets before SIGKILL, ms
   * @param onIdle called when the last daemon process exited after `stopAll`
   */
  constructor(
    private readonly log: Logger,
    private readonly logFd: number,
    private readonly mercyMs: () => number,
    private readonly onIdle: () => void,
  ) {}

  /** Make the running set match `commands`: start the new ones, stop the ones no longer listed. */
  sync(commands: readonly string[], env: NodeJS.ProcessEnv): void {
    const wanted = new Set(commands);
    for (const [cmd, d] of this.daemons) if (!wanted.has(cmd)) this.stopOne(d);
    for (const cmd of wanted) {
      if (this.daemons.has(cmd)) continue;
      const d: Daemon = {
        cmd,
        child: null,
        respawns: 0,
        fastDeaths: 0,
        startedAtMs: 0,
        timer: null,
        stopping: false,
      };
      this.daemons.set(cmd, d);
      this.start(d, env);
    }
  }

  /** Stop every daemon (SIGTERM to its process group, SIGKILL after worker-reload-mercy). */
  stopAll(): void {
    for (const d of this.daemons.values()) this.stopOne(d);
  }

  /** Daemons whose process is still running. */
  get running(): number {
    let n = 0;
    for (const d of this.daemons.values()) if (d.child) n++;
    return n;
  }

  /** The daemons, for stats (`daemons: [{cmd, pid, respawns}]`). */
  list(): DaemonInfo[] {
    return [...this.daemons.values()].map((d) => ({
      cmd: d.cmd,
      pid: d.child?.pid ?? 0,
      respawns: d.respawns,
    }));
  }

  private start(d: Daemon, env: NodeJS.ProcessEnv): void {
    d.timer = null;
    const child = spawn('/bin/sh', ['-c', d.cmd], {
      stdio: ['ignore', this.logFd, this.logFd],
      detached: true,
      env,
    });
    d.child = child;
    d.startedAtMs = performance.now();
    child.on('error', (err) => this.log.error(`tsgi: cannot start daemon '${d.cmd}': ${err.message}`));
    this.log.info(`tsgi: spawned daemon '${d.cmd}' (pid ${child.pid})`);
    child.on('exit', (code, signal) => {
      d.child = null;
      const how = signal ? `killed by ${signal}` : `exit code ${code}`;
      if (d.stopping) {
        this.log.info(`tsgi: daemon '${d.cmd}' (pid ${child.pid}) stopped (${how})`);
        this.daemons.delete(d.cmd);
        if (this.running === 0) this.onIdle();
        return;
      }
      d.fastDeaths = performance.now() - d.startedAtMs < FAST_DEATH_MS ? d.fastDeaths + 1 : 0;
      const delay = respawnDelayMs(d.fastDeaths);
      this.log.warn(`tsgi: daemon '${d.cmd}' (pid ${child.pid}) died (${how}); restarting in ${delay} ms`);
      d.respawns++;
      d.timer = setTimeout(() => this.start(d, env), delay);
    });
  }

  private stopOne(d: Daemon): void {
    d.stopping = true;
    if (d.timer) clearTimeout(d.timer);
    const child = d.child;
    if (!child?.pid) {
      this.daemons.delete(d.cmd);
      return;
    }
    signalGroup(child.pid, 'SIGTERM');
    const t = setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), this.mercyMs());
    t.unref();
    child.once('exit', () => clearTimeout(t));
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
