import type { BodySource } from './request.js';

/**
 * A {@link BodySource} fed by an edge that parses its own wire format (uwsgi packets, FastCGI STDIN
 * records): the edge pushes chunks as they arrive, the consumer (the worker channel, an upstream
 * client) starts, pauses and resumes delivery.
 *
 * Chunks that arrive before `start` (the request waits in the dispatch queue) or while paused are
 * queued; once more than `highWaterBytes` are queued, `flow(false)` asks the edge to stop reading
 * its socket, and `flow(true)` asks it to read again once the queue is delivered. Memory per body is
 * therefore bounded by `highWaterBytes` plus one socket read, whatever the body size. Once the body
 * ended or failed it no longer holds the edge back (`flow(true)` if it had asked to stop).
 */
export class PushedBody implements BodySource {
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private failure: Error | null = null;
  private started = false;
  private paused = false;
  private reading = true;
  private finished = false;
  private onData: ((chunk: Buffer) => void) | null = null;
  private onEnd: (() => void) | null = null;
  private onError: ((err: Error) => void) | null = null;

  /**
   * @param flow called with false when the edge should stop reading (queue over the high-water mark
   *   or consumer paused), true when it may read again
   * @param highWaterBytes queued bytes above which the edge is asked to stop reading
   */
  constructor(
    private readonly flow: (reading: boolean) => void,
    private readonly highWaterBytes = 64 * 1024,
  ) {}

  /** Bytes queued and not yet delivered. */
  get queued(): number {
    return this.queuedBytes;
  }

  /** Edge side: a chunk of the body arrived (it must not be reused by the caller afterwards). */
  push(chunk: Buffer): void {
    if (this.ended || this.failure || chunk.length === 0) return;
    if (this.started && !this.paused && this.queue.length === 0) {
      this.onData!(chunk);
      return;
    }
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > this.highWaterBytes) this.setReading(false);
  }

  /** Edge side: the body is complete. */
  end(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    this.setReading(true);
    this.deliver();
  }

  /** Edge side: the body broke (client gone, malformed framing, over a limit). */
  fail(err: Error): void {
    if (this.ended || this.failure) return;
    this.failure = err;
    this.queue = [];
    this.queuedBytes = 0;
    this.setReading(true);
    this.deliver();
  }

  start(onData: (chunk: Buffer) => void, onEnd: () => void, onError: (err: Error) => void): void {
    if (this.started) throw new Error('body started twice');
    this.started = true;
    this.onData = onData;
    this.onEnd = onEnd;
    this.onError = onError;
    this.deliver();
  }

  pause(): void {
    this.paused = true;
    this.setReading(false);
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.deliver();
  }

  private deliver(): void {
    if (!this.started || this.finished) return;
    if (this.failure) {
      this.finished = true;
      this.onError!(this.failure);
      return;
    }
    while (!this.paused && this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.onData!(chunk);
    }
    if (this.paused || this.queue.length > 0) return;
    if (this.ended) {
      this.finished = true;
      this.onEnd!();
      return;
    }
    this.setReading(true);
  }

  /** Nothing more comes for a body that ended or failed, so only a running body asks the edge to stop. */
  private setReading(reading: boolean): void {
    if (this.reading === reading || (!reading && (this.ended || this.failure))) return;
    this.reading = reading;
    this.flow(reading);
  }
}
