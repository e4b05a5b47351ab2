import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../core/log/logger.js';
import type { SpawnContext, WorkerExit, WorkerProcess } from '../../core/plugin/types.js';
import { ForkedWorker } from '../../core/transport/forked-worker.js';
import { encodeFrame, Frame, FrameReader } from '../../core/transport/frames.js';
import { Rendezvous } from '../../core/transport/rendezvous.js';

const PROTOTYPE_PY = fileURLToPath(new URL('./prototype.py', import.meta.url));

/** How long a forked worker has to connect to the rendezvous, ms. */
const CONNECT_TIMEOUT_MS = 10_000;
/** How long a stopped prototype has to exit before SIGKILL, ms. */
const STOP_TIMEOUT_MS = 3000;

/** Messages from the prototype (plugins/python/prototype.py; docs/transport.md, "The prototype"). */
type PrototypeMessage =
  | { type: 'ready'; pid: number }
  | { type: 'forked'; worker: number; token: string; pid: number }
  | { type: 'fork-failed'; worker: number; token: string; error: string }
  | { type: 'exit'; pid: number; code: number | null; signal: NodeJS.Signals | null };

/** How to start the prototype of one config generation. */
export interface PrototypeSpec {
  /** The Python interpreter. */
  readonly command: string;
  readonly cwd: string;
  /** The settings every worker gets (TSGI_WORKER_CONFIG), without the per-worker id. */
  readonly workerConfig: Record<string, unknown>;
}

/**
 * The Python prototype of one config generation: a Python process that imports the app once and
 * forks the workers (copy-on-write), so spawning a worker costs a fork instead of an import and the
 * imported code and data are shared. Started at the first worker spawn (after the master dropped
 * privileges), stopped when the generation is cleaned up; a reload builds a new generation and so a
 * new prototype that imports the new code. If the prototype dies its workers die with it
 * (PR_SET_PDEATHSIG); the next spawn starts a new one.
 */
export class PythonPrototype {
  private child: ChildProcess | null = null;
  private control: Socket | null = null;
  private rendezvous: Rendezvous | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;
  /** Workers asked for and not forked yet, by token. */
  private readonly pending = new Map<string, ForkedWorker>();
  /** Forked workers not reaped yet, by pid. */
  private readonly byPid = new Map<number, ForkedWorker>();

  constructor(private readonly spec: PrototypeSpec) {}

  /** Ask for worker `ctx.workerId`; the returned process reports its pid once forked. */
  spawn(ctx: SpawnContext): WorkerProcess {
    const w = new ForkedWorker(`worker ${ctx.workerId}`, ctx.log);
    if (this.stopped) {
      w.failed(new Error('the prototype is stopped'), { code: null, signal: null });
      return w;
    }
    const token = randomBytes(16).toString('hex');
    this.ensureStarted(ctx).then(
      () => this.fork(w, ctx.workerId, token, ctx.log),
      (err: Error) => w.failed(err, { code: (err as { exitCode?: number }).exitCode ?? null, signal: null }),
    );
    return w;
  }

