import type { Redis } from 'ioredis';
import { ioredis } from '../core/deps.js';

/**
 * Redis connections of the router (ioredis), one per `host:port` address, opened on first use and
 * closed with the instance. Commands fail fast when Redis is down (no offline queue, one retry), so
 * a rule that reads Redis goes on to the next rule instead of hanging the request.
 */
export class RedisClients {
  private readonly clients = new Map<string, Redis>();

  constructor(private readonly connectTimeoutMs: number) {}

  /** The client for `host:port` (or `[v6]:port`, or a unix socket path). */
  get(address: string): Redis {
    let c = this.clients.get(address);
    if (!c) {
      c = new (ioredis().Redis)({
        ...redisTarget(address),
        lazyConnect: true,
        enableOfflineQueue: true,
        maxRetriesPerRequest: 1,
        connectTimeout: this.connectTimeoutMs,
        retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
      });
      c.on('error', () => {});
      this.clients.set(address, c);
    }
    return c;
  }

  /** Close every connection. */
  async close(): Promise<void> {
    const all = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(all.map((c) => c.quit().catch(() => c.disconnect())));
  }
}

/** `host:port` → ioredis options; a value without a port is a unix socket path. */
export function redisTarget(address: string): { host: string; port: number } | { path: string } {
  const colon = address.lastIndexOf(':');
  if (colon === -1) return { path: address };
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port: Number(address.slice(colon + 1)) || 6379 };
}
