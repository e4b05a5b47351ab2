import { type ChildProcess, spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { WorkerChannel, WorkerExit, WorkerProcess } from '../plugin/types.js';
import { FramedChannel, type WorkerControl } from './channel.js';
import { ExitReport } from './exit-report.js';

/** How to start a worker that speaks the framed transport on fd 3. */
export interface FramedWorkerSpec {
  /** Program and arguments. */
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The worker's stdout and stderr (the instance log's fd). */
  readonly logFd: number;
  readonly log: Logger;
  /** Label for log lines, e.g. `worker 3`. */
  readonly label: string;
  /** uid/gid to run the worker as (null: the master's). */
  readonly uid?: number | null;
  readonly gid?: number | null;
}

/**
 * A worker process speaking tsgi's framed transport (docs/transport.md) on file descriptor 3, which
 * is one end of a socketpair the master keeps the other end of. Ready when the worker sends its
 * `ready` control message; a worker that exits before that failed to boot.
 */
export class FramedWorker implements WorkerProcess {
  readonly pid: number;
  readonly channel: WorkerChannel;
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly exits = new ExitReport();

  constructor(spec: FramedWorkerSpec) {
    this.child = spawn(spec.command, [...spec.args], {
      cwd: spec.cwd,
      env: { ...spec.env, TSGI_TRANSPORT_FD: '3' },
      stdio: ['ignore', spec.logFd, spec.logFd, 'pipe'],
      ...(spec.uid != null ? { uid: spec.uid } : {}),
      ...(spec.gid != null ? { gid: spec.gid } : {}),
    });
    this.pid = this.child.pid ?? -1;
    const socket = this.child.stdio[3] as Socket | null;
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.ready.catch(() => {});
    const onControl = (msg: WorkerControl) => {
      if (msg.type === 'ready') resolveReady();
      else if (msg.type === 'log' && typeof msg.text === 'string') spec.log.info(msg.text);
    };
    const channel = new FramedChannel(socket!, onControl, (err) => {
      spec.log.error(
        `tsgi: ${spec.label} (pid ${this.pid}) broke the transport protocol: ${err.message}; killing it`,
      );
      this.kill('SIGKILL');
    });
    this.channel = channel;
    this.child.on('error', (err) => {
      spec.log.error(`tsgi: cannot start ${spec.label} (${spec.command}): ${err.message}`);
      rejectReady(err);
      this.exits.report({ code: 127, signal: null });
    });
    this.child.on('exit', (code, signal) => {
      rejectReady(new Error(`exited before it was ready (${signal ?? `exit code ${code}`})`));
      // Let the transport deliver what the worker wrote before dying, then report the exit.
      if (socket && !socket.destroyed)
        this.exits.reportWhen({ code, signal }, (cb) => socket.once('close', cb));
      else this.exits.report({ code, signal });
    });
  }

  onExit(cb: (exit: WorkerExit) => void): void {
    this.exits.onExit(cb);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exits.exit) return;
    try {
      this.child.kill(signal);
    } catch {}
  }
}
