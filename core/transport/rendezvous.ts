import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, Frame } from './frames.js';

/** What a worker sends first on a rendezvous connection (a CONTROL frame on stream 0). */
export interface Hello {
  readonly type: 'hello';
  readonly token: string;
  readonly pid: number;
}

/** Largest hello frame payload accepted, bytes. */
const MAX_HELLO_BYTES = 4096;

interface Expected {
  readonly resolve: (s: { socket: Socket; hello: Hello }) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Where workers started by another process (forked by the Python prototype) connect to their
 * master: a unix socket in a private directory (mode 0700, so only the instance's user reaches it).
 * Each worker identifies itself with a one-time token the master handed to whoever starts it, in a
 * `hello` CONTROL frame, then speaks the framed transport (docs/transport.md, "The prototype").
 * A connection with an unknown token, a malformed hello, or none within the timeout is closed.
 */
export class Rendezvous {
  readonly path: string;
  private readonly dir: string;
  private readonly server: Server;
  private readonly expected = new Map<string, Expected>();

  private constructor(dir: string) {
    this.dir = dir;
    this.path = join(dir, 'workers.sock');
    this.server = createServer((s) => this.onConnection(s));
  }

  /** Create the private directory and listen in it. @throws the bind error. */
  static async open(): Promise<Rendezvous> {
    const r = new Rendezvous(mkdtempSync(join(tmpdir(), 'tsgi-')));
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(r.path, () => {
        r.server.off('error', reject);
        resolve();
      });
    });
    r.server.unref();
    return r;
  }

  /**
   * Wait for the worker holding `token`. Resolves with its socket, paused and positioned after the
   * hello (attach a reader, then `resume()`); rejects after `timeoutMs` or on `cancel`.
   */
  expect(token: string, timeoutMs: number): Promise<{ socket: Socket; hello: Hello }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expected.delete(token);
        reject(new Error(`the worker did not connect within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.expected.set(token, { resolve, reject, timer });
    });
  }

  /** Stop waiting for `token` (the worker died before connecting). */
  cancel(token: string, why: string): void {
    const e = this.expected.get(token);
    if (!e) return;
    clearTimeout(e.timer);
    this.expected.delete(token);
    e.reject(new Error(why));
  }

  /** Stop listening and remove the directory. */
  close(): void {
    for (const token of [...this.expected.keys()]) this.cancel(token, 'the instance is stopping');
    this.server.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private onConnection(socket: Socket): void {
    let buf = Buffer.alloc(0);
    const drop = () => socket.destroy();
    const timer = setTimeout(drop, 5000);
    socket.on('error', () => {});
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < FRAME_HEADER_BYTES) return;
      const len = buf.readUInt32LE(5);
      if (buf[0] !== Frame.RESP_CONTROL || buf.readUInt32LE(1) !== 0 || len > MAX_HELLO_BYTES) return drop();
      if (buf.length < FRAME_HEADER_BYTES + len) return;
      socket.off('data', onData);
      socket.pause();
      clearTimeout(timer);
      const hello = parseHello(buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len));
      const e = hello && this.expected.get(hello.token);
      if (!hello || !e) return drop();
      this.expected.delete(hello.token);
      clearTimeout(e.timer);
      const rest = buf.subarray(FRAME_HEADER_BYTES + len);
      if (rest.length > 0) socket.unshift(rest);
      e.resolve({ socket, hello });
    };
    socket.on('data', onData);
  }
}

function parseHello(payload: Buffer): Hello | null {
  try {
    const m = JSON.parse(payload.toString('utf8')) as Partial<Hello>;
    if (m.type === 'hello' && typeof m.token === 'string' && typeof m.pid === 'number') return m as Hello;
  } catch {}
  return null;
}
