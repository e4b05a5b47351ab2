/**
 * uWSGI options that tsgi knows but does not implement, split by what ignoring them would do.
 * Every uWSGI option that no tsgi option table declares is named at start-up: as a warning when
 * ignoring it is harmless (tuning knobs, things tsgi does differently anyway), and as an error when
 * ignoring it would change what the instance does (a socket not bound, a security setting not applied,
 * a feature the app relies on). This file holds the error list; everything else warns.
 */

/** Options whose absence changes behaviour: using one is a config error until tsgi implements it. */
const ERROR_OPTIONS = new Set([
  // sockets and protocols tsgi does not speak (yet)
  'https-socket',
  'https-socket-modifier1',
  'https-socket-modifier2',
  'scgi-socket',
  'scgi-nph-socket',
  'fastcgi-nph-socket',
  'suwsgi-socket',
  'ssl-socket',
  'raw-socket',
  'puwsgi-socket',
  'shared-socket',
  'undeferred-shared-socket',
  'zerg',
  'zerg-server',
  'https',
  'https2',
  'sslrouter',
  'sslrouter2',
  'rawrouter',
  'abstract-socket',
  // privileges and isolation
  'chroot',
  'cap',
  'emperor-cap',
  'vassal-cap',
  'unshare',
  'unshare2',
  'jail',
  'jail2',
  'namespace',
  'namespace-keep-mount',
  'setns',
  'setns-socket',
  'limit-as',
  'limit-nproc',
  'umask',
  'uidmap',
  'gidmap',
  // process model
  'daemonize',
  'daemonize2',
  'async',
  'gevent',
  'ugreen',
  'greenlet',
  'fork-server',
  'spooler',
  'spooler-processes',
  'mule',
  'mules',
  'farm',
  // app features the code calls into
  'cache',
  'cache2',
  'cron',
  'cron2',
  'unique-cron',
  'legion-cron',
  'timer',
  'rb-timer',
  'signal',
  'rpc',
  'sharedarea',
  'queue',
  'legion',
  // CGI mappings the cgi runner does not do (scripts would be looked up elsewhere, or not at all)
  'cgi-from-docroot',
  'cgi-loadlib',
  'cgi-path-info',
  // routing: error chains, header collection, router mappers tsgi does not have
  ...[
    '',
    '-status',
    '-host',
    '-uri',
    '-qs',
    '-remote-addr',
    '-user-agent',
    '-remote-user',
    '-referer',
    '-label',
    '-if',
    '-if-not',
    '-run',
  ].map((s) => `error-route${s}`),
  'collect-header',
  'pull-header',
  ...['http', 'fastrouter'].flatMap((r) =>
    ['use-cache', 'use-pattern', 'use-base', 'use-code-string', 'use-socket'].map((m) => `${r}-${m}`),
  ),
  // emperor features tsgi-emperor does not have
  'emperor-on-demand-extension',
  'emperor-on-demand-ext',
  'emperor-on-demand-directory',
  'emperor-on-demand-dir',
  'emperor-on-demand-exec',
  'emperor-broodlord',
  'emperor-use-clone',
  'emperor-wrapper',
  'emperor-command-socket',
  'emperor-wait-for-command',
  'vassals-start-hook',
  'vassals-stop-hook',
  // other config formats
  'xml',
  'yaml',
  'yml',
  'json',
  'js',
  'sqlite3',
  'ldap',
  'config',
  'fallback-config',
]);

/**
 * Whether ignoring this uWSGI option would change the instance's behaviour (then it is an error);
 * otherwise tsgi warns and goes on.
 */
export function ignoringChangesBehaviour(name: string): boolean {
  return ERROR_OPTIONS.has(name);
}
