import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { Socket } from 'node:net';

/**
 * Free a thread-pool thread blocked writing to `fd` because its reader stopped reading (a full
 * stderr pipe or socket), so that the process can exit: Node joins its thread-pool threads at exit,
 * and a thread stuck in write(2) would keep a stopping instance alive for ever.
 *
 * - socket (a parent's `stdio: 'pipe'`, journald): `shutdown(fd, SHUT_WR)` through a libuv handle;
 *   the blocked write fails with EPIPE.
 * - FIFO (`tsgi ... | tee`): the pipe is drained through a second, non-blocking read descriptor
 *   (`/proc/self/fd/N`), making room for the blocked write. The bytes drained are log lines nobody
 *   was reading; they are lost either way.
 * - anything else (files, terminals): nothing to do.
 *
 * Only for the last moments of a process: afterwards `fd` can no longer be written.
 * Never throws.
 */
export function unstickWriter(fd: number): void {
  try {
    const st = fstatSync(fd);
    if (st.isSocket()) {
      const s = new Socket({ fd, readable: false, writable: true });
      s.on('error', () => {});
      s.end();
    } else if (st.isFIFO()) {
      const rfd = openSync(`/proc/self/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK);
      const buf = Buffer.allocUnsafe(64 * 1024);
      try {
        for (let i = 0; i < 1024; i++) if (readSync(rfd, buf) === 0) break;
      } catch {
        // EAGAIN: drained
      } finally {
        closeSync(rfd);
      }
    }
  } catch {
    // best effort: the caller exits regardless
  }
}