  /** Stop forking, let the prototype exit (SIGKILL after 3 s), remove the rendezvous socket. */
  async stop(): Promise<void> {
    this.stopped = true;
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      this.control?.end();
      const t = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(t);
    }
    this.rendezvous?.close();
    this.rendezvous = null;
  }

  private fork(w: ForkedWorker, workerId: number, token: string, log: Logger): void {
    const control = this.control;
    if (!control || this.stopped) {
      w.failed(new Error('the prototype is gone'), { code: null, signal: null });
      return;
    }
    this.pending.set(token, w);
    this.rendezvous!.expect(token, CONNECT_TIMEOUT_MS).then(
      ({ socket, hello }) => {
        if (w.pid === 0) this.track(w, hello.pid);
        w.connected(socket);
      },
      (err: Error) => {
        if (this.stopped) return;
        log.error(
          `tsgi: worker ${workerId} (pid ${w.pid}) forked by the prototype did not connect: ${err.message}`,
        );
        w.kill('SIGKILL');
      },
    );
    control.write(encodeFrame(Frame.CONTROL, 0, JSON.stringify({ type: 'fork', worker: workerId, token })));
  }

  private track(w: ForkedWorker, pid: number): void {
    this.byPid.set(pid, w);
    w.forked(pid);
  }

  private ensureStarted(ctx: SpawnContext): Promise<void> {
    if (!this.starting) {
      this.starting = this.start(ctx);
      this.starting.catch(() => {
        this.starting = null;
      });
    }
    return this.starting;
  }

  private async start(ctx: SpawnContext): Promise<void> {
    this.rendezvous ??= await Rendezvous.open();
    const child = spawn(this.spec.command, [PROTOTYPE_PY], {
      cwd: this.spec.cwd,
      env: {
        ...ctx.env,
        PYTHONUNBUFFERED: '1',
        TSGI_TRANSPORT_FD: '3',
        TSGI_WORKER_CONFIG: JSON.stringify({ ...this.spec.workerConfig, rendezvous: this.rendezvous.path }),
      },
      stdio: ['ignore', ctx.logFd, ctx.logFd, 'pipe'],
    });
    this.child = child;
    const control = child.stdio[3] as Socket;
    this.control = control;
    return new Promise<void>((resolve, reject) => {
      const reader = new FrameReader((type, stream, buf, start, end) => {
        if (type !== Frame.RESP_CONTROL || stream !== 0) return;
        const msg = JSON.parse(buf.toString('utf8', start, end)) as PrototypeMessage;
        if (msg.type === 'ready') {
          ctx.log.info(
            `tsgi: python prototype (pid ${child.pid}) imported the app; workers are forked from it`,
          );
          resolve();
        } else this.onMessage(msg);
      });
      control.on('data', (chunk: Buffer) => reader.push(chunk));
      control.on('error', () => {});
      child.on('error', (err) =>
        reject(new Error(`cannot start the python prototype (${this.spec.command}): ${err.message}`)),
      );
      child.on('exit', (code, signal) => {
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        reject(
          Object.assign(new Error(`the python prototype exited (${how}) before it imported the app`), {
            exitCode: code,
          }),
        );
        this.onExit(child, how, ctx.log);
      });
    });
  }

  private onMessage(msg: PrototypeMessage): void {
    if (msg.type === 'forked') {
      const w = this.pending.get(msg.token);
      this.pending.delete(msg.token);
      if (w && w.pid === 0) this.track(w, msg.pid);
    } else if (msg.type === 'fork-failed') {
      const w = this.pending.get(msg.token);
      this.pending.delete(msg.token);
      this.rendezvous?.cancel(msg.token, 'fork failed');
      w?.failed(new Error(`fork failed: ${msg.error}`), { code: null, signal: null });
    } else if (msg.type === 'exit') {
      const w = this.byPid.get(msg.pid);
      this.byPid.delete(msg.pid);
      w?.exited({ code: msg.code, signal: msg.signal });
    }
  }

  /** The prototype is gone: its workers die with it (PR_SET_PDEATHSIG); the next spawn starts a new one. */
  private onExit(child: ChildProcess, how: string, log: Logger): void {
    if (this.child === child) {
      this.child = null;
      this.control = null;
      this.starting = null;
    }
    if (!this.stopped && this.byPid.size + this.pending.size > 0)
      log.error(`tsgi: the python prototype (pid ${child.pid}) died (${how}); its workers die with it`);
    const gone: WorkerExit = { code: null, signal: 'SIGKILL' };
    for (const w of this.byPid.values()) w.exited(gone);
    this.byPid.clear();
    for (const [token, w] of this.pending) {
      this.rendezvous?.cancel(token, 'the prototype died');
      w.failed(new Error('the prototype died'), gone);
    }
    this.pending.clear();
  }
}
