import { closeSync, openSync, write, writeSync } from 'node:fs';
import { OutputCapture } from './capture.js';
import { unstickWriter } from './unstick.js';

/**
 * How long a line may wait to be written with the ones after it, ms. Each write is a round trip
 * through libuv's thread pool, measured here at about 80 µs of CPU; written once per event-loop turn
 * that cost 20–25 µs per request line under load, batched over 20 ms it is 1–4 µs (and at most 50
 * writes a second), at the price of lines reaching the file up to 20 ms later.
 */
const FLUSH_INTERVAL_MS = 20;

/**
 * Where log lines go: a file descriptor written asynchronously in batches. Lines are queued and
 * flushed every 20 ms with one write; when the queue holds more than `maxQueuedBytes`
 * (a slow disk, a full pipe), new lines are dropped and counted, so logging never blocks the event
 * loop and never grows memory without bound. Once the queue drains, one line says how many were lost.
 *
 * A sink opened on a path can be reopened (logrotate: SIGHUP, `touch-logreopen`); an encoder chain
 * (`log-encoder`) can turn each line into another record (JSON lines).
 */
export class LogSink {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private scheduled = false;
  private encode: ((line: string) => string) | null = null;
  /** A replaced fd still being written; closed when that write ends. */
  private retired: number | null = null;
  private reportedDrops = 0;
  private capture: OutputCapture | null = null;
  /** Lines dropped because the queue was full (never reset; the `tsgi_log_dropped_lines_total` metric). */
  dropped = 0;

  /**
   * @param fd file descriptor to write to (2 for stderr, or a file opened by {@link LogSink.open})
   * @param maxQueuedBytes bound of the in-memory queue, bytes
   * @param path the file behind `fd` when the sink opened it (then `reopen` works)
   */
  constructor(
    private current: number,
    private readonly maxQueuedBytes = 4 * 1024 * 1024,
    readonly path: string | null = null,
  ) {}

  /** Open `path` for appending (created 0644 if missing). @throws the fs error if it cannot be opened. */
  static open(path: string): LogSink {
    return new LogSink(openSync(path, 'a', 0o644), undefined, path);
  }

  /**
   * The descriptor workers get as their stdout and stderr: where lines go now, or the capture pipe
   * when worker output is routed through this sink.
   */
  get fd(): number {
    return this.capture?.writeFd ?? this.current;
  }

  /**
   * Route the output of workers started from now on through this sink, line by line (so encoders
   * apply to it too). Idempotent.
   * @throws the error of making the pipe (see {@link OutputCapture}).
   */
  captureWorkerOutput(): void {
    this.capture ??= new OutputCapture((l) => this.line(l));
  }

  /** Set (or clear, with null) the function that turns each line into the record written. */
  setEncoder(encode: ((line: string) => string) | null): void {
    this.encode = encode;
  }

  /** Queue one line (a newline is added; an encoder makes its own record). */
  line(text: string): void {
    if (this.queuedBytes > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    const record = this.encode ? this.encode(text) : `${text}\n`;
    this.queue.push(record);
    this.queuedBytes += record.length;
    if (!this.writing) this.schedule();
  }

  /** Arm the batching timer (once). */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => this.flush(), FLUSH_INTERVAL_MS).unref();
  }

  /**
   * Open the file again (after logrotate moved it) and write to the new one; the old descriptor is
   * closed once the write in progress ends. No-op for a sink on an inherited descriptor (stderr).
   * @throws the fs error when the path cannot be opened (the old file stays in use).
   */
  reopen(): void {
    if (!this.path) return;
    const fd = openSync(this.path, 'a', 0o644);
    const old = this.current;
    this.current = fd;
    if (this.writing) this.retired = old;
    else closeSync(old);
  }

  /** Write everything queued, synchronously if `sync` (used at exit). */
  flush(sync = false): void {
    this.scheduled = false;
    if (this.queue.length === 0 || (this.writing && !sync)) return;
    const text = this.queue.join('');
    this.queue = [];
    this.queuedBytes = 0;
    if (sync) {
      try {
        writeAllSync(this.current, text);
      } catch {}
      return;
    }
    this.writing = true;
    const fd = this.current;
    const buf = Buffer.from(text, 'utf8');
    const writeAll = (off: number): void => {
      write(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => writeAll(off), 5);
          return;
        }
        if (!err && off + n < buf.length) return writeAll(off + n);
        this.writing = false;
        if (this.retired !== null) {
          closeSync(this.retired);
          this.retired = null;
        }
        if (this.queue.length === 0 && this.dropped > this.reportedDrops) {
          const lost = this.dropped - this.reportedDrops;
          this.reportedDrops = this.dropped;
          this.line(`tsgi: ${lost} log line(s) dropped: the log destination was too slow`);
        }
        if (this.queue.length > 0) this.schedule();
      });
    };
    writeAll(0);
  }

  /**
   * Flush synchronously and close the file if this sink opened it (start-up errors, tests). When an
   * asynchronous write is still in progress the queue is left to it rather than written around it.
   */
  close(): void {
    this.capture?.close();
    if (!this.writing) this.flush(true);
    if (this.path) closeSync(this.current);
  }

  /**
   * Write what is queued and close, waiting at most `timeoutMs` for the destination (a stuck pipe
   * costs the lines still queued, never a process that cannot exit: a write still blocked on an
   * inherited pipe or socket is freed by {@link unstickWriter}).
   */
  async end(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.flush();
    while ((this.writing || this.queue.length > 0) && Date.now() < deadline) {
      if (!this.writing) this.flush();
      await new Promise((r) => setTimeout(r, 5));
    }
    this.dropped += this.queue.length;
    this.queue = [];
    this.queuedBytes = 0;
    this.capture?.close();
    if (this.writing && !this.path) {
      // The destination stopped reading: free the thread blocked in write(2), or exit would wait on it.
      unstickWriter(this.current);
      const until = Date.now() + 500;
      while (this.writing && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
    }
    if (this.path && !this.writing) closeSync(this.current);
  }
}

function writeAllSync(fd: number, text: string): void {
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off);
}

/** Severity of a lifecycle log line. */
export type LogLevel = 'info' | 'warn' | 'error';

/**
 * tsgi's logger: plain text lines as uWSGI writes them (no timestamps on lifecycle lines unless the
 * instance asks for them). `child(prefix)` makes a logger that prefixes every line.
 */
export class Logger {
  constructor(
    readonly sink: LogSink,
    private readonly prefix = '',
  ) {}

  info(msg: string): void {
    this.sink.line(this.prefix + msg);
  }

  warn(msg: string): void {
    this.sink.line(`${this.prefix}WARNING: ${msg}`);
  }

  error(msg: string): void {
    this.sink.line(`${this.prefix}ERROR: ${msg}`);
  }

  /** A request log line, written as given. */
  request(line: string): void {
    this.sink.line(line);
  }

  /** A logger writing to the same sink with `prefix` before every line. */
  child(prefix: string): Logger {
    return new Logger(this.sink, this.prefix + prefix);
  }
}
