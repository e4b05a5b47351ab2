import { accessSync, constants } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { coreOptions } from '../../core/config/core-options.js';
import type { OptionValues } from '../../core/config/option.js';
import { option } from '../../core/config/option.js';
import type { InstanceConfig } from '../../core/config/resolve.js';
import { ConfigError, formatOrigin } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import type {
  PluginDescriptor,
  PluginInstance,
  Runner,
  SpawnContext,
  WorkerProcess,
} from '../../core/plugin/types.js';
import { FramedWorker } from '../../core/transport/framed-worker.js';
import type { AppConsole } from '../pty/contract.js';
import { PythonPrototype } from './prototype.js';

/** Options of the Python runner (uWSGI's python plugin names, plus `python-bin`). */
export const pythonOptions = {
  'wsgi-file': option.path({ help: 'load this .py file and serve its WSGI callable', aliases: ['file'] }),
  module: option.string({
    help: 'import this module and serve its WSGI callable: `pkg.mod` or `pkg.mod:callable`',
    aliases: ['wsgi'],
    short: 'w',
  }),
  callable: option.string({
    help: 'name of the WSGI callable in the file or module',
    default: 'application',
  }),
  pythonpath: option.strings({
    help: 'add a directory to sys.path (repeatable)',
    aliases: ['python-path', 'pp'],
  }),
  home: option.path({
    help: 'virtualenv to run in: its bin/python is the interpreter',
    aliases: ['virtualenv', 'venv', 'pyhome'],
    short: 'H',
  }),
  'python-bin': option.path({
    help: 'Python interpreter for the workers (default: python3 on PATH, or <home>/bin/python)',
    origin: 'extension',
  }),
  mount: option.strings({
    help: 'serve another app under a URL prefix: `/prefix=app.py` or `/prefix=pkg.mod:callable`',
  }),
  'manage-script-name': option.bool({
    help: 'move a mount prefix from PATH_INFO to SCRIPT_NAME (for apps mounted under a prefix)',
  }),
  asgi: option.string({
    help: 'serve this ASGI 3 app (HTTP, WebSocket, lifespan): `pkg.mod:app`, or `path/app.py:app`; without `:name`, the app is named by `callable` (default `application`)',
    origin: 'extension',
  }),
  'asgi-concurrency': option.int({
    help: 'requests and WebSockets one ASGI worker serves at once on its event loop; the master dispatches no more than this to it',
    default: 1000,
    min: 1,
    max: 100_000,
    origin: 'extension',
  }),
} as const;

type AppSpec = { kind: 'file' | 'module'; target: string; callable: string; prefix?: string };

const WORKER_PY = fileURLToPath(new URL('./worker.py', import.meta.url));
const CONSOLE_PY = fileURLToPath(new URL('./console.py', import.meta.url));

/** `target` of a mount or module: a .py path (file) or a dotted module, optionally `:callable`. */
function appSpec(target: string, callable: string): AppSpec {
  if (target.endsWith('.py') || target.endsWith('.wsgi') || target.includes('/'))
    return { kind: 'file', target, callable };
  return { kind: 'module', target, callable };
}

