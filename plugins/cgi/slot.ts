import type { StreamOutcome, WorkerChannel, WorkerExit, WorkerProcess } from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import { ExitReport } from '../../core/transport/exit-report.js';
import { CgiRun, type CgiSettings } from './run.js';

/**
 * A CGI "worker" as the master sees it: not a resident process but a slot that runs one script
 * process per request, `slots` (the `threads` option) at a time, spawned by the master. So the
 * master's model holds unchanged: the dispatcher bounds concurrency at processes × threads and
 * queues the rest (bounded by `listen`), harakiri and the kill signals reach the scripts' process
 * groups, stats count requests per slot, and reload or recycling replace slots like workers.
 *
 * - `pid` is the running script's (the oldest one's when there are several), 0 while idle: logs
 *   and memory readings name the process doing the work, and an idle slot uses no memory.
 * - `ready` at once. `close()` (retire): the slot ends once its scripts have ended.
 * - `kill(signal)`: signals every running script's process group; the slot then ends (reported as
 *   killed by that signal) once they are gone, like a worker process that was killed.
 */
export class CgiSlot implements WorkerProcess, WorkerChannel {
  readonly channel: WorkerChannel = this;
  readonly ready: Promise<void> = Promise.resolve();
  private readonly runs = new Map<TsgiRequest, CgiRun>();
  private ending: WorkerExit | null = null;
  private ended = false;
  private readonly exits = new ExitReport();

  constructor(
    private readonly settings: CgiSettings,
    private readonly slots: number,
  ) {}

  get pid(): number {
    for (const run of this.runs.values()) if (run.pid) return run.pid;
    return 0;
  }

  get inflight(): number {
    return this.runs.size;
  }

  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void {
    if (this.ending || this.runs.size >= this.slots) {
      sink.fail(503, 'the CGI slot is not taking requests');
      done('worker-error');
      return;
    }
    const run = new CgiRun(req, sink, this.settings, (outcome) => {
      this.runs.delete(req);
      done(outcome);
      this.maybeEnd();
    });
    this.runs.set(req, run);
    run.start();
  }

  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void {
    this.runs.get(req)?.abort(answer);
  }

  failAll(status: number, reason: string): void {
    for (const run of this.runs.values()) run.abort({ status, detail: reason });
  }

  close(): void {
    this.ending ??= { code: 0, signal: null };
    this.maybeEnd();
  }

  onExit(cb: (exit: WorkerExit) => void): void {
    this.exits.onExit(cb);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.ended) return;
    this.ending = { code: null, signal };
    for (const run of this.runs.values()) run.killGroup(signal);
    this.maybeEnd();
  }

  private maybeEnd(): void {
    if (!this.ending || this.runs.size > 0 || this.ended) return;
    this.ended = true;
    const info = this.ending;
    setImmediate(() => this.exits.report(info)); // asynchronously, as a process exit would be
  }
}
