import type { Master } from './master.js';

/**
 * The master's signal map (tsgi's choice, see docs/compat.md): SIGTERM and SIGINT stop gracefully
 * (a second SIGINT stops at once), SIGQUIT stops at once, SIGHUP reloads gracefully, SIGUSR1 logs the
 * worker table, SIGTTIN/SIGTTOU add/remove a worker. Handlers only call into the master, which runs
 * on the same event loop, so no work happens inside a signal context.
 */
export function installSignals(master: Master): () => void {
  let interrupts = 0;
  const handlers: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => master.stop(true)],
    ['SIGINT', () => master.stop(++interrupts < 2)],
    ['SIGQUIT', () => master.stop(false)],
    ['SIGHUP', () => void master.reload()],
    ['SIGUSR1', () => master.logWorkerTable()],
    ['SIGTTIN', () => master.addWorker()],
    ['SIGTTOU', () => master.removeWorker()],
    ['SIGPIPE', () => {}],
  ];
  for (const [sig, fn] of handlers) process.on(sig, fn);
  return () => {
    for (const [sig, fn] of handlers) process.off(sig, fn);
  };
}
