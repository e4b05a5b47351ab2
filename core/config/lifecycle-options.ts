import { constants } from 'node:os';
import { ConfigError } from '../errors.js';
import { attachDaemon2Option, smartDaemonOption } from '../master/daemon-spec.js';
import { type OptionSpec, option, parseIntStrict } from './option.js';

/**
 * A signal given as uWSGI takes it (a number, `15`) or by name (`SIGTERM`, `TERM`); the value is
 * Node's signal name. Used by `harakiri-graceful-signal`.
 */
function signalOption(c: { help: string; default: NodeJS.Signals }): OptionSpec<NodeJS.Signals, false> {
  return {
    ...c,
    type: 'signal',
    list: false,
    arity: 'required',
    parse(text, name, origin) {
      const t = text.trim().toUpperCase();
      const n = parseIntStrict(t);
      const byNumber = Object.entries(constants.signals).find(([, v]) => v === n)?.[0];
      const byName = t.startsWith('SIG') ? t : `SIG${t}`;
      const found = n !== null ? byNumber : byName in constants.signals ? byName : undefined;
      if (!found)
        throw new ConfigError(
          'TSGI_ERR_CONFIG_VALUE',
          `expected a signal (15 or SIGTERM), got '${text}'`,
          origin,
          name,
        );
      return found as NodeJS.Signals;
    },
  };
}

/** `cheaper-algo` values tsgi implements. */
export const CHEAPER_ALGOS = ['spare', 'backlog', 'manual'] as const;

/**
 * Options of the worker lifecycle (uWSGI's names and meanings; `core/master/` applies them):
 * concurrency, preloading, harakiri, recycling, reload triggers, the master FIFO and the cheaper
 * subsystem. They are core options (every instance has a master), kept in their own table.
 */
export const lifecycleOptions = {
  threads: option.int({
    help: 'concurrent request slots per worker (real threads in the Python worker)',
    default: 1,
    min: 1,
    max: 1024,
  }),
  'enable-threads': option.bool({
    help: 'accepted for uWSGI compatibility: Python threads always run in tsgi workers',
    short: 'T',
    default: true,
    departure: 'always on (uWSGI 2.0 before 2.0.27: off, so app threads silently did not run)',
  }),
  'lazy-apps': option.bool({
    help: 'each worker imports the app itself instead of being forked from a prototype process that imported it once (for apps that are not fork-safe)',
  }),
  lazy: option.bool({ help: "same as lazy-apps (uWSGI's older lazy mode)" }),
  'reload-mercy': option.seconds({
    help: 'how long a graceful stop waits for queued and in-flight requests before killing workers',
    default: 60,
  }),
  'worker-reload-mercy': option.seconds({
    help: 'how long a retired worker (reload, recycling, cheaper) may take to finish its requests before it is killed',
    default: 60,
  }),
  harakiri: option.seconds({
    help: 'kill a worker whose request has run longer than this; the request gets 504, other requests on that worker 502 (0 = off)',
    short: 't',
    departure: 'the timed-out client gets a 504 before the worker is killed (uWSGI drops the connection)',
  }),
  'harakiri-verbose': option.bool({
    help: "log the worker's Python stack (every thread) when harakiri fires",
    departure: 'dumps the Python stack (faulthandler) instead of /proc syscall and wchan',
  }),
  'harakiri-graceful-timeout': option.seconds({
    help: 'on harakiri, send harakiri-graceful-signal first and SIGKILL only after this many more seconds (0 = SIGKILL at once)',
  }),
  'harakiri-graceful-signal': signalOption({
    help: 'signal of the graceful harakiri attempt',
    default: 'SIGTERM',
  }),
  'max-requests': option.int({
    help: 'recycle a worker after it served this many requests (0 = never)',
    short: 'R',
    min: 0,
  }),
  'max-requests-delta': option.int({
    help: 'add (worker id - 1) × delta to max-requests for each worker, so they do not all recycle at once',
    min: 0,
  }),
  'max-requests-jitter': option.int({
    help: "add a random 0..N to max-requests for each worker process (gunicorn's max_requests_jitter)",
    min: 0,
    origin: 'extension',
  }),
  'min-worker-lifetime': option.seconds({
    help: "a worker is not recycled for max-requests or memory before it has run this long (10 s is uWSGI 2.0's real default; its --help text says 60)",
    default: 10,
  }),
  'max-worker-lifetime': option.seconds({ help: 'recycle a worker after it has run this long (0 = never)' }),
  'max-worker-lifetime-delta': option.seconds({
    help: 'add (worker id - 1) × delta seconds to max-worker-lifetime for each worker',
  }),
  'reload-on-rss': option.int({
    help: 'recycle a worker gracefully when its RSS is above this after a request',
    unit: 'MB',
    min: 0,
  }),
  'reload-on-as': option.int({
    help: 'recycle a worker gracefully when its address space is above this after a request',
    unit: 'MB',
    min: 0,
  }),
  'evil-reload-on-rss': option.int({
    help: 'the master kills a worker whose RSS is above this, even mid-request (checked every second)',
    unit: 'MB',
    min: 0,
  }),
  'evil-reload-on-as': option.int({
    help: 'the master kills a worker whose address space is above this, even mid-request (checked every second)',
    unit: 'MB',
    min: 0,
  }),
  'touch-reload': option.strings({
    help: 'reload gracefully when this file is modified or touched (repeatable)',
  }),
  'touch-chain-reload': option.strings({
    help: 'chain-reload (one worker at a time) when this file is modified or touched (repeatable)',
  }),
  'touch-workers-reload': option.strings({
    help: 'reload only the workers (same config, new code) when this file is modified or touched (repeatable)',
  }),
  'master-fifo': option.strings({
    help: "a FIFO the master reads one-letter commands from (uWSGI's: r reload, c chain reload, q stop, + add a worker, ...); repeat for more slots, 0-9 switches",
  }),
  cheaper: option.int({
    help: 'adaptive worker count: keep at least this many workers, add up to processes under load',
    min: 0,
  }),
  'cheaper-initial': option.int({
    help: 'workers started at boot in cheaper mode (default: cheaper)',
    min: 0,
  }),
  'cheaper-step': option.int({ help: 'workers added at once when overloaded', default: 1, min: 1 }),
  'cheaper-overload': option.int({
    help: 'spare: seconds all workers must be busy before adding; backlog: queued requests above which workers are added',
    default: 3,
    min: 1,
  }),
  'cheaper-algo': option.enumOf(CHEAPER_ALGOS, {
    help: 'spare (add when all busy, retire idle ones one at a time), backlog (add while requests queue) or manual (only FIFO +/- and SIGTTIN/SIGTTOU)',
  }),
  'attach-daemon': option.strings({
    help: 'run this command beside the instance (via /bin/sh -c), restart it when it dies, stop it with the instance',
  }),
  'smart-attach-daemon': smartDaemonOption(
    false,
    'PIDFILE[,CHECKS] COMMAND: a daemon that forks itself and writes PIDFILE; tracked by the pidfile, started again when its pid is gone, left running across reloads and stops',
  ),
  'smart-attach-daemon2': smartDaemonOption(
    true,
    'PIDFILE[,CHECKS] COMMAND: like smart-attach-daemon for a command that does not fork: tsgi detaches it and writes PIDFILE',
  ),
  'attach-daemon2': attachDaemon2Option(
    'a daemon with key=value options: cmd, pidfile, daemonize, freq, stopsignal, reloadsignal, uid, gid, chdir, pty (run on a pseudo-terminal), name (log prefix)',
  ),
} as const;
