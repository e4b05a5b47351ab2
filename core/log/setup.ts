import { type StatWatcher, unwatchFile, watchFile } from 'node:fs';
import type { InstanceConfig } from '../config/resolve.js';
import { channels, type MasterLifecycleEvent } from '../master/events.js';
import type { Master } from '../master/master.js';
import { encoderChain, type LogEncoder } from './encoders.js';
import { Logger, LogSink } from './logger.js';
import { logOptions } from './options.js';

/**
 * The instance log for `config`: the `logto` file (appended, created 0644) or `fallback`'s sink
 * (stderr), with the `log-encoder` chain applied to every line.
 * @throws the fs error when `logto` cannot be opened.
 */
export function openInstanceLog(config: InstanceConfig, fallback: Logger): Logger {
  const o = config.values(logOptions);
  const log = o.logto ? new Logger(LogSink.open(o.logto)) : fallback;
  applyEncoders(log, o['log-encoder']);
  return log;
}

/**
 * Set the encoder chain; with encoders, worker output is routed through the log too (as uWSGI's
 * log-master does), so every line gets encoded, tracebacks included.
 */
function applyEncoders(log: Logger, encoders: readonly LogEncoder[]): void {
  log.sink.setEncoder(encoderChain(encoders));
  if (encoders.length === 0) return;
  try {
    log.sink.captureWorkerOutput();
  } catch (err) {
    log.warn(`tsgi: worker output is not encoded (cannot make the log pipe: ${(err as Error).message})`);
  }
}

/** Reopen the log file, logging the outcome (into the new file when it worked). */
function reopen(log: Logger, why: string): void {
  if (!log.sink.path) return;
  try {
    log.sink.reopen();
    log.info(`tsgi: log file ${log.sink.path} reopened (${why})`);
  } catch (err) {
    log.error(
      `tsgi: cannot reopen log file ${log.sink.path}: ${(err as Error).message}; still writing to the old one`,
    );
  }
}

/**
 * Keep the instance log in step with operations: reopen the `logto` file on SIGHUP (logrotate's
 * `postrotate kill -HUP`) and when a `touch-logreopen` file changes; apply a reloaded config's
 * `log-encoder` chain. Workers keep the descriptor they were started with until they are replaced
 * (every SIGHUP reload replaces them). Returns a function that undoes it.
 */
export function maintainLog(master: Master, log: Logger): () => void {
  const onHup = () => reopen(log, 'SIGHUP');
  process.on('SIGHUP', onHup);
  const watched: string[] = [];
  const watch = (config: InstanceConfig) => {
    for (const p of watched.splice(0)) unwatchFile(p);
    for (const p of config.values(logOptions)['touch-logreopen']) {
      const w: StatWatcher = watchFile(p, { interval: 1000, persistent: false }, (cur, prev) => {
        if (cur.mtimeMs !== prev.mtimeMs) reopen(log, `${p} touched`);
      });
      w.unref();
      watched.push(p);
    }
  };
  if (master.current) watch(master.current.config);
  const onLifecycle = (msg: unknown) => {
    const ev = msg as MasterLifecycleEvent;
    const cfg = master.current?.config;
    if (ev.phase === 'reloaded' && cfg) {
      applyEncoders(log, cfg.values(logOptions)['log-encoder']);
      watch(cfg);
    }
  };
  channels.lifecycle.subscribe(onLifecycle);
  return () => {
    process.off('SIGHUP', onHup);
    for (const p of watched.splice(0)) unwatchFile(p);
    channels.lifecycle.unsubscribe(onLifecycle);
  };
}
