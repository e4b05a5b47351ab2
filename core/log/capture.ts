import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';

/** Longest line kept whole, bytes; a longer one is logged in pieces of this size. */
const MAX_LINE = 64 * 1024;

/**
 * A pipe that workers write their stdout and stderr to, read by the master line by line, so their
 * output goes through the instance log like the master's own lines (uWSGI's `log-master`: needed
 * when `log-encoder` turns every line into JSON). The workers get the write end in blocking mode:
 * when the master falls behind, the pipe fills and the writing worker waits, never the master.
 *
 * The pipe is a FIFO made in a private temp directory and unlinked at once (Node has no pipe(2));
 * both ends stay open for the life of the instance.
 */
export class OutputCapture {
  /** The descriptor to give workers as stdout and stderr. */
  readonly writeFd: number;
  private readonly reader: Socket;
  private pending = '';

  /** @throws the fs or child_process error when the FIFO cannot be made (no mkfifo, no temp dir). */
  constructor(onLine: (line: string) => void) {
    const dir = mkdtempSync(join(tmpdir(), 'tsgi-log-'));
    const path = join(dir, 'workers.fifo');
    try {
      execFileSync('mkfifo', ['-m', '600', path]);
      // The reader first, non-blocking, so opening the write end does not wait for it.
      const readFd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      this.writeFd = openSync(path, constants.O_WRONLY);
      this.reader = new Socket({ fd: readFd, readable: true, writable: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const decoder = new StringDecoder('utf8');
    this.reader.on('data', (chunk: Buffer) => {
      let text = this.pending + decoder.write(chunk);
      let nl = text.indexOf('\n');
      while (nl !== -1) {
        onLine(text.slice(0, nl));
        text = text.slice(nl + 1);
        nl = text.indexOf('\n');
      }
      while (text.length > MAX_LINE) {
        onLine(text.slice(0, MAX_LINE));
        text = text.slice(MAX_LINE);
      }
      this.pending = text;
    });
    this.reader.on('error', () => {});
    this.reader.unref();
  }

  /** Stop reading and close both ends (workers still holding the write end keep it open). */
  close(): void {
    this.reader.destroy();
    try {
      closeSync(this.writeFd);
    } catch {}
  }
}
