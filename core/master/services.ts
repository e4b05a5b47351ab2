import type { Logger } from '../log/logger.js';
import { type DaemonInfo, Daemons } from './daemons.js';
import { type FifoCommand, MasterFifo } from './fifo.js';
import type { Generation } from './generation.js';
import { TouchWatch } from './touch.js';

/** Which reload a touched file asks for (touch-reload, touch-workers-reload, touch-chain-reload). */
export type TouchKind = 'reload' | 'workers-reload' | 'chain-reload';

/**
 * What runs beside the workers for the current config and follows it across reloads: the touch
 * files, the master FIFO and the attached daemons.
 */
export class MasterServices {
  private touches: Record<TouchKind, TouchWatch> | null = null;
  private fifo: MasterFifo | null = null;
  private fifoPaths = '';
  private readonly daemons: Daemons;

  /**
   * @param onFifo called for each FIFO command
   * @param mercyMs how long a stopped daemon gets before SIGKILL, ms
   * @param onIdle called when the last daemon exited after `stop`
   */
  constructor(
    private readonly log: Logger,
    private readonly onFifo: (c: FifoCommand) => void,
    mercyMs: () => number,
    onIdle: () => void,
  ) {
    this.daemons = new Daemons(log, log.sink.fd, mercyMs, onIdle);
  }

  /** Start or update everything for `gen`'s config (touch baselines carry over). */
  update(gen: Generation, env: NodeJS.ProcessEnv): void {
    const c = gen.core;
    const prev = this.touches;
    this.touches = {
      reload: new TouchWatch(c['touch-reload'], prev?.reload),
      'workers-reload': new TouchWatch(c['touch-workers-reload'], prev?.['workers-reload']),
      'chain-reload': new TouchWatch(c['touch-chain-reload'], prev?.['chain-reload']),
    };
    this.updateFifo(c['master-fifo']);
    this.daemons.sync(
      [
        ...c['attach-daemon'],
        ...c['smart-attach-daemon'],
        ...c['smart-attach-daemon2'],
        ...c['attach-daemon2'],
      ],
      env,
    );
  }

  /** The first touched file and what it asks for, or null (every watch is polled). */
  pollTouches(): { file: string; kind: TouchKind } | null {
    if (!this.touches) return null;
    let hit: { file: string; kind: TouchKind } | null = null;
    for (const kind of ['reload', 'workers-reload', 'chain-reload'] as const) {
      const file = this.touches[kind].poll();
      if (file && !hit) hit = { file, kind };
    }
    return hit;
  }

  /** Stop the daemons (the instance is stopping). */
  stop(): void {
    this.daemons.stopAll();
  }

  /** Daemon processes still running. */
  get daemonsRunning(): number {
    return this.daemons.running;
  }

  /** The attached daemons, for stats. */
  daemonList(): DaemonInfo[] {
    return this.daemons.list();
  }

  /** Close the FIFO; with `vacuum`, remove it. */
  close(vacuum: boolean): void {
    this.fifo?.close(vacuum);
    this.fifo = null;
  }

  private updateFifo(paths: readonly string[]): void {
    const key = paths.join('\n');
    if (key === this.fifoPaths) return;
    this.fifo?.close(true);
    this.fifo = null;
    this.fifoPaths = key;
    if (paths.length === 0) return;
    const fifo = new MasterFifo(paths, this.onFifo, this.log);
    try {
      fifo.open();
      this.fifo = fifo;
    } catch (err) {
      this.log.error(`tsgi: ${(err as Error).message}`);
    }
  }
}
