import type { Redis } from 'ioredis';
import { ioredis } from '../../core/deps.js';
import { ConfigError, type ConfigOrigin } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import type { Subscription } from './packet.js';
import type { SubscriptionTable } from './table.js';

/**
 * A subscription table shared through Redis by several front routers (a tsgi extension:
 * `subscription-redis = redis://host:port/db?key=PREFIX`), so that a node announcing to any front
 * is reachable through all of them.
 *
 * Each announce a front receives is written as `PREFIX:node:<key> <address>` (JSON: the
 * subscription and when it was seen) with a Redis expiry of the subscription tolerance, so Redis
 * itself forgets silent nodes; an unsubscribe deletes it. Every front reads the whole table every
 * `pollMs` (SCAN + MGET) and on a `PREFIX:events` message, and makes its own table match. When Redis
 * cannot be reached, the last table read keeps serving (its entries stop expiring) and announces
 * keep arriving by UDP; the table is read again once Redis is back.
 */

/** Where the shared table lives. */
export interface RedisTableTarget {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly password: string | undefined;
  readonly prefix: string;
}

/**
 * Parse `redis://[:password@]host[:port][/db][?key=PREFIX]` (prefix `tsgi:subscriptions` by default).
 * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE naming the option.
 */
export function parseRedisTarget(text: string, origin: ConfigOrigin | null): RedisTableTarget {
  const bad = (why: string) =>
    new ConfigError('TSGI_ERR_CONFIG_VALUE', `${why}: '${text}'`, origin, 'subscription-redis');
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a redis:// URL');
  }
  if (u.protocol !== 'redis:' || !u.hostname) throw bad('expected redis://host[:port][/db][?key=PREFIX]');
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d+$/.test(path)) throw bad('the path must be a database number');
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    db: path === '' ? 0 : Number(path),
    password: u.password ? decodeURIComponent(u.password) : undefined,
    prefix: u.searchParams.get('key') || 'tsgi:subscriptions',
  };
}

/** An entry as stored in Redis. */
interface Stored extends Subscription {
  readonly seenAtEpochMs: number;
}

/** Announces this front made recently are kept even when a read of Redis does not show them yet. */
const FRESH_MS = 5000;

const LOOPBACK = /^(127\.|\[?::1\]?:|localhost:|:)/;

export class RedisSubscriptionTable {
  private client: Redis | null = null;
  private subscriber: Redis | null = null;
  private timer: NodeJS.Timeout | null = null;
  private reachable = true;
  private readonly warnedLoopback = new Set<string>();
  /** Monotonic time of this front's own last write per node (`key address`). */
  private readonly own = new Map<string, number>();

  constructor(
    private readonly target: RedisTableTarget,
    private readonly table: SubscriptionTable,
    private readonly settings: { readonly toleranceMs: number; readonly pollMs: number },
    private readonly log: Logger,
  ) {}

  /** Connect, read the table once and keep reading it. */
  async start(): Promise<void> {
    const opts = {
      host: this.target.host,
      port: this.target.port,
      db: this.target.db,
      password: this.target.password,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
    };
    const { Redis } = ioredis();
    this.client = new Redis(opts);
    this.subscriber = new Redis({ ...opts, enableOfflineQueue: true });
    this.client.on('error', () => {});
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', () => void this.refresh());
    await Promise.allSettled([this.client.connect(), this.subscriber.connect()]);
    await this.subscriber.subscribe(this.channel).catch(() => {});
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.settings.pollMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([this.client?.quit(), this.subscriber?.quit()]);
    this.client?.disconnect();
    this.subscriber?.disconnect();
  }

  /** Record an announce this front received (the local table already has it). */
  announce(s: Subscription): void {
    const id = `${s.key} ${s.address}`;
    this.own.set(id, performance.now());
    if (LOOPBACK.test(s.address) && !this.warnedLoopback.has(s.address)) {
      this.warnedLoopback.add(s.address);
      this.log.warn(
        `tsgi: ${s.key} => ${s.address} is a loopback address, written to a shared subscription table: other hosts cannot reach it`,
      );
    }
    const value: Stored = { ...s, seenAtEpochMs: Date.now() };
    void this.client
      ?.multi()
      .set(this.nodeKey(id), JSON.stringify(value), 'PX', this.settings.toleranceMs)
      .publish(this.channel, 'subscribe')
      .exec()
      .catch(() => {});
  }

  /** Record an unsubscribe this front received. */
  withdraw(key: string, address: string): void {
    const id = `${key} ${address}`;
    this.own.delete(id);
    void this.client
      ?.multi()
      .del(this.nodeKey(id))
      .publish(this.channel, 'unsubscribe')
      .exec()
      .catch(() => {});
  }

  /** Read the whole shared table and make the local one match it. */
  async refresh(): Promise<void> {
    const client = this.client;
    if (!client) return;
    let stored: Stored[];
    try {
      stored = await this.readAll(client);
    } catch (err) {
      if (this.reachable) {
        this.reachable = false;
        this.table.frozen = true;
        this.log.warn(
          `tsgi: subscription table in Redis unreachable (${(err as Error).message}); serving the last one read`,
        );
      }
      return;
    }
    if (!this.reachable) {
      this.reachable = true;
      this.log.info('tsgi: subscription table in Redis reachable again');
    }
    this.table.frozen = false;
    this.apply(stored);
  }

  private async readAll(client: Redis): Promise<Stored[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'MATCH', `${this.target.prefix}:node:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    if (keys.length === 0) return [];
    const values = await client.mget(...keys);
    const out: Stored[] = [];
    for (const v of values) {
      if (!v) continue;
      try {
        const s = JSON.parse(v) as Stored;
        if (typeof s.key === 'string' && typeof s.address === 'string') out.push(s);
      } catch {}
    }
    return out;
  }

  private apply(stored: Stored[]): void {
    const nowMs = performance.now();
    const offset = Date.now() - nowMs;
    const present = new Set<string>();
    for (const s of stored) {
      present.add(`${s.key} ${s.address}`);
      const { seenAtEpochMs, ...sub } = s;
      this.table.subscribe(sub, Math.min(nowMs, seenAtEpochMs - offset));
    }
    for (const e of this.table.entries(nowMs)) {
      const id = `${e.key} ${e.address}`;
      if (present.has(id)) continue;
      if (nowMs - (this.own.get(id) ?? Number.NEGATIVE_INFINITY) < FRESH_MS) continue;
      this.table.unsubscribe(e.key, e.address);
    }
  }

  private get channel(): string {
    return `${this.target.prefix}:events`;
  }

  private nodeKey(id: string): string {
    return `${this.target.prefix}:node:${id}`;
  }
}
