import { coreOptions } from '../config/core-options.js';
import { OptionIndex } from '../config/option.js';
import type { InstanceConfig } from '../config/resolve.js';
import { PluginError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { ContractLookup, Contracts, PluginDescriptor, PluginInstance } from './types.js';

/** Namespaces a plugin id may start with. */
const ID_NAMESPACES = ['protocol.', 'runner.', 'router.', 'service.'];

/**
 * The set of known plugin descriptors. Registration checks ids and names at start-up (a duplicate or
 * malformed id is a programming error and fails loudly), and builds the option index every config is
 * validated against.
 */
export class PluginRegistry {
  private readonly descriptors: PluginDescriptor[] = [];
  private readonly byName = new Map<string, PluginDescriptor>();
  readonly options = new OptionIndex();

  constructor(list: readonly PluginDescriptor[]) {
    this.options.add('core', coreOptions);
    for (const d of list) this.register(d);
  }

  /** @throws {PluginError} TSGI_ERR_PLUGIN_REGISTER for a bad or duplicate id/name. */
  private register(d: PluginDescriptor): void {
    if (!ID_NAMESPACES.some((ns) => d.id.startsWith(ns)))
      throw new PluginError(
        'TSGI_ERR_PLUGIN_REGISTER',
        `plugin id '${d.id}' must start with ${ID_NAMESPACES.join(', ')}`,
      );
    for (const n of [d.id, d.name, ...(d.aliases ?? [])]) {
      if (this.byName.has(n))
        throw new PluginError('TSGI_ERR_PLUGIN_REGISTER', `plugin name '${n}' registered twice`);
      this.byName.set(n, d);
    }
    this.options.add(d.id, d.options);
    this.descriptors.push(d);
  }

  /** Every descriptor in registration order. */
  all(): readonly PluginDescriptor[] {
    return this.descriptors;
  }

  /** The descriptor known by this id, name or alias (uWSGI `plugins =` names). */
  find(name: string): PluginDescriptor | undefined {
    return this.byName.get(name);
  }

  /** Create every plugin for one config (no I/O). */
  instantiate(config: InstanceConfig, log: Logger): PluginSet {
    return new PluginSet(
      this.descriptors.map((d) => ({
        descriptor: d,
        instance: d.create({ options: config.values(d.options), config, log: log.child('') }),
      })),
      log,
    );
  }
}

interface Entry {
  readonly descriptor: PluginDescriptor;
  readonly instance: PluginInstance;
}

/**
 * The plugin instances of one config generation: contract lookups, provisioning in order and
 * cleanup in reverse order. A reload builds a new set; the old one is cleaned up when its workers
 * are gone.
 */
export class PluginSet implements ContractLookup {
  private provisioned: Entry[] = [];

  constructor(
    private readonly entries: readonly Entry[],
    private readonly log: Logger,
  ) {}

  contract<K extends keyof Contracts>(plugin: string, kind: K): Contracts[K] {
    const e = this.entries.find(
      (x) =>
        x.descriptor.id === plugin || x.descriptor.name === plugin || x.descriptor.aliases?.includes(plugin),
    );
    const c = e?.instance.provides[kind];
    if (!c)
      throw new PluginError('TSGI_ERR_PLUGIN_CONTRACT', `plugin '${plugin}' provides no '${String(kind)}'`);
    return c as Contracts[K];
  }

  all<K extends keyof Contracts>(kind: K): Array<{ plugin: string; contract: Contracts[K] }> {
    const out: Array<{ plugin: string; contract: Contracts[K] }> = [];
    for (const e of this.entries) {
      const c = e.instance.provides[kind];
      if (c) out.push({ plugin: e.descriptor.name, contract: c as Contracts[K] });
    }
    return out;
  }

  /**
   * Provision every plugin in registration order.
   * @throws {PluginError} TSGI_ERR_PLUGIN_PROVISION naming the plugin whose provision failed (the
   * ones already provisioned are cleaned up first).
   */
  async provision(): Promise<void> {
    for (const e of this.entries) {
      try {
        await e.instance.provision?.({ registry: this, log: this.log });
        this.provisioned.push(e);
      } catch (err) {
        await this.cleanup();
        throw new PluginError(
          'TSGI_ERR_PLUGIN_PROVISION',
          `plugin ${e.descriptor.id}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }

  /** Clean up provisioned plugins in reverse order; errors are logged, never thrown. */
  async cleanup(): Promise<void> {
    const list = this.provisioned.reverse();
    this.provisioned = [];
    for (const e of list) {
      try {
        await e.instance.cleanup?.();
      } catch (err) {
        this.log.warn(`plugin ${e.descriptor.id} cleanup failed: ${(err as Error).message}`);
      }
    }
  }
}
