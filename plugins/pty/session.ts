import type { Socket } from 'node:net';
import { constants } from 'node:os';
import type * as pty from 'node-pty';
import { nodePty } from '../../core/deps.js';
import { PtyPacketDecoder } from './framing.js';

/** A program to run in a console's pseudo-terminal. */
export interface ConsoleProgram {
  /** Executable (a path, or a name looked up on PATH). */
  readonly file: string;
  readonly args: readonly string[];
  /** Working directory. */
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

/** How one console session runs. */
export interface SessionOptions {
  /** uWSGI's forkpty-urouter framing on input (stdin, signals, rows/cols packets); else raw bytes. */
  readonly framed: boolean;
  readonly program: ConsoleProgram;
  /** Initial window size, in character cells. */
  readonly rows: number;
  readonly cols: number;
  /** Close the session after this long without input or output, ms; 0 = never. */
  readonly idleMs: number;
  /** How long the program's process group gets after SIGHUP before SIGKILL, ms. */
  readonly killGraceMs: number;
  /** Bytes already read from the socket that belong to the session (after a token line). */
  readonly initial?: Buffer;
}

/** What a session reports when it ends. */
export interface SessionEnd {
  readonly pid: number;
  /** Why it ended: the program exited, the client went away, or it was idle too long. */
  readonly reason: 'exit' | 'client-gone' | 'idle';
}

/**
 * One console: a fresh pseudo-terminal running `program`, bridged to one client connection. The
 * program is a session leader (node-pty calls setsid), so its process group id is its pid; when the
 * client goes away (or the session is idle) the whole group gets SIGHUP, then SIGKILL after
 * `killGraceMs`. When the program exits, the connection is ended after the last output.
 *
 * @throws {Error} from node-pty when the program cannot be started (the caller tells the client).
 */
export class ConsoleSession {
  readonly pid: number;
  private readonly term: pty.IPty;
  private idle: NodeJS.Timeout | null = null;
  private ended = false;
  private exited = false;

  constructor(
    private readonly sock: Socket,
    private readonly opts: SessionOptions,
    private readonly onEnd: (e: SessionEnd) => void,
  ) {
    const p = opts.program;
    this.term = nodePty().spawn(p.file, [...p.args], {
      name: p.env.TERM ?? 'xterm-256color',
      cols: opts.cols,
      rows: opts.rows,
      cwd: p.cwd,
      env: p.env as Record<string, string>,
      encoding: null,
    });
    this.pid = this.term.pid;
    this.term.onData((d: string | Buffer) => {
      this.touch();
      if (!sock.destroyed && !sock.write(d)) {
        this.term.pause();
        sock.once('drain', () => this.term.resume());
      }
    });
    this.term.onExit(() => {
      this.exited = true;
      // Output still in flight arrives before exit on Linux; end after it.
      this.finish('exit');
    });
    const decoder = opts.framed ? new PtyPacketDecoder() : null;
    const input = (chunk: Buffer) => {
      this.touch();
      if (!decoder) {
        this.term.write(chunk);
        return;
      }
      for (const pkt of decoder.push(chunk)) {
        if (pkt.kind === 'stdin') this.term.write(pkt.data);
        else if (pkt.kind === 'rows') this.resize(pkt.rows, this.term.cols);
        else if (pkt.kind === 'cols') this.resize(this.term.rows, pkt.cols);
        else this.signal(pkt.signal);
      }
    };
    if (opts.initial?.length) input(opts.initial);
    sock.on('data', input);
    sock.on('error', () => {});
    sock.on('close', () => this.finish('client-gone'));
    sock.on('end', () => this.finish('client-gone'));
    this.touch();
  }

  private touch(): void {
    if (this.opts.idleMs <= 0 || this.ended) return;
    if (this.idle) this.idle.refresh();
    else this.idle = setTimeout(() => this.finish('idle'), this.opts.idleMs);
  }

  private resize(rows: number, cols: number): void {
    if (rows < 1 || cols < 1) return;
    try {
      this.term.resize(cols, rows);
    } catch {}
  }

  /** A signal packet: to the program's foreground process group (what a terminal's keys do). */
  private signal(n: number): void {
    const name = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
    if (!name) return;
    try {
      process.kill(-this.pid, n);
    } catch {}
  }

  private finish(reason: SessionEnd['reason']): void {
    if (this.ended) return;
    this.ended = true;
    if (this.idle) clearTimeout(this.idle);
    if (reason === 'exit') this.sock.end();
    else {
      if (reason === 'idle') this.sock.end('\r\ntsgi: console closed after idle timeout\r\n');
      this.killGroup();
    }
    this.onEnd({ pid: this.pid, reason });
  }

  /** SIGHUP to the program's process group (and the pty closed), SIGKILL after the grace period. */
  private killGroup(): void {
    if (this.exited) return;
    const pid = this.pid;
    const send = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {}
    };
    send('SIGHUP');
    send('SIGCONT');
    const t = setTimeout(() => {
      send('SIGKILL');
      try {
        this.term.kill('SIGKILL');
      } catch {}
    }, this.opts.killGraceMs);
    // Not cleared when the leader exits: a job it left in the group still gets SIGKILL (the kernel
    // does not reuse a pid while a process group of that id lives).
    t.unref();
  }

  /** End the session from the server side (instance stopping): the process group is killed. */
  close(): void {
    this.finish('client-gone');
    this.sock.destroy();
  }

  /** SIGKILL the process group now (the master is exiting and cannot wait for the grace period). */
  killNow(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {}
  }
}
