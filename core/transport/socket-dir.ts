import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private directory for the unix sockets of a runner's workers (Node servers, php-cgi): created
 * 0700 in the temp directory at first use, which is after the master dropped privileges, so the
 * workers (same user) can bind in it and nobody else can connect; removed by `remove()` (plugin
 * cleanup, once the generation's workers are gone).
 */
export class SocketDir {
  private dir: string | null = null;
  private count = 0;

  /** @param prefix the directory name's prefix, e.g. `tsgi-node-` */
  constructor(private readonly prefix: string) {}

  /** A new socket path for worker `workerId`: `<dir>/w<id>-<n>.sock`, never given out twice. */
  next(workerId: number): string {
    this.dir ??= mkdtempSync(join(tmpdir(), this.prefix));
    return join(this.dir, `w${workerId}-${++this.count}.sock`);
  }

  /** Remove the directory and whatever is left in it. */
  remove(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }
}
