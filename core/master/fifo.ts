import { execFileSync } from 'node:child_process';
import { closeSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';

/**
 * The master FIFO (uWSGI's `master-fifo`, `core/fifo.c`): a named pipe the master reads
 * one-letter commands from, several per write (`echo +++s > fifo`). With several `master-fifo`
 * options, the first is active and `0`-`9` switch to another.
 */

/** What a FIFO letter asks of the master. */
export type FifoCommand =
  | 'reload'
  | 'reload-brutal'
  | 'workers-reload'
  | 'workers-reload-brutal'
  | 'chain-reload'
  | 'stop'
  | 'stop-now'
  | 'add-worker'
  | 'remove-worker'
  | 'stats'
  | 'pidfiles';

/** uWSGI's letters that tsgi implements. */
const LETTERS: Readonly<Record<string, FifoCommand>> = {
  r: 'reload',
  R: 'reload-brutal',
  w: 'workers-reload',
  W: 'workers-reload-brutal',
  c: 'chain-reload',
  q: 'stop',
  Q: 'stop-now',
  '+': 'add-worker',
  '-': 'remove-worker',
  s: 'stats',
  P: 'pidfiles',
};

/** uWSGI's letters for features tsgi does not have (logged as such, never silently ignored). */
const UNSUPPORTED: Readonly<Record<string, string>> = {
  B: 'broodlord SOS',
  C: 'cheap mode',
  E: 'emperor rescan',
  f: 're-fork the master',
  l: 'reopen the log',
  L: 'rotate the log',
  p: 'pause',
  S: 'block subscriptions',
};

/** One parsed byte of FIFO input. */
export type FifoInput =
  | { readonly kind: 'command'; readonly command: FifoCommand }
  | { readonly kind: 'slot'; readonly slot: number }
  | { readonly kind: 'unsupported'; readonly letter: string; readonly what: string }
  | { readonly kind: 'unknown'; readonly letter: string };

/** Parse what was written to the FIFO, one entry per letter; whitespace is skipped. */
export function parseFifo(text: string): FifoInput[] {
  const out: FifoInput[] = [];
  for (const ch of text) {
    if (/\s/.test(ch)) continue;
    const command = LETTERS[ch];
    if (command) out.push({ kind: 'command', command });
    else if (ch >= '0' && ch <= '9') out.push({ kind: 'slot', slot: Number(ch) });
    else if (UNSUPPORTED[ch]) out.push({ kind: 'unsupported', letter: ch, what: UNSUPPORTED[ch] });
    else out.push({ kind: 'unknown', letter: ch });
  }
  return out;
}

/**
 * Reads the active master FIFO and hands each command to `onCommand`. The FIFO is (re)created
 * 0600 at start, opened read-write so that writers closing it never end the stream, and removed by
 * `close(true)` (vacuum).
 */
export class MasterFifo {
  private slot = 0;
  private reader: Socket | null = null;
  private fd = -1;

  constructor(
    private readonly paths: readonly string[],
    private readonly onCommand: (c: FifoCommand) => void,
    private readonly log: Logger,
  ) {}

  /** Create and open slot 0. @throws when the FIFO cannot be created (the error names the path). */
  open(): void {
    this.openSlot(0);
  }

  /** Stop reading; with `remove`, unlink every FIFO this instance created. */
  close(remove: boolean): void {
    // The socket owns the descriptor: destroying it closes the fd.
    if (this.reader) this.reader.destroy();
    else if (this.fd >= 0)
      try {
        closeSync(this.fd);
      } catch {}
    this.reader = null;
    this.fd = -1;
    if (remove)
      for (const p of this.paths)
        try {
          if (lstatSync(p).isFIFO()) unlinkSync(p);
        } catch {}
  }

  private openSlot(slot: number): void {
    const path = this.paths[slot]!;
    try {
      if (lstatSync(path).isFIFO() || lstatSync(path).isSocket()) unlinkSync(path);
    } catch {}
    try {
      execFileSync('mkfifo', ['-m', '600', path], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: Buffer };
      throw new Error(`cannot create master-fifo ${path}: ${e.stderr?.toString().trim() || String(err)}`);
    }
    this.fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    this.reader = new Socket({ fd: this.fd, readable: true, writable: false });
    this.reader.setEncoding('latin1');
    this.reader.on('data', (text: string) => this.input(text));
    this.reader.on('error', (err) => this.log.error(`tsgi: master-fifo ${path}: ${err.message}`));
    this.slot = slot;
  }

  private input(text: string): void {
    for (const x of parseFifo(text)) {
      if (x.kind === 'command') this.onCommand(x.command);
      else if (x.kind === 'slot') this.switchSlot(x.slot);
      else if (x.kind === 'unsupported')
        this.log.warn(`tsgi: master-fifo command '${x.letter}' (${x.what}) is not supported by tsgi`);
      else this.log.warn(`tsgi: unknown master-fifo command '${x.letter}'`);
    }
  }

  private switchSlot(slot: number): void {
    if (slot === this.slot) return;
    if (slot >= this.paths.length) {
      this.log.warn(`tsgi: master-fifo slot ${slot} is not configured (${this.paths.length} fifo(s))`);
      return;
    }
    this.reader?.destroy();
    this.reader = null;
    this.fd = -1;
    this.openSlot(slot);
    this.log.info(`tsgi: active master fifo is now ${this.paths[slot]}`);
  }
}
