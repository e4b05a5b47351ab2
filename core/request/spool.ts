import { createReadStream, type ReadStream } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BodySource } from './request.js';

/**
 * A request body read to its end before it is sent on, so that its length is known: the uwsgi
 * protocol delimits a body only by `CONTENT_LENGTH`, and php-cgi reads only `CONTENT_LENGTH` bytes
 * of STDIN, so a chunked body (no declared length) bound for such an upstream is spooled first, as
 * nginx does (`uwsgi_request_buffering`, `fastcgi_request_buffering`). The first `memoryBytes` stay
 * in memory, the rest goes to a temp file that `dispose` removes.
 */
export interface SpooledBody {
  /** Body length, bytes. */
  readonly length: number;
  /** A replay of the body (start once). */
  readonly body: BodySource;
  /** Remove the temp file, if any. Safe to call twice. */
  dispose(): void;
}

/** Bytes of a spooled body kept in memory by default; the rest goes to a temp file. */
export const SPOOL_MEMORY_BYTES = 1024 * 1024;

/**
 * Read `source` to its end.
 * @param memoryBytes bytes kept in memory before spilling to a temp file
 * @returns the spooled body; rejects with the body's own error (client gone, over `limit-post`) or
 *   a file-system error
 */
export function spoolBody(source: BodySource, memoryBytes: number): Promise<SpooledBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let inMemory = 0;
    let length = 0;
    let file: Promise<TempFile> | null = null;
    let writes: Promise<unknown> = Promise.resolve();
    const cleanup = () => {
      void file?.then((f) => rm(f.dir, { recursive: true, force: true })).catch(() => {});
    };
    source.start(
      (chunk) => {
        length += chunk.length;
        if (!file && inMemory + chunk.length <= memoryBytes) {
          chunks.push(chunk);
          inMemory += chunk.length;
          return;
        }
        file ??= tempFile();
        const f = file;
        source.pause();
        writes = writes
          .then(() => f)
          .then(({ handle }) => handle.write(chunk))
          .then(() => source.resume());
        writes.catch(reject);
      },
      () => {
        writes.then(async () => {
          const f = file ? await file : null;
          await f?.handle.close();
          resolve({ length, body: new ReplayBody(chunks, f?.path ?? null), dispose: cleanup });
        }, reject);
      },
      (err) => {
        writes.finally(cleanup).catch(() => {});
        reject(err);
      },
    );
  });
}

interface TempFile {
  readonly dir: string;
  readonly path: string;
  readonly handle: FileHandle;
}

async function tempFile(): Promise<TempFile> {
  const dir = await mkdtemp(join(tmpdir(), 'tsgi-spool-'));
  const path = join(dir, 'body');
  return { dir, path, handle: await open(path, 'w+', 0o600) };
}

/** Replays a spooled body: the in-memory chunks, then the temp file, with backpressure. */
class ReplayBody implements BodySource {
  private paused = false;
  private stream: ReadStream | null = null;
  private next = 0;
  private onData: ((chunk: Buffer) => void) | null = null;
  private onEnd: (() => void) | null = null;

  constructor(
    private readonly chunks: Buffer[],
    private readonly path: string | null,
  ) {}

  start(onData: (chunk: Buffer) => void, onEnd: () => void, onError: (err: Error) => void): void {
    this.onData = onData;
    this.onEnd = onEnd;
    if (this.path) {
      this.stream = createReadStream(this.path, { highWaterMark: 64 * 1024 });
      this.stream.pause();
      this.stream.on('data', (c) => onData(c as Buffer));
      this.stream.on('end', () => onEnd());
      this.stream.on('error', onError);
    }
    this.pump();
  }

  pause(): void {
    this.paused = true;
    this.stream?.pause();
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  private pump(): void {
    while (!this.paused && this.next < this.chunks.length) this.onData!(this.chunks[this.next++]!);
    if (this.paused || this.next < this.chunks.length) return;
    if (this.stream) this.stream.resume();
    else if (this.next === this.chunks.length) {
      this.next++;
      this.onEnd!();
    }
  }
}
