import type { Logger } from '../core/log/logger.js';
import { HtpasswdFiles } from './auth/htpasswd.js';
import { PasswordVerifier } from './auth/verify.js';
import { RedisClients } from './redis-clients.js';
import type { StaticSettings } from './static/files.js';
import type { Backends } from './upstream/proxy.js';
import { Upstreams } from './upstream/upstreams.js';

/** Timeouts the router's upstream exchanges use, ms; absent ones are the clients' defaults. */
export interface UpstreamTimeouts {
  readonly connectTimeoutMs?: number;
  readonly readTimeoutMs?: number;
}

/**
 * What the router's actions share within one instance config: static-file settings, password files
 * and the bcrypt thread, Redis connections, upstream pools and the protocol clients (filled in when
 * the plugin is provisioned: the clients are other plugins' contracts).
 */
export class RouterServices {
  readonly htpasswd = new HtpasswdFiles();
  readonly verifier = new PasswordVerifier();
  readonly redis: RedisClients;
  readonly upstreams = new Upstreams();
  /** The upstream clients by protocol, set at provision. */
  backends: Backends = {};

  constructor(
    readonly staticSettings: StaticSettings,
    readonly timeouts: UpstreamTimeouts,
    readonly log: Logger,
  ) {
    this.redis = new RedisClients(timeouts.connectTimeoutMs ?? 4000);
  }

  /** Release threads and connections (plugin cleanup). */
  async close(): Promise<void> {
    this.verifier.close();
    await this.redis.close();
  }
}
