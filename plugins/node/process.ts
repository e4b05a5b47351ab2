import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Logger } from '../../core/log/logger.js';
import type { WorkerChannel, WorkerExit, WorkerProcess } from '../../core/plugin/types.js';
import { ExitReport } from '../../core/transport/exit-report.js';
import { dieWithParent } from '../../core/transport/parent-death.js';
import { HttpChannel } from './channel.js';

/** How to start one Node worker. */
export interface NodeWorkerSpec {
  /** The node binary. */
  readonly node: string;
  /** Arguments before the worker script (`--import LOADER`, ...). */
  readonly nodeArgs: readonly string[];
  /** The worker program (dist/plugins/node/worker.js). */
  readonly script: string;
  readonly app: string;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The unix socket the worker's server will listen on (removed when the worker exits). */
  readonly socket: string;
  readonly workerId: number;
  readonly slots: number;
  readonly logFd: number;
  readonly log: Logger;
}

/**
 * One Node worker process (plugins/node/worker.ts) as the master sees it: started with a
 * socketpair on fd 3 for its control lines (`ready`; end-of-file = retire), spoken to in HTTP/1.1
 * over its unix socket through an {@link HttpChannel}. Ready when the worker reports its app is
 * listening; a worker that exits before that failed to boot (its error is in the log).
 */
export class NodeWorker implements WorkerProcess {
  readonly pid: number;
  readonly channel: WorkerChannel;
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private readonly exits = new ExitReport();

  constructor(spec: NodeWorkerSpec) {
    const label = `node worker ${spec.workerId}`;
    const cmd = dieWithParent(spec.node, [...spec.nodeArgs, spec.script]);
    this.child = spawn(cmd.command, cmd.args, {
      cwd: spec.cwd,
      env: {
        ...spec.env,
        TSGI_NODE_WORKER: JSON.stringify({ app: spec.app, socket: spec.socket, workerId: spec.workerId }),
      },
      stdio: ['ignore', spec.logFd, spec.logFd, 'pipe'],
    });
    this.pid = this.child.pid ?? -1;
    const control = this.child.stdio[3] as Socket | null;
    this.channel = new HttpChannel(spec.socket, spec.slots, () => control?.end());
    let resolveReady!: () => void;
    let rejectReady!: (err: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      resolveReady = res;
      rejectReady = rej;
    });
    this.ready.catch(() => {});
    let pending = '';
    control?.setEncoding('utf8');
    control?.on('data', (text: string) => {
      pending += text;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        try {
          if ((JSON.parse(line) as { type?: unknown }).type === 'ready') resolveReady();
        } catch {
          spec.log.warn(`tsgi: ${label} (pid ${this.pid}) sent an unreadable control line; ignored`);
        }
      }
    });
    control?.on('error', () => {});
    this.child.on('error', (err) => {
      spec.log.error(`tsgi: cannot start ${label} (${spec.node}): ${err.message}`);
      rejectReady(err);
      this.exited({ code: 127, signal: null }, spec.socket);
    });
    this.child.on('exit', (code, signal) => {
      rejectReady(new Error(`exited before it was ready (${signal ?? `exit code ${code}`})`));
      this.exited({ code, signal }, spec.socket);
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

  private exited(info: WorkerExit, socket: string): void {
    if (this.exits.exit) return;
    rmSync(socket, { force: true });
    this.exits.report(info);
  }
}
