import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import type { StreamOutcome, WorkerChannel, WorkerExit, WorkerProcess } from '../plugin/types.js';
import type { TsgiRequest } from '../request/request.js';
import type { ResponseSink } from '../request/sink.js';
import { FramedChannel, type WorkerControl } from './channel.js';

/**
 * A worker channel whose transport arrives later (a forked worker connects after it is forked).
 * Until then it has no streams; the master opens none before the worker is ready, which implies
 * connected. `close` before the connection closes the connection as soon as it arrives.
 */
class DeferredChannel implements WorkerChannel {
  inner: FramedChannel | null = null;
  closed = false;

  get inflight(): number {
    return this.inner?.inflight ?? 0;
  }

  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void {
    if (!this.inner) throw new Error('the worker is not connected yet');
    this.inner.open(req, sink, done);
  }

  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void {
    this.inner?.abort(req, answer);
  }

  failAll(status: number, reason: string): void {
    this.inner?.failAll(status, reason);
  }

  retire(stopping: boolean): void {
    this.inner?.retire(stopping);
  }

  close(): void {
    this.closed = true;
    this.inner?.close();
  }
}

/**
 * A worker process started by another process (the Python prototype forks it), speaking the framed
 * transport on a socket it opened to the master's rendezvous. Its owner tells it what happens:
 * `forked(pid)`, `connected(socket)`, `exited(exit)`, or `failed(err)` if it never started.
 * Its exit is reported once both the owner said it exited and its transport is closed (so what it
 * wrote before dying is read first), or 1 s after either.
 */
export class ForkedWorker implements WorkerProcess {
  readonly channel: WorkerChannel;
  readonly started: Promise<void>;
  readonly ready: Promise<void>;
  private readonly deferred = new DeferredChannel();
  private currentPid = 0;
  private resolveStarted!: () => void;
  private rejectStarted!: (err: Error) => void;
  private resolveReady!: () => void;
  private rejectReady!: (err: Error) => void;
  private pendingSignal: NodeJS.Signals | null = null;
  private socket: Socket | null = null;
  private socketClosed = false;
  private reported: WorkerExit | null = null;
  private exitInfo: WorkerExit | null = null;
  private exitTimer: NodeJS.Timeout | null = null;
  private readonly exitCbs: Array<(e: WorkerExit) => void> = [];

  /** @param label for log lines, e.g. `worker 3`; @param log the instance log */
  constructor(
    private readonly label: string,
    private readonly log: Logger,
  ) {
    this.channel = this.deferred;
    this.started = new Promise<void>((res, rej) => {
      this.resolveStarted = res;
      this.rejectStarted = rej;
    });
    this.ready = new Promise<void>((res, rej) => {
      this.resolveReady = res;
      this.rejectReady = rej;
    });
    this.started.catch(() => {});
    this.ready.catch(() => {});
  }

  get pid(): number {
    return this.currentPid;
  }

  /** The owner forked it: its pid is known. */
  forked(pid: number): void {
    this.currentPid = pid;
    this.resolveStarted();
    if (this.pendingSignal) this.kill(this.pendingSignal);
  }

  /** It connected and said hello: its transport is `socket` (paused, positioned after the hello). */
  connected(socket: Socket): void {
    this.socket = socket;
    const onControl = (msg: WorkerControl) => {
      if (msg.type === 'ready') this.resolveReady();
      else if (msg.type === 'log' && typeof msg.text === 'string') this.log.info(msg.text);
    };
    const channel = new FramedChannel(socket, onControl, (err) => {
      this.log.error(
        `tsgi: ${this.label} (pid ${this.pid}) broke the transport protocol: ${err.message}; killing it`,
      );
      this.kill('SIGKILL');
    });
    this.deferred.inner = channel;
    socket.once('close', () => {
      this.socketClosed = true;
      this.maybeExited();
    });
    socket.resume();
    if (this.deferred.closed) channel.close();
  }

  /** It never started, or never connected: report it as exited with `exit`. */
  failed(err: Error, exit: WorkerExit): void {
    this.rejectStarted(err);
    this.rejectReady(err);
    this.socketClosed = true;
    this.exited(exit);
  }

  /** The owner reaped it. */
  exited(exit: WorkerExit): void {
    if (this.reported) return;
    this.reported = exit;
    if (!this.socket) this.socketClosed = true;
    this.rejectReady(new Error(`exited before it was ready (${exit.signal ?? `exit code ${exit.code}`})`));
    this.maybeExited();
  }

  onExit(cb: (exit: WorkerExit) => void): void {
    if (this.exitInfo) cb(this.exitInfo);
    else this.exitCbs.push(cb);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitInfo || this.reported) return;
    if (this.currentPid <= 0) {
      this.pendingSignal = signal;
      return;
    }
    try {
      process.kill(this.currentPid, signal);
    } catch {}
  }

  private maybeExited(): void {
    if (this.exitInfo) return;
    if (this.reported && this.socketClosed) {
      this.finish(this.reported);
      return;
    }
    if (this.exitTimer) return;
    this.exitTimer = setTimeout(() => this.finish(this.reported ?? { code: null, signal: null }), 1000);
    this.exitTimer.unref();
  }

  private finish(info: WorkerExit): void {
    if (this.exitInfo) return;
    if (this.exitTimer) clearTimeout(this.exitTimer);
    this.exitInfo = info;
    this.rejectReady(new Error('exited before it was ready'));
    for (const cb of this.exitCbs.splice(0)) cb(info);
  }
}
