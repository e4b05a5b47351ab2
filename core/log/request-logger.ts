import type { InstanceConfig } from '../config/resolve.js';
import { channels, type MasterLifecycleEvent, type RequestDoneEvent } from '../master/events.js';
import type { Master } from '../master/master.js';
import { processMemorySync } from '../stats/proc.js';
import type { Logger } from './logger.js';
import { logOptions } from './options.js';
import { type CompiledLogFormat, defaultRequestLine, type RequestLogEntry } from './request-log.js';

/** The request-log part of a config, read once per config generation. */
interface Settings {
  readonly enabled: boolean;
  readonly format: CompiledLogFormat | null;
  readonly xff: boolean;
  readonly micros: boolean;
  readonly memoryReport: number;
  readonly log4xx: boolean;
  readonly log5xx: boolean;
  readonly slowMs: number;
  readonly bigBytes: number;
  readonly zero: boolean;
  readonly ioerror: boolean;
}

function settings(config: InstanceConfig): Settings {
  const o = config.values(logOptions);
  return {
    enabled: !o['disable-logging'],
    format: o['log-format'],
    xff: o['log-x-forwarded-for'],
    micros: o['log-micros'],
    memoryReport: o['memory-report'],
    log4xx: o['log-4xx'],
    log5xx: o['log-5xx'],
    slowMs: o['log-slow'],
    bigBytes: o['log-big'],
    zero: o['log-zero'],
    ioerror: o['log-ioerror'],
  };
}

/**
 * Writes one line per finished request (uWSGI's `log_request`): the default line or `log-format`,
 * unless `disable-logging`, with uWSGI's exceptions to it (`log-4xx`, `log-5xx`, `log-slow`,
 * `log-big`, `log-zero`, `log-ioerror`). Lines go to the instance's non-blocking log sink, so a slow
 * log destination costs log lines (counted), never requests.
 */
export class RequestLogger {
  private s: Settings;

  constructor(
    private readonly log: Logger,
    config: InstanceConfig,
  ) {
    this.s = settings(config);
  }

  /** Read the settings of a new config (after a reload). */
  configure(config: InstanceConfig): void {
    this.s = settings(config);
  }

  /** Log one finished request, if the settings say so. `totalRequests` includes it. */
  write(ev: RequestDoneEvent, totalRequests: number): void {
    const s = this.s;
    const { req, worker } = ev;
    const durationUs = Math.round(ev.durationMs * 1000);
    const writeErrors = ev.outcome === 'client-gone' ? 1 : 0;
    if (!s.enabled) {
      const st = req.status;
      const rsize = req.bytesOut;
      const wanted =
        (s.zero && rsize === 0) ||
        (s.slowMs > 0 && durationUs / 1000 >= s.slowMs) ||
        (s.log4xx && st >= 400 && st <= 499) ||
        (s.log5xx && st >= 500 && st <= 599) ||
        (s.bigBytes > 0 && rsize >= s.bigBytes) ||
        (s.ioerror && writeErrors > 0);
      if (!wanted) return;
    }
    const remote = req.vars.get('REMOTE_ADDR') ?? '';
    const needsMemory = s.format ? s.format.needsMemory : s.memoryReport > 0;
    const entry: RequestLogEntry = {
      req,
      durationUs,
      workerId: worker.id,
      workerPid: worker.pid,
      workerRequests: worker.requests,
      totalRequests,
      addr: s.xff ? (req.vars.get('HTTP_X_FORWARDED_FOR') ?? remote) : remote,
      writeErrors,
      memory: needsMemory ? processMemorySync(worker.pid, s.memoryReport > 1) : null,
    };
    this.log.request(
      s.format
        ? s.format.render(entry)
        : defaultRequestLine(entry, { micros: s.micros, memoryReport: s.memoryReport }),
    );
  }
}

/**
 * Log the requests of `master` from its `tsgi:request:done` channel, following config reloads.
 * Returns a function that stops logging.
 */
export function attachRequestLog(master: Master, log: Logger): () => void {
  const gen = master.current;
  if (!gen) return () => {};
  const logger = new RequestLogger(log, gen.config);
  const onDone = (msg: unknown) => logger.write(msg as RequestDoneEvent, master.requestsTotal);
  const onLifecycle = (msg: unknown) => {
    const ev = msg as MasterLifecycleEvent;
    if (ev.phase === 'reloaded' && master.current) logger.configure(master.current.config);
  };
  channels.requestDone.subscribe(onDone);
  channels.lifecycle.subscribe(onLifecycle);
  return () => {
    channels.requestDone.unsubscribe(onDone);
    channels.lifecycle.unsubscribe(onLifecycle);
  };
}
