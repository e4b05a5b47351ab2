import { logOptions } from '../log/options.js';
import { metricsOptions } from '../metrics/options.js';
import { statsOptions } from '../stats/options.js';
import { lifecycleOptions } from './lifecycle-options.js';
import { option } from './option.js';

/**
 * Options that belong to every instance (uWSGI's core options that tsgi implements): process model,
 * listeners' shared knobs, privileges, logging, stats. Protocol and runner plugins declare their own.
 */
export const coreOptions = {
  master: option.bool({
    help: 'run a master process (always on in tsgi; accepted for uWSGI compatibility)',
    short: 'M',
    default: true,
  }),
  processes: option.int({
    help: 'number of worker processes',
    aliases: ['workers'],
    short: 'p',
    default: 1,
    min: 0,
    max: 1024,
  }),
  listen: option.int({
    help: 'kernel listen backlog of every listener, and the bound of the queue of requests waiting for a worker slot',
    short: 'l',
    default: 1024,
    min: 1,
    max: 65535,
    departure: 'default 1024 instead of 100 (a known uWSGI pain point); also bounds the dispatch queue',
  }),
  'buffer-size': option.bytes({
    help: 'largest request header block accepted (uwsgi vars block, or HTTP request line and headers)',
    short: 'b',
    default: 4096,
    min: 512,
    max: 65535,
  }),
  'chmod-socket': option.mode({
    help: 'mode of unix sockets created by the instance (bare flag = 666)',
    short: 'C',
  }),
  'chown-socket': option.string({ help: 'owner of unix sockets created by the instance, as user[:group]' }),
  vacuum: option.bool({ help: 'remove unix sockets and the pidfile at exit (never on reload)' }),
  'limit-post': option.bytes({
    help: 'largest request body accepted, bytes; larger gets 413 (0 = no limit)',
  }),
  'post-buffering': option.bytes({
    help: 'read the whole request body before calling the app: up to N bytes in memory, then a temp file; sets CONTENT_LENGTH',
  }),
  chdir: option.path({ help: 'directory the workers run in (and relative app paths resolve from)' }),
  env: option.strings({ help: 'set an environment variable for the workers, as KEY=VALUE' }),
  uid: option.string({ help: 'user (name or number) to run as after binding sockets' }),
  gid: option.string({ help: 'group (name or number) to run as after binding sockets' }),
  pidfile: option.path({ help: 'write the master pid to this file' }),
  pidfile2: option.path({ help: 'write the master pid to this file after dropping privileges' }),
  'die-on-term': option.bool({
    help: 'accepted for compatibility: SIGTERM always stops the instance gracefully in tsgi',
  }),
  'need-app': option.bool({
    help: 'exit if the app cannot be loaded at first boot (on by default in tsgi, as in uWSGI 2.1)',
    default: true,
    departure: 'on by default (uWSGI 2.0 default off)',
  }),
  'socket-timeout': option.seconds({
    help: 'timeout of socket operations: worker transport connect, a stalled uwsgi/FastCGI request head or body, upstream connects',
    default: 4,
  }),
  procname: option.string({ help: 'accepted for compatibility (process titles are not changed)' }),
  'auto-procname': option.bool({ help: 'accepted for compatibility (process titles are not changed)' }),
  'thunder-lock': option.bool({
    help: 'accepted for compatibility: the master accepts every connection itself',
  }),
  'single-interpreter': option.bool({
    help: 'accepted for compatibility: tsgi workers run one interpreter each',
  }),
  'no-orphans': option.bool({
    help: 'accepted for compatibility: workers always exit when their master goes away',
  }),
  strict: option.bool({ help: 'treat every unknown key as an error instead of a placeholder' }),
  plugin: option.strings({
    help: 'accepted for uWSGI compatibility: names map to built-in plugins (an unknown name is a warning)',
    aliases: ['plugins'],
  }),
  'plugin-dir': option.string({ help: 'accepted for compatibility: tsgi plugins are built in' }),
  heartbeat: option.seconds({
    help: 'under an emperor, send it a heartbeat every N seconds (0 = none); the emperor kills a vassal whose heartbeats stop',
  }),
  socket: option.strings({
    help: 'bind a listener speaking the protocol `protocol` names (uwsgi by default: nginx uwsgi_pass)',
    short: 's',
  }),
  protocol: option.string({
    help: 'protocol of plain `socket` listeners (uwsgi, http or fastcgi)',
    aliases: ['socket-protocol'],
  }),
  ...lifecycleOptions,
  // observability: core/log, core/stats, core/metrics declare their own tables
  ...logOptions,
  ...statsOptions,
  ...metricsOptions,
} as const;
