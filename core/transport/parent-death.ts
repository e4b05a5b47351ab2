import { spawnSync } from 'node:child_process';

/**
 * Workers that tsgi does not write itself (php-cgi, the PSGI and Node workers, CGI scripts) cannot
 * ask the kernel to kill them when their master dies, as the Python worker does with
 * `prctl(PR_SET_PDEATHSIG)`. util-linux's `setpriv --pdeathsig SIGKILL -- cmd` sets that flag and
 * then execs `cmd`, so the child keeps setpriv's pid and dies with the master even when it is stuck
 * in application code (DESIGN.md: "Every worker exits when its master goes away").
 */

let supported: boolean | null = null;

/** Whether `setpriv --pdeathsig` works here (checked once per process, by running it). */
export function parentDeathSignalSupported(): boolean {
  if (supported === null) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'true'], {
      stdio: 'ignore',
      timeout: 5000,
    });
    supported = r.status === 0;
  }
  return supported;
}

/**
 * The command line that runs `command args` with SIGKILL as its parent-death signal: through
 * `setpriv` when it is available, else unchanged (the worker then relies on its transport closing).
 * The parent is the thread that spawns it: Node spawns children from its main thread.
 */
export function dieWithParent(command: string, args: readonly string[]): { command: string; args: string[] } {
  if (!parentDeathSignalSupported()) return { command, args: [...args] };
  return { command: 'setpriv', args: ['--pdeathsig', 'SIGKILL', '--', command, ...args] };
}
