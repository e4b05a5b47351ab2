import { Logger } from '../../../core/log/logger.js';
import { TsgiRequest } from '../../../core/request/request.js';
import type { ResponseSink } from '../../../core/request/sink.js';

/** A sink that records the response in memory (for rules and proxy unit tests). */
export class MemorySink implements ResponseSink {
  headSent = false;
  status = 0;
  reason = '';
  headers: string[] = [];
  chunks: Buffer[] = [];
  ended = false;
  failed: { status: number; detail: string } | null = null;
  private abortCb: (() => void) | null = null;

  head(status: number, reason: string, headers: string[], _bodyLength: number): void {
    if (this.headSent) throw new Error('head twice');
    this.headSent = true;
    this.status = status;
    this.reason = reason;
    this.headers = [...headers];
  }
  write(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  fail(status: number, detail: string): void {
    this.failed = { status, detail };
    if (!this.headSent) this.status = status;
    this.headSent = true;
  }
  onDrain(cb: () => void): void {
    queueMicrotask(cb);
  }
  onAbort(cb: () => void): void {
    this.abortCb = cb;
  }
  abort(): void {
    this.abortCb?.();
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  header(name: string): string | undefined {
    for (let i = 0; i < this.headers.length; i += 2)
      if (this.headers[i]!.toLowerCase() === name.toLowerCase()) return this.headers[i + 1];
    return undefined;
  }
}

/** A GET request with these vars (PATH_INFO, QUERY_STRING... merged over defaults). */
export function request(vars: Record<string, string> = {}): TsgiRequest {
  const base: Record<string, string> = {
    REQUEST_METHOD: 'GET',
    REQUEST_URI: vars.PATH_INFO ?? '/',
    PATH_INFO: '/',
    QUERY_STRING: '',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REMOTE_ADDR: '127.0.0.1',
    HTTP_HOST: 'example.com',
  };
  return new TsgiRequest(new Map(Object.entries({ ...base, ...vars })), null, 0, 'http');
}

/** A logger that keeps lines in memory. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const sink = { fd: 2, line: (t: string) => lines.push(t), flush() {}, close() {} };
  // biome-ignore lint/suspicious/noExplicitAny: a minimal stand-in for LogSink
  const log = new Logger(sink as any) as Logger & { lines: string[] };
  log.lines = lines;
  return log;
}
