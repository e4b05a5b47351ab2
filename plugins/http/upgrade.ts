import type { Duplex } from 'node:stream';
import { REASONS, type ResponseSink } from '../../core/request/sink.js';

/**
 * The sink of an HTTP/1.1 request that asked to switch protocols (`Upgrade`, RFC 9110 §7.8): node
 * hands the raw connection over at once, so this sink writes the response itself. Whoever can speak
 * the new protocol (the router passing a WebSocket through to an upstream) calls `takeover()`; any
 * other answer (the app's, an error) is written as a plain HTTP/1.1 response and the connection is
 * closed after it.
 */
export class UpgradeSink implements ResponseSink {
  headSent = false;
  private taken = false;
  private aborted = false;
  private abortCb: (() => void) | null = null;

  constructor(
    private readonly socket: Duplex,
    private readonly rest: Buffer,
  ) {
    socket.on('error', () => {});
    socket.once('close', () => {
      if (this.taken) return;
      this.aborted = true;
      const cb = this.abortCb;
      this.abortCb = null;
      cb?.();
    });
  }

  takeover(): { socket: Duplex; head: Buffer } | null {
    if (this.headSent || this.taken || this.aborted) return null;
    this.taken = true;
    return { socket: this.socket, head: this.rest };
  }

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    if (this.headSent) throw new Error('response head sent twice');
    this.headSent = true;
    if (this.aborted || this.taken) return;
    let text = `HTTP/1.1 ${status} ${reason || REASONS[status] || ''}\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const lower = headers[i]!.toLowerCase();
      if (lower === 'connection' || lower === 'transfer-encoding') continue;
      if (lower === 'content-length') hasLength = true;
      text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    }
    if (!hasLength && bodyLength >= 0) text += `Content-Length: ${bodyLength}\r\n`;
    this.socket.write(`${text}Connection: close\r\n\r\n`, 'latin1');
  }

  write(chunk: Buffer): boolean {
    if (this.aborted || this.taken) return true;
    return this.socket.write(chunk);
  }

  end(): void {
    if (!this.aborted && !this.taken) this.socket.end();
  }

  fail(status: number, detail: string): void {
    if (this.aborted || this.taken) return;
    if (this.headSent) {
      this.socket.destroy();
      return;
    }
    const body = Buffer.from(
      `${status} ${REASONS[status] ?? 'Error'}${detail ? `: ${detail}` : ''}\n`,
      'latin1',
    );
    this.head(status, REASONS[status] ?? 'Error', ['Content-Type', 'text/plain; charset=utf-8'], body.length);
    this.socket.end(body);
  }

  onDrain(cb: () => void): void {
    this.socket.once('drain', cb);
  }

  onAbort(cb: () => void): void {
    if (this.aborted) cb();
    else this.abortCb = cb;
  }
}
