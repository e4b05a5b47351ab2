import { performance } from 'node:perf_hooks';
import { channels, publish } from '../master/events.js';
import type { Worker } from '../master/worker.js';
import type { StreamOutcome } from '../plugin/types.js';
import type { TsgiRequest } from '../request/request.js';
import { type ResponseSink, sendError } from '../request/sink.js';

interface Queued {
  readonly req: TsgiRequest;
  readonly sink: ResponseSink;
  gone: boolean;
}

/** What the dispatcher tells the master about each request's end. */
export type DoneCallback = (worker: Worker, req: TsgiRequest, outcome: StreamOutcome) => void;

/**
 * Hands requests to free worker slots. When every slot is busy, requests wait in a FIFO queue bounded
 * by `listen`; past that they get 503 at once. A request whose client leaves while queued is dropped
 * when its turn comes.
 *
 * Worker choice: the accepting worker with the most free slots (ties: lowest id), so idle workers are
 * preferred and threaded workers fill evenly.
 */
export class Dispatcher {
  private workers: Worker[] = [];
  private queue: Queued[] = [];
  private head = 0;
  /** Queued requests whose client is still there. */
  private live = 0;
  /** Requests rejected with 503 because the queue was full. */
  rejected = 0;
  private lastRejectLogMs = Number.NEGATIVE_INFINITY;

  constructor(
    private maxQueue: number,
    private readonly onDone: DoneCallback,
    private readonly onReject: (depth: number, req: TsgiRequest) => void,
  ) {}

  /** Requests waiting for a slot (clients that left while queued are not counted). */
  get queued(): number {
    return this.live;
  }

  /** Change the queue bound (reload with a new `listen`). */
  setMaxQueue(n: number): void {
    this.maxQueue = n;
  }

  /** The workers taking requests (in id order). */
  accepting(): readonly Worker[] {
    return this.workers;
  }

  /** Start sending requests to `w`. */
  add(w: Worker): void {
    if (this.workers.includes(w)) return;
    this.workers.push(w);
    this.workers.sort((a, b) => a.id - b.id);
    this.pump();
  }

  /** Stop sending requests to `w` (retiring or dead); its in-flight requests are not touched. */
  remove(w: Worker): void {
    const i = this.workers.indexOf(w);
    if (i !== -1) this.workers.splice(i, 1);
  }

  /** Dispatch `req` now, queue it, or reject it with 503 when the queue is full. */
  submit(req: TsgiRequest, sink: ResponseSink): void {
    if (this.head === this.queue.length) {
      const w = this.pick();
      if (w) {
        this.start(w, req, sink);
        return;
      }
    }
    if (this.queued >= this.maxQueue) {
      this.rejected++;
      this.onReject(this.queued, req);
      sendError(sink, 503, 'all workers are busy and the queue is full');
      return;
    }
    if (this.queue.length - this.head > 2 * this.maxQueue) {
      this.queue = this.queue.slice(this.head).filter((x) => !x.gone);
      this.head = 0;
    }
    const q: Queued = { req, sink, gone: false };
    sink.onAbort(() => {
      if (q.gone) return;
      q.gone = true;
      this.live--;
    });
    this.queue.push(q);
    this.live++;
  }

  /** Serve queued requests while slots are free. Call after a slot frees or a worker is added. */
  pump(): void {
    while (this.head < this.queue.length) {
      const q = this.queue[this.head]!;
      if (q.gone) {
        this.shift();
        continue;
      }
      const w = this.pick();
      if (!w) return;
      this.shift();
      this.start(w, q.req, q.sink);
    }
  }

  /** Answer every queued request with `status` (used when no worker can ever take them). */
  failQueued(status: number, detail: string): void {
    while (this.head < this.queue.length) {
      const q = this.queue[this.head]!;
      const gone = q.gone;
      this.shift();
      if (gone) continue;
      publish(channels.requestRejected, () => ({ req: q.req, status, reason: 'no-worker' as const }));
      sendError(q.sink, status, detail);
    }
  }

  /** Whether the rate-limited rejection log line may be written now (at most once per second). */
  shouldLogReject(nowMs: number): boolean {
    if (nowMs - this.lastRejectLogMs < 1000) return false;
    this.lastRejectLogMs = nowMs;
    return true;
  }

  private shift(): void {
    const q = this.queue[this.head]!;
    if (!q.gone) {
      q.gone = true;
      this.live--;
    }
    this.queue[this.head] = undefined as unknown as Queued;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private pick(): Worker | null {
    let best: Worker | null = null;
    let bestFree = 0;
    for (const w of this.workers) {
      const f = w.free;
      if (f > bestFree) {
        best = w;
        bestFree = f;
        if (f === w.slots) break;
      }
    }
    return best;
  }

  private start(w: Worker, req: TsgiRequest, sink: ResponseSink): void {
    req.workerId = w.id;
    req.dispatchedAtMs = performance.now();
    w.active.add(req);
    w.process.channel.open(req, sink, (outcome) => {
      w.active.delete(req);
      this.onDone(w, req, outcome);
      this.pump();
    });
  }
}
