import { close, openSync, read, unlinkSync, write } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BodySource, TsgiRequest } from './request.js';
import { type ResponseSink, sendError } from './sink.js';

let tempSeq = 0;

/** A body replayed from memory chunks. */
class MemoryBody implements BodySource {
  private paused = false;
  private i = 0;
  private onData: ((c: Buffer) => void) | null = null;
  private onEnd: (() => void) | null = null;

  constructor(private readonly chunks: Buffer[]) {}

  start(onData: (chunk: Buffer) => void, onEnd: () => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    queueMicrotask(() => this.flow());
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    queueMicrotask(() => this.flow());
  }

  private flow(): void {
    while (!this.paused && this.i < this.chunks.length) this.onData?.(this.chunks[this.i++]!);
    if (!this.paused && this.i === this.chunks.length) {
      this.i++;
      this.onEnd?.();
    }
  }
}

/** A body replayed from an (already unlinked) temp file, 64 KiB at a time. */
class FileBody implements BodySource {
  private paused = false;
  private reading = false;
  private pos = 0;
  private done = false;
  private onData: ((c: Buffer) => void) | null = null;
  private onEnd: (() => void) | null = null;
  private onError: ((e: Error) => void) | null = null;

  constructor(
    private readonly fd: number,
    private readonly size: number,
  ) {}

  start(onData: (chunk: Buffer) => void, onEnd: () => void, onError: (err: Error) => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    this.onError = onError;
    this.next();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.next();
  }

  private next(): void {
    if (this.paused || this.reading || this.done) return;
    if (this.pos >= this.size) {
      this.done = true;
      close(this.fd, () => {});
      this.onEnd?.();
      return;
    }
    this.reading = true;
    const buf = Buffer.allocUnsafe(Math.min(65536, this.size - this.pos));
    read(this.fd, buf, 0, buf.length, this.pos, (err, n) => {
      this.reading = false;
      if (err || n === 0) {
        this.done = true;
        close(this.fd, () => {});
        this.onError?.(err ?? new Error('post-buffering temp file ended early'));
        return;
      }
      this.pos += n;
      this.onData?.(n === buf.length ? buf : buf.subarray(0, n));
      this.next();
    });
  }
}

/**
 * uWSGI's `post-buffering`: read the whole request body before the request takes a worker slot, up
 * to `memoryBytes` in memory and the rest in an unlinked temp file, then set `CONTENT_LENGTH` to the
 * real size (Django and others need it with chunked uploads) and replace the body with a replay of
 * it. Calls `next(req)` when done; on a broken body answers the client itself (400/413) and never
 * calls `next`. A client that leaves while its body is buffered costs nothing further.
 */
export function postBuffer(
  req: TsgiRequest,
  sink: ResponseSink,
  memoryBytes: number,
  next: (req: TsgiRequest) => void,
): void {
  const body = req.body;
  if (!body) {
    next(req);
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let fd = -1;
  let filePos = 0;
  let writing = 0;
  let ended = false;
  let gone = false;
  const closeFile = () => {
    if (fd >= 0) close(fd, () => {});
    fd = -1;
  };
  sink.onAbort(() => {
    gone = true;
    closeFile();
  });
  const finish = () => {
    if (gone || !ended || writing > 0) return;
    req.vars.set('CONTENT_LENGTH', String(size));
    req.contentLength = size;
    req.body = fd >= 0 ? new FileBody(fd, size) : new MemoryBody(chunks);
    next(req);
  };
  body.start(
    (chunk) => {
      if (gone) return;
      size += chunk.length;
      if (fd < 0 && size <= memoryBytes) {
        chunks.push(chunk);
        return;
      }
      if (fd < 0) {
        const path = join(tmpdir(), `tsgi-post-${process.pid}-${++tempSeq}`);
        fd = openSync(path, 'wx+', 0o600);
        unlinkSync(path);
        chunks.push(chunk);
        const pending = Buffer.concat(chunks);
        chunks.length = 0;
        chunk = pending;
      }
      const at = filePos;
      filePos += chunk.length;
      writing++;
      body.pause();
      write(fd, chunk, 0, chunk.length, at, (err) => {
        writing--;
        if (err) {
          gone = true;
          closeFile();
          sendError(sink, 500, 'cannot buffer the request body');
          return;
        }
        body.resume();
        finish();
      });
    },
    () => {
      ended = true;
      finish();
    },
    (err) => {
      closeFile();
      if (!gone) sendError(sink, (err as { statusCode?: number }).statusCode ?? 400, err.message);
      gone = true;
    },
  );
}
