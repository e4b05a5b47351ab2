import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import type { PluginDescriptor, Runner, SpawnContext, WorkerProcess } from '../../core/plugin/types.js';
import { SocketDir } from '../../core/transport/socket-dir.js';
import { NodeWorker } from './process.js';

/** Options of the Node runner (tsgi's own: uWSGI has no Node plugin; `node-app` is named in DESIGN.md). */
export const nodeOptions = {
  'node-app': option.path({
    help: 'serve this Node module (ESM or CommonJS): it exports a request listener (Express app, Koa `app.callback()`, `(req, res) => ...`, an http.Server), a Fetch-style app (`fetch(Request)`, e.g. Hono) or calls `listen()` itself, which tsgi captures',
    origin: 'extension',
  }),
  'node-loader': option.strings({
    help: 'preload this module in every Node worker with `node --import` (e.g. `tsx` for TypeScript apps); repeatable',
    origin: 'extension',
  }),
  'node-bin': option.path({
    help: 'Node binary for the workers (default: the one running tsgi)',
    origin: 'extension',
  }),
  'node-concurrency': option.int({
    help: 'concurrent requests per Node worker (its request slots, and at most this many keep-alive connections to it)',
    default: 64,
    min: 1,
    max: 4096,
    origin: 'extension',
  }),
} as const;

const WORKER_JS = fileURLToPath(new URL('./worker.js', import.meta.url));

/** A loader given as a path (`./ts-hooks.mjs`) becomes a file URL; a package name stays as written. */
function loaderSpecifier(loader: string, cwd: string): string {
  if (loader.startsWith('.') || isAbsolute(loader)) return pathToFileURL(resolve(cwd, loader)).href;
  return loader;
}

/**
 * Starts Node workers: each a `node` process running plugins/node/worker.js, which loads the app and
 * serves it over HTTP/1.1 on a unix socket in the runner's private {@link SocketDir}.
 */
class NodeRunner implements Runner {
  private readonly sockets = new SocketDir('tsgi-node-');
  /** WebSocket handshakes reach the app's own `upgrade` handler; the connection is passed through (channel.ts). */
  readonly websockets = true;

  constructor(
    readonly app: string,
    readonly slots: number,
    private readonly node: string,
    private readonly nodeArgs: readonly string[],
    private readonly appPath: string,
    private readonly cwd: string,
  ) {}

  spawn(ctx: SpawnContext): WorkerProcess {
    return new NodeWorker({
      node: this.node,
      nodeArgs: this.nodeArgs,
      script: WORKER_JS,
      app: this.appPath,
      cwd: this.cwd,
      env: ctx.env,
      socket: this.sockets.next(ctx.workerId),
      workerId: ctx.workerId,
      slots: this.slots,
      logFd: ctx.logFd,
      log: ctx.log,
    });
  }

  /** Remove the socket directory (the generation's workers are gone by now). */
  cleanup(): void {
    this.sockets.remove();
  }
}

/** The Node runner plugin: Node request listeners and self-listening scripts in worker processes. */
export const nodePlugin: PluginDescriptor<typeof nodeOptions> = {
  id: 'runner.node',
  name: 'node',
  aliases: ['nodejs'],
  kind: 'runner',
  summary: 'Node.js apps (request listeners or scripts that listen) in worker processes, over HTTP/1.1',
  options: nodeOptions,
  create({ options, config }) {
    const app = options['node-app'];
    if (!app) return { provides: {} };
    const core = config.values(coreOptions);
    const cwd = core.chdir ? resolve(core.chdir) : process.cwd();
    const nodeArgs = [
      // the master forwards header blocks up to buffer-size (max 64 KiB) plus its proxy headers
      '--max-http-header-size=81920',
      ...options['node-loader'].flatMap((l) => ['--import', loaderSpecifier(l, cwd)]),
    ];
    const runner = new NodeRunner(
      `node ${app}`,
      options['node-concurrency'],
      options['node-bin'] ?? process.execPath,
      nodeArgs,
      resolve(cwd, app),
      cwd,
    );
    return { provides: { runner }, cleanup: async () => runner.cleanup() };
  },
};
