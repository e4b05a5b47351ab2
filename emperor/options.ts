import { option } from '../core/config/option.js';

/**
 * Options of `tsgi-emperor` (and `tsgi --emperor ...`), with uWSGI's names and meanings unless a
 * `departure` says otherwise. Durations keep uWSGI's units: `emperor-freq`, `emperor-curse-tolerance`
 * and `emperor-required-heartbeat` are seconds, `emperor-throttle` and `emperor-max-throttle` are ms.
 */
export const emperorOptions = {
  emperor: option.strings({
    help: "where vassals come from: a directory, a quoted glob ('/etc/vassals/*.ini'), or redis://[:password@]host:port/db?key=HASH (rediss:// for TLS); repeatable; default ./vassals",
  }),
  'emperor-freq': option.seconds({
    help: 'seconds between full rescans of every vassal source (file watchers and Redis notifications only make changes visible sooner)',
    default: 3,
    min: 1,
  }),
  'emperor-throttle': option.int({
    help: 'blacklist step: each failure of a vassal that never became loyal adds this delay before its next start',
    unit: 'ms',
    default: 1000,
    min: 1,
    departure:
      'only the blacklist step; uWSGI also sleeps this long (doubling under load) before every spawn, tsgi never delays a healthy spawn',
  }),
  'emperor-max-throttle': option.int({
    help: 'cap of a blacklisted vassal’s delay before its next start',
    unit: 'ms',
    default: 180_000,
    min: 1,
    departure: 'a capped delay stays at the cap (uWSGI halves it once the cap is reached)',
  }),
  'emperor-no-blacklist': option.bool({
    help: 'respawn failing vassals without the blacklist delay',
  }),
  'emperor-curse-tolerance': option.seconds({
    help: 'how long a stopped (cursed) vassal may take to exit before it is killed; default: its own reload-mercy or worker-reload-mercy plus 5 s, at least 30',
    default: 30,
    departure:
      'when not set, at least the vassal’s own reload mercy plus 5 s, so a graceful stop is never cut short',
  }),
  'emperor-required-heartbeat': option.seconds({
    help: 'a vassal that sent heartbeats (its `heartbeat` option) and then sends none for this long is killed and respawned',
    default: 30,
    min: 1,
  }),
  'emperor-tyrant': option.bool({
    help: 'run each vassal as the owner (uid and gid) of its config file; root-owned files are refused',
  }),
  'emperor-tyrant-nofollow': option.bool({
    help: 'in tyrant mode, take the owner of a symlink itself, not of its target',
  }),
  'emperor-nofollow': option.bool({
    help: 'watch the mtime of symlinks themselves, not of their targets',
  }),
  'emperor-stats': option.string({
    help: 'serve the emperor’s JSON stats (uWSGI’s keys plus state, blacklist delay, last exit) on this address (host:port or unix path)',
    aliases: ['emperor-stats-server'],
  }),
  'emperor-prometheus': option.string({
    help: 'serve Prometheus metrics on this address: the emperor’s own and every vassal’s, with a `vassal` label',
    origin: 'extension',
  }),
  'emperor-dashboard': option.string({
    help: 'serve the web dashboard (vassal table, vassal pages, actions) and its JSON API on this address: host:port, :port (loopback only) or a unix socket path',
    origin: 'extension',
  }),
  'emperor-dashboard-token': option.string({
    help: 'the token that opens the dashboard (bearer header or login form); default: a random one, generated at start and written to the emperor’s log. Set it in an ini file: the command line is visible to every user in ps',
    origin: 'extension',
  }),
  'emperor-dashboard-secrets': option.bool({
    help: 'show env values and passwords in the vassal configs the dashboard displays (hidden by default)',
    origin: 'extension',
  }),
  'emperor-redis-dir': option.path({
    help: 'working directory base of Redis vassals: each runs in <dir>/<name> (created if missing)',
    default: 'redis-vassals',
    origin: 'extension',
  }),
  'emperor-pidfile': option.path({ help: 'write the emperor’s pid to this file' }),
  'vassals-include': option.strings({ help: 'include this config file in every vassal, after its own' }),
  'vassals-inherit': option.strings({ help: 'inherit this config file in every vassal (a template)' }),
  'vassals-include-before': option.strings({
    help: 'include this config file in every vassal, before its own',
  }),
  'vassals-inherit-before': option.strings({
    help: 'inherit this config file in every vassal, before its own',
  }),
  'vassal-set': option.strings({
    help: 'set an option in every vassal, as key=value',
    aliases: ['vassals-set'],
  }),
  logto: option.path({ help: 'write the emperor’s log to this file instead of stderr' }),
} as const;
