import type { WorkerExit } from '../plugin/types.js';

/**
 * How a worker process tells the master it has exited ({@link WorkerProcess.onExit}): once, to every
 * callback, including those registered after the fact. `reportWhen` first lets the worker's channel
 * deliver what the process wrote before it died (its last response), so that a complete answer is
 * not failed as if the worker had died mid-request.
 */
export class ExitReport {
  private info: WorkerExit | null = null;
  private readonly cbs: Array<(e: WorkerExit) => void> = [];

  /** The exit, once reported. */
  get exit(): WorkerExit | null {
    return this.info;
  }

  onExit(cb: (exit: WorkerExit) => void): void {
    if (this.info) cb(this.info);
    else this.cbs.push(cb);
  }

  /** Report `info` now (later reports are ignored). */
  report(info: WorkerExit): void {
    if (this.info) return;
    this.info = info;
    for (const cb of this.cbs.splice(0)) cb(info);
  }

  /**
   * Report `info` once `drained` calls back (the channel has closed, its data read), or after
   * `maxWaitMs` at the latest. `info` may be a function, evaluated when the report is made.
   */
  reportWhen(
    info: WorkerExit | (() => WorkerExit),
    drained: (cb: () => void) => void,
    maxWaitMs = 1000,
  ): void {
    const go = () => this.report(typeof info === 'function' ? info() : info);
    drained(go);
    setTimeout(go, maxWaitMs).unref();
  }
}
