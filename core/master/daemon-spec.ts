import { constants } from 'node:os';
import { basename } from 'node:path';
import { type OptionSpec, parseIntStrict } from '../config/option.js';
import { ConfigError, type ConfigOrigin } from '../errors.js';

/**
 * One attached daemon as configured: `attach-daemon CMD`, `smart-attach-daemon PIDFILE CMD`,
 * `smart-attach-daemon2 PIDFILE CMD` or `attach-daemon2 key=value,...` (uWSGI's core/daemons.c).
 */
export interface DaemonSpec {
  /** Identity across reloads: the option and its text. A reload keeps daemons whose key is unchanged. */
  readonly key: string;
  /** Prefix of its output lines in the instance log: `name=`, else the command's first word. */
  readonly name: string;
  /** Shell command line (run with /bin/sh -c). */
  readonly cmd: string;
  /** Smart daemon: tracked by this pidfile, not by being tsgi's child; survives reloads and stops. */
  readonly pidfile: string | null;
  /** tsgi detaches it and writes the pidfile (`smart-attach-daemon2`, `daemonize=1`). */
  readonly daemonize: boolean;
  /** Pidfile checks (one per second) before a smart daemon that wrote no pidfile is started again. */
  readonly freq: number;
  /** Run it on a pseudo-terminal (tsgi extension `pty=1`): for programs that line-buffer or colour only on a tty. */
  readonly pty: boolean;
  /** Signal that stops it (to its process group). */
  readonly stopSignal: NodeJS.Signals;
  /** Signal sent on a reload instead of restarting it; null = unchanged daemons keep running untouched. */
  readonly reloadSignal: NodeJS.Signals | null;
  readonly uid: number | null;
  readonly gid: number | null;
  readonly chdir: string | null;
}

function bad(name: string, origin: ConfigOrigin, message: string): ConfigError {
  return new ConfigError('TSGI_ERR_CONFIG_VALUE', message, origin, name);
}

/** A signal by number (`15`) or name (`TERM`, `SIGTERM`). @throws {ConfigError} */
function signal(text: string, name: string, origin: ConfigOrigin): NodeJS.Signals {
  const t = text.trim().toUpperCase();
  const n = parseIntStrict(t);
  const found =
    n !== null
      ? Object.entries(constants.signals).find(([, v]) => v === n)?.[0]
      : t.startsWith('SIG')
        ? t
        : `SIG${t}`;
  if (!found || !(found in constants.signals)) throw bad(name, origin, `unknown signal '${text}'`);
  return found as NodeJS.Signals;
}

function id(text: string, name: string, origin: ConfigOrigin, what: string): number {
  const n = parseIntStrict(text.trim());
  if (n === null || n < 0) throw bad(name, origin, `${what} must be a numeric id, got '${text}'`);
  return n;
}

function defaultName(cmd: string): string {
  const first = cmd.trim().split(/\s+/)[0] ?? 'daemon';
  return basename(first) || 'daemon';
}

function base(key: string, cmd: string): DaemonSpec {
  return {
    key,
    name: defaultName(cmd),
    cmd,
    pidfile: null,
    daemonize: false,
    freq: 10,
    pty: false,
    stopSignal: 'SIGTERM',
    reloadSignal: null,
    uid: null,
    gid: null,
    chdir: null,
  };
}

/** `attach-daemon CMD`. */
export function plainDaemon(cmd: string): DaemonSpec {
  return base(`attach-daemon ${cmd}`, cmd);
}

/**
 * `smart-attach-daemon PIDFILE[,FREQ] CMD` (the command daemonizes itself and writes the pidfile) and
 * `smart-attach-daemon2` (tsgi detaches it and writes the pidfile).
 */
