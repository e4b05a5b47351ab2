import { isAbsolute, resolve } from 'node:path';
import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import { ConfigError } from '../../core/errors.js';
import type { PluginDescriptor, Runner, SpawnContext, WorkerProcess } from '../../core/plugin/types.js';
import type { CgiEntry, CgiMapConfig } from './map.js';
import type { CgiSettings } from './run.js';
import { CgiSlot } from './slot.js';

/** Options of the CGI runner: uWSGI's cgi plugin names and meanings. */
export const cgiOptions = {
  cgi: option.strings({
    help: 'serve CGI scripts: `[mountpoint=]dir` (scripts under dir) or `[mountpoint=]file` (one script for every path); repeatable',
  }),
  'cgi-allowed-ext': option.strings({
    help: 'run only scripts whose name ends with this (repeatable; none given = any)',
  }),
  'cgi-helper': option.strings({
    help: 'run scripts ending with .ext through an interpreter: `.ext=command` (e.g. `.py=python3`); repeatable',
    aliases: ['cgi-map-helper'],
  }),
  'cgi-timeout': option.seconds({
    help: 'kill a script (its whole process group) that sends nothing for this long (0 = the default); the client gets 504 if no head was sent',
    default: 60,
    departure: 'kills the process group, not just the script (uWSGI kills the script only)',
  }),
  'cgi-index': option.strings({ help: 'file run for a request to a directory, tried in order (repeatable)' }),
  'cgi-safe': option.strings({
    help: 'scripts whose real path is under this directory may live outside their cgi directory (symlinks)',
  }),
  'cgi-unset': option.strings({ help: 'remove this variable from the scripts environment (repeatable)' }),
  'cgi-dontresolve': option.bool({
    help: 'run a symlinked script by its link path rather than its real path',
  }),
  'cgi-buffer-size': option.bytes({
    help: 'largest response head a script may send, bytes',
    default: 65536,
    min: 512,
  }),
  'cgi-close-stdin-on-eof': option.bool({
    help: 'accepted for compatibility: tsgi always closes the script stdin at the end of the request body',
    departure: 'always on: a script reading stdin to its end never hangs',
  }),
} as const;

/** `mountpoint=path` or `path`, resolved against `chdir`. */
function entry(text: string, cwd: string): CgiEntry {
  const eq = text.indexOf('=');
  const [mount, path] = eq < 0 ? ['', text] : [text.slice(0, eq), text.slice(eq + 1)];
  return { mount, path: isAbsolute(path) ? path : resolve(cwd, path) };
}

/**
 * The CGI runner: "workers" are slots ({@link CgiSlot}) that each run up to `threads` script
 * processes at a time, so `processes × threads` bounds the concurrent scripts (uWSGI's cgi plugin
 * runs one script per worker core the same way).
 */
class CgiRunner implements Runner {
  constructor(
    readonly app: string,
    readonly slots: number,
    private readonly settings: Omit<CgiSettings, 'env' | 'logFd' | 'log'>,
  ) {}

  spawn(ctx: SpawnContext): WorkerProcess {
    return new CgiSlot({ ...this.settings, env: ctx.env, logFd: ctx.logFd, log: ctx.log }, this.slots);
  }
}

/** The CGI runner plugin (RFC 3875 scripts, one process per request). */
export const cgiPlugin: PluginDescriptor<typeof cgiOptions> = {
  id: 'runner.cgi',
  name: 'cgi',
  kind: 'runner',
  summary: 'CGI scripts (RFC 3875), one process per request, processes × threads at a time',
  options: cgiOptions,
  create({ options, config }) {
    if (options.cgi.length === 0) return { provides: {} };
    const core = config.values(coreOptions);
    const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
    const origins = config.origins('cgi-helper');
    const helpers = options['cgi-helper'].map((h, i): readonly [string, string] => {
      const eq = h.indexOf('=');
      if (eq <= 0 || eq === h.length - 1)
        throw new ConfigError(
          'TSGI_ERR_CONFIG_VALUE',
          `invalid CGI helper syntax, must be ext=command, got '${h}'`,
          origins[i] ?? null,
          'cgi-helper',
        );
      return [h.slice(0, eq), h.slice(eq + 1)];
    });
    const map: CgiMapConfig = {
      entries: options.cgi.map((c) => entry(c, cwd)),
      index: options['cgi-index'],
      allowedExt: options['cgi-allowed-ext'],
      helpers,
      safe: options['cgi-safe'].map((p) => resolve(cwd, p)),
      dontResolve: options['cgi-dontresolve'],
    };
    const runner = new CgiRunner(`cgi ${options.cgi.join(', ')}`, core.threads, {
      map,
      unset: options['cgi-unset'],
      timeoutMs: (options['cgi-timeout'] || 60) * 1000, // 0 means the default, as in uWSGI
      maxHeadBytes: options['cgi-buffer-size'],
    });
    return { provides: { runner } };
  },
};
