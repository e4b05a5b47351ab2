import { closeSync, openSync, write, writeSync } from 'node:fs';

/**
 * Where log lines go: a file descriptor written asynchronously in batches. Lines are queued and
 * flushed once per event-loop turn with one write; when the queue holds more than `maxQueuedBytes`
 * (a slow disk, a full pipe), new lines are dropped and counted, so logging never blocks the event
 * loop and never grows memory without bound.
 */
export class LogSink {
  private queue: string[] = [];
  private queuedBytes = 0;
  private writing = false;
  private scheduled = false;
  /** Lines dropped because the queue was full. */
  dropped = 0;

  /**
   * @param fd file descriptor to write to (2 for stderr, or a file opened by {@link LogSink.open})
   * @param maxQueuedBytes bound of the in-memory queue, bytes
   */
  constructor(
    readonly fd: number,
    private readonly maxQueuedBytes = 4 * 1024 * 1024,
    private readonly ownsFd = false,
  ) {}

  /** Open `path` for appending (created 0644 if missing). @throws the fs error if it cannot be opened. */
  static open(path: string): LogSink {
    return new LogSink(openSync(path, 'a', 0o644), undefined, true);
  }

  /** Queue one line (a newline is added). */
  line(text: string): void {
    if (this.queuedBytes > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    this.queue.push(text);
    this.queuedBytes += text.length + 1;
    if (!this.scheduled && !this.writing) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Write everything queued, synchronously if `sync` (used at exit). */
  flush(sync = false): void {
    this.scheduled = false;
    if (this.queue.length === 0 || (this.writing && !sync)) return;
    const text = `${this.queue.join('\n')}\n`;
    this.queue = [];
    this.queuedBytes = 0;
    if (sync) {
      try {
        writeAllSync(this.fd, text);
      } catch {}
      return;
    }
    this.writing = true;
    const buf = Buffer.from(text, 'utf8');
    const writeAll = (off: number): void => {
      write(this.fd, buf, off, buf.length - off, null, (err, n) => {
        if (err && (err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => writeAll(off), 5);
          return;
        }
        if (!err && off + n < buf.length) return writeAll(off + n);
        this.writing = false;
        if (this.queue.length > 0) this.flush();
      });
    };
    writeAll(0);
  }

  /** Flush synchronously and close the file if this sink opened it. */
  close(): void {
    this.flush(true);
    if (this.ownsFd) closeSync(this.fd);
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
