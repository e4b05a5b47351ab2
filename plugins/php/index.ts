import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import { ConfigError, type ConfigOrigin } from '../../core/errors.js';
import type {
  PluginDescriptor,
  ProvisionContext,
  Runner,
  SpawnContext,
  WorkerProcess,
} from '../../core/plugin/types.js';
import { SocketDir } from '../../core/transport/socket-dir.js';
import type { FastcgiClient } from '../fastcgi/contract.js';
import type { PhpMapConfig } from './map.js';
import { type PhpSettings, PhpWorker } from './worker.js';

/** Options of the PHP runner: uWSGI's php plugin names where they fit php-cgi, plus `php-cgi-bin`. */
export const phpOptions = {
  'php-docroot': option.path({
    help: 'serve PHP scripts from this document root (default: the request DOCUMENT_ROOT, else the working directory)',
  }),
  'php-index': option.strings({
    help: 'file run for a request to a directory, tried in order (repeatable)',
    default: ['index.php'],
    departure: 'defaults to index.php (uWSGI has no default: a directory is a 404)',
  }),
  'php-allowed-ext': option.strings({
    help: 'run only scripts ending with this (repeatable)',
    default: ['.php'],
    departure: 'defaults to .php (uWSGI runs any file under the document root as PHP)',
  }),
  'php-allowed-docroot': option.strings({
    help: 'another directory scripts may live under (their real path, symlinks resolved); repeatable',
  }),
  'php-allowed-script': option.strings({
    help: 'when given, the only scripts that may run (absolute paths)',
  }),
  'php-app': option.path({ help: 'run this script for every request (a front controller)' }),
  'php-fallback': option.path({ help: 'run this script when the requested one does not exist' }),
  'php-fallback2': option.string({
    help: 'run this script (relative to the document root) when the requested one does not exist',
  }),
  'php-fallback-qs': option.string({
    help: 'with a fallback, set QUERY_STRING to NAME=<requested path>&<original query>',
  }),
  'php-set': option.strings({ help: 'set a php.ini directive, `name=value` (php-cgi -d); repeatable' }),
  'php-ini': option.path({ help: 'use this php.ini (php-cgi -c)', aliases: ['php-config'] }),
  'php-var': option.strings({ help: 'add or replace a CGI variable of every request, `NAME=value`' }),
  'php-server-software': option.string({ help: 'the SERVER_SOFTWARE PHP sees' }),
  'php-cgi-bin': option.path({
    help: 'the php-cgi binary for the workers (Debian package php-cgi)',
    default: 'php-cgi',
    origin: 'extension',
  }),
} as const;

/** `NAME=value` pairs of a list option. @throws {ConfigError} naming the occurrence without `=`. */
function pairs(
  values: readonly string[],
  name: string,
  origins: readonly (ConfigOrigin | null)[],
): Array<[string, string]> {
  return values.map((v, i) => {
    const eq = v.indexOf('=');
    if (eq <= 0)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_VALUE',
        `expected NAME=value, got '${v}'`,
        origins[i] ?? null,
        name,
      );
    return [v.slice(0, eq), v.slice(eq + 1)];
  });
}

/**
 * Starts php-cgi workers: one process per worker, each serving one request at a time over its own
 * FastCGI connection ({@link PhpWorker}), on a unix socket in the runner's private {@link SocketDir}.
 */
class PhpRunner implements Runner {
  readonly slots = 1;
  private client: FastcgiClient | null = null;
  private readonly sockets = new SocketDir('tsgi-php-');

  constructor(
    readonly app: string,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly cwd: string,
    private readonly settings: PhpSettings,
    private readonly limit: (workerId: number) => number,
  ) {}

  /** Find the FastCGI client and check that php-cgi runs. @throws {Error} naming what is missing. */
  provision(ctx: ProvisionContext): void {
    this.client = ctx.registry.contract('fastcgi', 'fastcgi-client');
    const r = spawnSync(this.command, ['-v'], { stdio: 'ignore', timeout: 10_000 });
    if (r.error || r.status !== 0)
      throw new Error(
        `cannot run ${this.command} (${r.error?.message ?? `exit code ${r.status}`}): install php-cgi or set php-cgi-bin`,
      );
  }

  spawn(ctx: SpawnContext): WorkerProcess {
    return new PhpWorker({
      command: this.command,
      args: this.args,
      cwd: this.cwd,
      env: ctx.env,
      socket: this.sockets.next(ctx.workerId),
      maxRequests: this.limit(ctx.workerId),
      workerId: ctx.workerId,
      client: this.client!,
      settings: this.settings,
      logFd: ctx.logFd,
      log: ctx.log,
    });
  }

  cleanup(): void {
    this.sockets.remove();
  }
}

function realOrResolved(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** The PHP runner plugin: PHP scripts in php-cgi workers driven over FastCGI. */
export const phpPlugin: PluginDescriptor<typeof phpOptions> = {
  id: 'runner.php',
  name: 'php',
  kind: 'runner',
  summary: 'PHP scripts in php-cgi worker processes (FastCGI with keep-alive), one request at a time each',
  options: phpOptions,
  create({ options, config }) {
    const core = config.values(coreOptions);
    const named = core.plugin.some((p) => p.split(',').some((n) => n.trim() === 'php'));
    if (!options['php-docroot'] && !options['php-app'] && !named) return { provides: {} };
    const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
    const abs = (p: string | null) => (p ? realOrResolved(resolve(cwd, p)) : null);
    const map: PhpMapConfig = {
      docroot: abs(options['php-docroot']),
      cwd: realOrResolved(cwd),
      index: options['php-index'],
      allowedExt: options['php-allowed-ext'],
      allowedDocroot: options['php-allowed-docroot'].map((p) => abs(p)!),
      allowedScript: options['php-allowed-script'],
      app: abs(options['php-app']),
      fallback: abs(options['php-fallback']),
      fallback2: options['php-fallback2'],
      fallbackQs: options['php-fallback-qs'],
    };
    const settings: PhpSettings = {
      map,
      vars: pairs(options['php-var'], 'php-var', config.origins('php-var')),
      serverSoftware: options['php-server-software'] ?? 'tsgi',
      forceServerSoftware: options['php-server-software'] !== null,
    };
    const args = [
      ...(options['php-ini'] ? ['-c', resolve(cwd, options['php-ini'])] : []),
      ...pairs(options['php-set'], 'php-set', config.origins('php-set')).flatMap(([k, v]) => [
        '-d',
        `${k}=${v}`,
      ]),
    ];
    const max = core['max-requests'];
    const runner = new PhpRunner(
      `php ${map.app ?? map.docroot ?? '(DOCUMENT_ROOT)'}`,
      options['php-cgi-bin'] ?? 'php-cgi',
      args,
      map.docroot ?? cwd,
      settings,
      // php-cgi's own limit is the highest the master may pick for this worker (delta and jitter
      // included), so php-cgi never exits before the master would recycle it
      (id) => (max > 0 ? max + (id - 1) * core['max-requests-delta'] + core['max-requests-jitter'] : 0),
    );
    return {
      provides: { runner },
      provision: async (ctx) => runner.provision(ctx),
      cleanup: async () => runner.cleanup(),
    };
  },
};