/** Pick the interpreter: `python-bin`, else `<home>/bin/python3` or `<home>/bin/python`, else `python3`. */
function interpreter(pythonBin: string | null, home: string | null, chdir: string): string {
  if (pythonBin) return pythonBin;
  if (home) {
    const base = isAbsolute(home) ? home : resolve(chdir, home);
    for (const name of ['python3', 'python']) {
      const p = join(base, 'bin', name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {}
    }
    return join(base, 'bin', 'python');
  }
  return 'python3';
}

/**
 * Starts Python workers on tsgi's framed transport: forked from this generation's prototype (which
 * imported the app once), or with `lazy-apps` each as its own `worker.py` that imports the app.
 */
class PythonRunner implements Runner {
  private readonly prototype: PythonPrototype | null;
  /** ASGI workers serve WebSockets; WSGI ones do not. */
  readonly websockets: boolean;

  constructor(
    readonly app: string,
    readonly slots: number,
    private readonly command: string,
    private readonly cwd: string,
    private readonly workerConfig: Record<string, unknown>,
    lazy: boolean,
  ) {
    this.prototype = lazy ? null : new PythonPrototype({ command, cwd, workerConfig });
    this.websockets = workerConfig.server === 'tsgi_asgi';
  }

  spawn(ctx: SpawnContext): WorkerProcess {
    if (this.prototype) return this.prototype.spawn(ctx);
    return new FramedWorker({
      command: this.command,
      args: [WORKER_PY],
      cwd: this.cwd,
      env: {
        ...ctx.env,
        PYTHONUNBUFFERED: '1',
        TSGI_WORKER_CONFIG: JSON.stringify({ ...this.workerConfig, workerId: ctx.workerId }),
      },
      logFd: ctx.logFd,
      log: ctx.log,
      label: `worker ${ctx.workerId}`,
    });
  }

  /** Stop the prototype (its workers are gone by now: a generation is cleaned up after them). */
  async stop(): Promise<void> {
    await this.prototype?.stop();
  }
}

/** The Python runner plugin: WSGI (PEP 3333) and ASGI 3 apps. */
export const pythonPlugin: PluginDescriptor<typeof pythonOptions> = {
  id: 'runner.python',
  name: 'python',
  aliases: ['python3', 'python311', 'python312', 'python313', 'wsgi', 'asgi'],
  kind: 'runner',
  summary: 'Python WSGI (PEP 3333) and ASGI 3 apps in worker processes',
  options: pythonOptions,
  create({ options, config, log }) {
    const core = config.values(coreOptions);
    if (options.asgi) return asgiRunner(options, config, log);
    const mounts: AppSpec[] = options.mount.map((m, i) => {
      const eq = m.indexOf('=');
      if (eq <= 0)
        throw new ConfigError(
          'TSGI_ERR_CONFIG_VALUE',
          `expected /prefix=app, got '${m}'`,
          config.origins('mount')[i] ?? null,
          'mount',
        );
      return { ...appSpec(m.slice(eq + 1), options.callable ?? 'application'), prefix: m.slice(0, eq) };
    });
    const file = options['wsgi-file'];
    const mod = options.module;
    if (file && mod)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_APP',
        'give either wsgi-file or module, not both',
        config.origin('module'),
        'module',
      );
    if (!file && !mod && mounts.length === 0) return { provides: {} };
    const callable = options.callable ?? 'application';
    const app: AppSpec | null = file
      ? { kind: 'file', target: file, callable }
      : mod
        ? { kind: 'module', target: mod, callable }
        : null;
    const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
    const description = app
      ? `python wsgi ${app.target}${app.kind === 'file' || !app.target.includes(':') ? `:${callable}` : ''}`
      : 'python wsgi (mounts)';
    const python = interpreter(options['python-bin'], options.home, cwd);
    const workerConfig = {
      app,
      mounts,
      pythonpath: options.pythonpath,
      threads: core.threads,
      multiprocess: core.processes > 1,
      manageScriptName: options['manage-script-name'],
      description,
      server: 'tsgi_wsgi',
    };
    const runner = new PythonRunner(
      description,
      core.threads,
      python,
      cwd,
      workerConfig,
      core['lazy-apps'] || core.lazy,
    );
    const appConsole: AppConsole = {
      program: (env) => ({
        file: python,
        args: [CONSOLE_PY],
        cwd,
        env: { ...env, TSGI_WORKER_CONFIG: JSON.stringify(workerConfig) },
      }),
    };
    return { provides: { runner, 'app-console': appConsole }, cleanup: () => runner.stop() };
  },
};

/**
 * The runner for `asgi = ...`: workers run `tsgi_asgi` (an asyncio loop each), with
 * `asgi-concurrency` slots. WSGI options alongside are a config error; `threads` does not apply.
 */
function asgiRunner(
  options: OptionValues<typeof pythonOptions>,
  config: InstanceConfig,
  log: Logger,
): PluginInstance {
  const core = config.values(coreOptions);
  for (const other of ['wsgi-file', 'module', 'mount'] as const)
    if (config.has(other))
      throw new ConfigError(
        'TSGI_ERR_CONFIG_APP',
        `give either asgi or ${other}, not both (one instance serves one app)`,
        config.origin(other),
        other,
      );
  if (core.threads > 1)
    log.warn(
      `${formatOrigin(config.origin('threads'))}: threads does not apply to ASGI apps (asgi-concurrency sets how many requests a worker serves at once)`,
    );
  const target = options.asgi!;
  const colon = target.lastIndexOf(':');
  const named = colon > target.lastIndexOf('/');
  const app = appSpec(
    named ? target.slice(0, colon) : target,
    named ? target.slice(colon + 1) : (options.callable ?? 'application'),
  );
  const description = `python asgi ${app.target}:${app.callable}`;
  const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
  const concurrency = options['asgi-concurrency'];
  const runner = new PythonRunner(
    description,
    concurrency,
    interpreter(options['python-bin'], options.home, cwd),
    cwd,
    {
      app,
      mounts: [],
      pythonpath: options.pythonpath,
      concurrency,
      description,
      server: 'tsgi_asgi',
    },
    core['lazy-apps'] || core.lazy,
  );
  return { provides: { runner }, cleanup: () => runner.stop() };
}
