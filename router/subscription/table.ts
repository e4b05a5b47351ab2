import type { Logger } from '../../core/log/logger.js';
import { type Balancing, UpstreamNode, UpstreamPool } from '../upstream/pool.js';
import type { Subscription } from './packet.js';

/**
 * The subscription table of a front router: key (virtual host) → a pool of the nodes that announced
 * it, as uWSGI's subscription slots (core/subscription.c). A node stays while it keeps announcing;
 * one silent for longer than the tolerance (uWSGI's `subscription-tolerance`, 17 s by default) is
 * dropped at the next lookup, an unsubscribe drops it at once, and a node that fails to connect is
 * skipped until it announces again. A key whose last node went is forgotten.
 */

/** Settings of a subscription table, ms. */
export interface TableSettings {
  readonly toleranceMs: number;
  readonly balancing: Balancing;
  /** Other nodes of the same key tried after a connect failure. */
  readonly retries: number;
}

/** A node as the table knows it, for stats and the shared (Redis) table. */
export interface TableEntry extends Subscription {
  /** Wall-clock time of its last announce, ms since the epoch. */
  readonly seenAtEpochMs: number;
}

export class SubscriptionTable {
  /** While set (the shared table cannot be read), silent nodes are kept instead of dropped. */
  frozen = false;
  private readonly pools = new Map<string, UpstreamPool>();
  private readonly info = new Map<UpstreamNode, { sub: Subscription; seenAtMs: number }>();

  constructor(
    private settings: TableSettings,
    private readonly log: Logger,
    /** The router's name in log lines (`http`, `fastrouter`). */
    private readonly name: string,
  ) {}

  /**
   * Apply an announce (or refresh one); `seenAtMs` is monotonic (performance.now()). An announce
   * newer than the node's last failure makes it eligible again.
   */
  subscribe(s: Subscription, seenAtMs = performance.now()): void {
    let pool = this.pools.get(s.key);
    if (!pool) {
      pool = new UpstreamPool(s.key, {
        balancing: this.settings.balancing,
        gracetimeMs: Number.POSITIVE_INFINITY,
        retries: this.settings.retries,
      });
      this.pools.set(s.key, pool);
      this.log.info(`[${this.name}-subscription] new pool: ${s.key}`);
    }
    let node = pool.find(s.address);
    if (!node) {
      node = pool.add(new UpstreamNode(s.address, 'uwsgi', s.weight, s.modifier1, s.modifier2));
      this.log.info(`[${this.name}-subscription] ${s.key} => new node: ${s.address}`);
    }
    node.weight = s.weight;
    node.modifier1 = s.modifier1;
    node.modifier2 = s.modifier2;
    const seen = Math.max(seenAtMs, this.info.get(node)?.seenAtMs ?? Number.NEGATIVE_INFINITY);
    if (seen > node.failedAtMs) pool.markOk(node);
    this.info.set(node, { sub: s, seenAtMs: seen });
  }

  /** Apply an unsubscribe: the node goes now. */
  unsubscribe(key: string, address: string): void {
    const pool = this.pools.get(key);
    const node = pool?.find(address);
    if (!pool || !node) return;
    this.log.info(`[${this.name}-subscription] ${key} => removing ${address} (unsubscribed)`);
    this.drop(pool, node);
  }

  /** The pool serving `key`, with silent nodes dropped; undefined when no node announces it. */
  lookup(key: string, nowMs = performance.now()): UpstreamPool | undefined {
    const pool = this.pools.get(key);
    if (!pool || this.frozen) return pool;
    for (const node of [...pool.nodes]) {
      const seen = this.info.get(node)?.seenAtMs ?? 0;
      if (nowMs - seen <= this.settings.toleranceMs) continue;
      this.log.warn(
        `[${this.name}-subscription] ${key} => removing ${node.address} (no announce received in ${Math.round(this.settings.toleranceMs / 1000)} seconds)`,
      );
      this.drop(pool, node);
    }
    return this.pools.get(key);
  }

  /** Every node, for stats and sharing. */
  entries(nowMs = performance.now()): TableEntry[] {
    const wallOffset = Date.now() - nowMs;
    const out: TableEntry[] = [];
    for (const [, { sub, seenAtMs }] of this.info)
      out.push({ ...sub, seenAtEpochMs: Math.round(seenAtMs + wallOffset) });
    return out;
  }

  /** New settings (a reload): they apply to every pool from now on. */
  configure(settings: TableSettings): void {
    this.settings = settings;
    for (const pool of this.pools.values())
      pool.settings = { ...pool.settings, balancing: settings.balancing, retries: settings.retries };
  }

  /** Number of keys. */
  get size(): number {
    return this.pools.size;
  }

  private drop(pool: UpstreamPool, node: UpstreamNode): void {
    pool.remove(node);
    this.info.delete(node);
    if (pool.nodes.length === 0) this.pools.delete(pool.name);
  }
}
