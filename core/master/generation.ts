import { coreOptions } from '../config/core-options.js';
import type { OptionValues } from '../config/option.js';
import type { InstanceConfig } from '../config/resolve.js';
import { ConfigError, formatOrigin } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { PluginRegistry, PluginSet } from '../plugin/registry.js';
import type { EdgeProtocol, ListenSpec, RequestHook, Runner } from '../plugin/types.js';
import { cheaperSettings } from './cheaper.js';
import { type RecycleLimits, recycleLimits } from './recycle.js';
import type { Worker } from './worker.js';

/**
 * Everything that belongs to one config of an instance: the config, its plugin instances, the runner
 * and edges they provide, and the workers started for it. A graceful reload builds a new generation
 * beside the running one and switches over once its workers are ready.
 */
export interface Generation {
  /** 1 at boot, +1 per reload. */
  readonly n: number;
  readonly config: InstanceConfig;
  readonly core: OptionValues<typeof coreOptions>;
  readonly plugins: PluginSet;
  /** The app runner, or null for an instance without an app (a pure router). */
  readonly runner: Runner | null;
  /** Edge protocols by protocol name (`http`, `uwsgi`, `fastcgi`). */
  readonly edges: ReadonlyMap<string, EdgeProtocol>;
  /** Listen specs in config order. */
  readonly listens: readonly ListenSpec[];
  /** Request hooks in plugin order (routing, static files). */
  readonly hooks: readonly RequestHook[];
  /** The worker holding each slot (worker id), starting or ready. */
  readonly workers: Map<number, Worker>;
  /**
   * This generation's other live workers: successors still starting (recycling) and workers that
   * gave up their slot and are finishing their requests (retiring, harakiri, evil reload).
   */
  readonly others: Set<Worker>;
  /** Number of workers (slots) this generation wants (in cheaper mode: between cheaper and processes). */
  processes: number;
  /** Cheaper mode (`cheaper` > 0): the minimum and initial worker counts; null when off. */
  readonly cheaper: { readonly min: number; readonly initial: number } | null;
  /** The recycling limits of this config, in ms and bytes. */
  readonly limits: RecycleLimits;
  /**
   * Whether its slot holders take requests: the current generation, and the previous one while a
   * chain reload hands its slots over one by one.
   */
  serving: boolean;
}

/** Every live worker of a generation: slot holders first (by id), then the others. */
export function generationWorkers(gen: Generation): Worker[] {
  return [...gen.workers.values(), ...gen.others];
}

/**
 * Create and provision a generation's plugins and check that the config describes a servable
 * instance (at least one listener; exactly one app unless `need-app` is off or a hook answers every request, as a front router does).
 * @throws {ConfigError} for an instance that cannot serve; {PluginError} when provisioning fails.
 */
export async function createGeneration(
  n: number,
  registry: PluginRegistry,
  config: InstanceConfig,
  log: Logger,
): Promise<Generation> {
  const core = config.values(coreOptions);
  const plugins = registry.instantiate(config, log);
  const runners = plugins.all('runner');
  if (runners.length > 1)
    throw new ConfigError(
      'TSGI_ERR_CONFIG_APP',
      `more than one app is configured (${runners.map((r) => r.plugin).join(' and ')}); one instance serves one app`,
      null,
      null,
    );
  const edges = new Map<string, EdgeProtocol>();
  const listens: ListenSpec[] = [];
  for (const { plugin, contract } of plugins.all('edge')) {
    for (const spec of contract.listeners()) {
      listens.push(spec);
      edges.set(spec.proto, contract);
    }
    if (contract.listeners().length === 0) log.info(`${plugin}: no listeners`);
  }
  if (listens.length === 0)
    throw new ConfigError(
      'TSGI_ERR_CONFIG_NO_LISTENER',
      'no listener is configured: give http-socket (or socket, fastcgi-socket, http)',
      null,
      null,
    );
  const hooks = plugins.all('request-hook').map((h) => h.contract);
  const runner = runners[0]?.contract ?? null;
  if (!runner && core['need-app'] && !hooks.some((h) => h.answersAll))
    throw new ConfigError(
      'TSGI_ERR_CONFIG_APP',
      'no app is configured: give wsgi-file or module (or node-app, psgi, php-docroot, cgi; or set need-app = false)',
      null,
      null,
    );
  const cheaper = cheaperSettings({
    processes: core.processes,
    cheaper: core.cheaper,
    initial: core['cheaper-initial'],
  });
  if (cheaper?.error)
    throw new ConfigError('TSGI_ERR_CONFIG_VALUE', cheaper.error, config.origin('cheaper'), 'cheaper');
  if (cheaper?.warning) log.warn(`${formatOrigin(config.origin('cheaper-initial'))}: ${cheaper.warning}`);
  await plugins.provision();
  return {
    n,
    config,
    core,
    plugins,
    runner,
    edges,
    listens,
    hooks,
    workers: new Map(),
    others: new Set(),
    processes: runner ? (cheaper ? cheaper.initial : core.processes) : 0,
    cheaper: cheaper ? { min: cheaper.min, initial: cheaper.initial } : null,
    limits: recycleLimits(core),
    serving: false,
  };
}