export function smartDaemonOption(daemonize: boolean, help: string): OptionSpec<DaemonSpec, true> {
  const opt = daemonize ? 'smart-attach-daemon2' : 'smart-attach-daemon';
  return {
    type: 'pidfile command',
    arity: 'required',
    list: true,
    default: [],
    help,
    parse(text, name, origin) {
      const t = text.trim();
      const sp = t.search(/\s/);
      if (sp <= 0) throw bad(name, origin, `expected 'PIDFILE COMMAND', got '${text}'`);
      let pidfile = t.slice(0, sp);
      let freq = 10;
      const comma = pidfile.indexOf(',');
      if (comma >= 0) {
        const f = parseIntStrict(pidfile.slice(comma + 1));
        if (f === null || f < 1) throw bad(name, origin, `bad check count in '${pidfile}'`);
        freq = f;
        pidfile = pidfile.slice(0, comma);
      }
      const cmd = t.slice(sp + 1).trim();
      return { ...base(`${opt} ${t}`, cmd), pidfile, daemonize, freq };
    },
  };
}

/**
 * `attach-daemon2 key=value,...`: uWSGI's keys `cmd`/`command`/`exec`, `pidfile`, `daemonize`/`daemon`,
 * `freq`, `stopsignal`/`stop_signal`, `reloadsignal`/`reload_signal`, `uid`, `gid`, `chdir`, and tsgi's
 * `pty` and `name`. Keys tsgi does not implement (`control`, `touch`, `ns_pid`, `legion`, ...) are an
 * error rather than silently ignored.
 */
export function attachDaemon2Option(help: string): OptionSpec<DaemonSpec, true> {
  return {
    type: 'key=value,...',
    arity: 'required',
    list: true,
    default: [],
    help,
    departure:
      'adds `pty=1` and `name=`; `control`, `touch`, `ns_pid`, `legion`, `stdin`, `max_throttle`, `notifypid` are refused',
    parse(text, name, origin) {
      const kv = new Map<string, string>();
      for (const part of text.split(',')) {
        if (part.trim() === '') continue;
        const eq = part.indexOf('=');
        if (eq <= 0) throw bad(name, origin, `expected key=value, got '${part}'`);
        kv.set(part.slice(0, eq).trim(), part.slice(eq + 1));
      }
      const cmd = kv.get('cmd') ?? kv.get('command') ?? kv.get('exec');
      if (!cmd) throw bad(name, origin, "needs a 'cmd' key");
      let spec: DaemonSpec = base(`attach-daemon2 ${text.trim()}`, cmd);
      const truthy = (v: string) => v !== '' && v !== '0' && v !== 'false';
      for (const [k, v] of kv) {
        switch (k) {
          case 'cmd':
          case 'command':
          case 'exec':
            break;
          case 'name':
            spec = { ...spec, name: v };
            break;
          case 'pidfile':
            spec = { ...spec, pidfile: v };
            break;
          case 'daemonize':
          case 'daemon':
            spec = { ...spec, daemonize: truthy(v) };
            break;
          case 'freq': {
            const f = parseIntStrict(v);
            if (f === null || f < 1) throw bad(name, origin, `freq must be a positive integer, got '${v}'`);
            spec = { ...spec, freq: f };
            break;
          }
          case 'pty':
            spec = { ...spec, pty: truthy(v) };
            break;
          case 'stopsignal':
          case 'stop_signal':
            spec = { ...spec, stopSignal: signal(v, name, origin) };
            break;
          case 'reloadsignal':
          case 'reload_signal':
            spec = { ...spec, reloadSignal: signal(v, name, origin) };
            break;
          case 'uid':
            spec = { ...spec, uid: id(v, name, origin, 'uid') };
            break;
          case 'gid':
            spec = { ...spec, gid: id(v, name, origin, 'gid') };
            break;
          case 'chdir':
            spec = { ...spec, chdir: v };
            break;
          default:
            throw bad(name, origin, `key '${k}' is not supported by tsgi`);
        }
      }
      if (spec.daemonize && !spec.pidfile) throw bad(name, origin, 'daemonize needs a pidfile');
      if (spec.pty && spec.pidfile) throw bad(name, origin, 'pty cannot be combined with pidfile');
      return spec;
    },
  };
}
