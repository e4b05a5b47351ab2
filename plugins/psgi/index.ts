import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import type { PluginDescriptor, Runner, SpawnContext, WorkerProcess } from '../../core/plugin/types.js';
import { FramedWorker } from '../../core/transport/framed-worker.js';

/** Options of the PSGI runner: uWSGI's psgi plugin names, plus `perl-bin`. */
export const psgiOptions = {
  psgi: option.path({ help: 'load this PSGI app (a .psgi file) with Plack::Util::load_psgi' }),
  'perl-local-lib': option.path({ help: 'use this local::lib directory (its lib/perl5 goes on @INC)' }),
  'perl-exec': option.strings({
    help: 'run this Perl file in each worker before the app is loaded (repeatable)',
  }),
  'perl-args': option.string({ help: 'add these space-separated items to @ARGV' }),
  'perl-arg': option.strings({ help: 'add one item to @ARGV (repeatable)' }),
  'perl-no-plack': option.bool({ help: 'load the app with `do FILE` instead of Plack::Util::load_psgi' }),
  'perl-bin': option.path({
    help: 'Perl interpreter for the workers (default: perl on PATH)',
    origin: 'extension',
  }),
} as const;

const WORKER_PL = fileURLToPath(new URL('./worker.pl', import.meta.url));

/** Starts PSGI workers (plugins/psgi/worker.pl) on tsgi's framed transport, one request at a time each. */
class PsgiRunner implements Runner {
  readonly slots = 1;

  constructor(
    readonly app: string,
    private readonly perl: string,
    private readonly cwd: string,
    private readonly workerConfig: Record<string, unknown>,
  ) {}

  spawn(ctx: SpawnContext): WorkerProcess {
    return new FramedWorker({
      command: this.perl,
      args: [WORKER_PL],
      cwd: this.cwd,
      env: {
        ...ctx.env,
        TSGI_WORKER_CONFIG: JSON.stringify({ ...this.workerConfig, workerId: ctx.workerId }),
      },
      logFd: ctx.logFd,
      log: ctx.log,
      label: `psgi worker ${ctx.workerId}`,
    });
  }
}

/**
 * The PSGI runner plugin: Perl web apps (Plack, Dancer, Mojolicious' PSGI mode, ...) in Perl
 * workers that each load the app and speak tsgi's framed transport (docs/transport.md).
 */
export const psgiPlugin: PluginDescriptor<typeof psgiOptions> = {
  id: 'runner.psgi',
  name: 'psgi',
  aliases: ['perl'],
  kind: 'runner',
  summary: 'Perl PSGI apps (Plack) in worker processes, one request at a time each',
  options: psgiOptions,
  create({ options, config }) {
    const file = options.psgi;
    if (!file) return { provides: {} };
    const core = config.values(coreOptions);
    const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
    const args = [...(options['perl-args']?.split(/\s+/).filter(Boolean) ?? []), ...options['perl-arg']];
    const runner = new PsgiRunner(`psgi ${file}`, options['perl-bin'] ?? 'perl', cwd, {
      app: resolve(cwd, file),
      localLib: options['perl-local-lib'] ? resolve(cwd, options['perl-local-lib']) : null,
      exec: options['perl-exec'].map((f) => resolve(cwd, f)),
      args,
      noPlack: options['perl-no-plack'],
      multiprocess: core.processes > 1,
    });
    return { provides: { runner } };
  },
};
