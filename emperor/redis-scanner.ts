import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { Redis } from 'ioredis';
import { ioredis } from '../core/deps.js';
import type { Logger } from '../core/log/logger.js';
import { parseRedisUrl, type RedisSource } from './redis-url.js';
import type { Scanner, Snapshot, VassalSpec } from './scanner.js';

/** Options of a Redis scanner. */
export interface RedisScannerOptions {
  /** Seconds between full reads (the truth; notifications are hints). */
  readonly freqS: number;
  /** Base of the vassals' working directories (`emperor-redis-dir`), resolved against `cwd`. */
  readonly redisDir: string;
  readonly cwd: string;
  readonly log: Logger;
}

/** Poll period when keyspace notifications cannot be enabled, ms. */
const POLL_MS = 1000;
/** Reconnect backoff: 100 ms doubling, capped (ms). */
const MAX_BACKOFF_MS = 5000;
/** A Redis field becomes a directory name: keep it to one safe path component. */
const VALID_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,253}$/;

/**
 * Vassals from a Redis hash (field = vassal name, value = ini text), with ioredis. Keyspace
 * notifications on the hash (enabled with `CONFIG SET notify-keyspace-events` on each connect where
 * the server allows it, else a poll every second) make changes visible at once; a full `HGETALL`
 * every `freqS` is the truth. Redis down: no snapshot is reported (the emperor keeps what runs), the
 * outage is logged once, and ioredis reconnects with a bounded backoff. A field deleted while Redis
 * stays up (same `run_id`) stops its vassal; after Redis comes back without it (new `run_id`: a
 * restart that lost data) the vassal is kept, with a warning, until the field is written again.
 */
export class RedisScanner implements Scanner {
  private readonly src: RedisSource;
  private readonly client: Redis;
  private readonly sub: Redis;
  private readonly channel: string;
  private onSnapshot: ((s: Snapshot) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private downSince: string | null = null;
  private runId: string | null = null;
  /** Names seen in the hash since the current `run_id`. */
  private readonly seen = new Set<string>();
  /** Last snapshot reported (kept vassals included). */
  private last = new Map<string, VassalSpec>();
  /** First time each (name, version) was seen, epoch seconds (Redis has no mtime). */
  private readonly firstSeen = new Map<string, { version: string; atS: number }>();
  private readonly warned = new Set<string>();
  private reading = false;
  private rereadAfter = false;

  constructor(
    readonly arg: string,
    private readonly opts: RedisScannerOptions,
  ) {
    this.src = parseRedisUrl(arg);
    this.channel = `__keyspace@${this.src.db}__:${this.src.key}`;
    this.client = new (ioredis().Redis)({
      host: this.src.host,
      port: this.src.port,
      db: this.src.db,
      username: this.src.username,
      password: this.src.password,
      ...(this.src.tls ? { tls: { servername: this.src.host } } : {}),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times - 1, 6), MAX_BACKOFF_MS),
    });
    this.sub = this.client.duplicate();
  }

  /** The URL as logged and shown in stats (password masked). */
  get display(): string {
    return this.src.display;
  }

  start(onSnapshot: (s: Snapshot) => void): void {
    this.onSnapshot = onSnapshot;
    this.client.on('error', (err: Error) => this.noteDown(err.message));
    this.client.on('end', () => this.noteDown('connection closed'));
    this.client.on('ready', () => void this.onReady());
    this.sub.on('error', () => {}); // reported through the main connection
    this.sub.on('ready', () => {
      this.sub.subscribe(this.channel).catch(() => {});
    });
    this.sub.on('message', () => this.scanNow());
    this.client.connect().catch(() => {});
    this.sub.connect().catch(() => {});
    this.timer = setInterval(() => this.scanNow(), this.opts.freqS * 1000);
  }

  scanNow(): void {
    if (this.reading) {
      this.rereadAfter = true;
      return;
    }
    this.reading = true;
    this.read()
      .catch((err: Error) => this.noteReadError(err))
      .finally(() => {
        this.reading = false;
        if (this.rereadAfter) {
          this.rereadAfter = false;
          this.scanNow();
        }
      });
  }

  async stop(): Promise<void> {
    this.onSnapshot = null;
    if (this.timer) clearInterval(this.timer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.timer = this.pollTimer = null;
    this.client.disconnect();
    this.sub.disconnect();
  }

  private async onReady(): Promise<void> {
    if (this.downSince !== null) this.opts.log.info(`redis ${this.src.display} is reachable again`);
    this.downSince = null;
    await this.enableNotifications();
    this.scanNow();
  }

  /** Ask the server for hash keyspace events (`K` + `h`), keeping whatever it already emits. */
  private async enableNotifications(): Promise<void> {
    try {
      const reply = (await this.client.config('GET', 'notify-keyspace-events')) as string[];
      const flags = reply[1] ?? '';
      const hasHash = flags.includes('h') || flags.includes('A');
      if (!flags.includes('K') || !hasHash)
        await this.client.config(
          'SET',
          'notify-keyspace-events',
          `${flags}${flags.includes('K') ? '' : 'K'}${hasHash ? '' : 'h'}`,
        );
      if (this.pollTimer) clearInterval(this.pollTimer);
      this.pollTimer = null;
    } catch (err) {
      if (!this.pollTimer)
        this.opts.log.warn(
          `redis ${this.src.display}: cannot enable keyspace notifications (${(err as Error).message}); reading the hash every ${POLL_MS / 1000} s`,
        );
      if (!this.pollTimer && this.onSnapshot) this.pollTimer = setInterval(() => this.scanNow(), POLL_MS);
    }
  }

  private async read(): Promise<void> {
    if (this.client.status !== 'ready' || !this.onSnapshot) return;
    const [[infoErr, info], [hashErr, hash]] = (await this.client
      .pipeline()
      .info('server')
      .hgetall(this.src.key)
      .exec()) as [[Error | null, string], [Error | null, Record<string, string>]];
    if (infoErr) throw infoErr;
    if (hashErr) throw hashErr;
    this.warned.delete('read');
    const runId = /run_id:(\w+)/.exec(info)?.[1] ?? null;
    const restarted = this.runId !== null && runId !== this.runId;
    if (restarted) this.seen.clear();
    this.runId = runId;
    const snap = new Map<string, VassalSpec>();
    for (const [name, text] of Object.entries(hash)) {
      if (!VALID_NAME.test(name)) {
        this.warnOnce(
          `name ${name}`,
          `redis field '${name}' is not a valid vassal name (letters, digits, . _ -); ignored`,
        );
        continue;
      }
      this.seen.add(name);
      snap.set(name, this.specOf(name, text));
    }
    for (const [name, spec] of this.last) {
      if (snap.has(name) || this.seen.has(name)) continue;
      snap.set(name, spec);
      this.warnOnce(
        `kept ${name} ${runId}`,
        `vassal ${name} is missing from ${this.src.display} after a Redis restart (new run_id); keeping it running until its field is written again`,
      );
    }
    this.last = snap;
    this.onSnapshot?.(snap);
  }

  private specOf(name: string, text: string): VassalSpec {
    const version = createHash('sha1').update(text).digest('hex');
    let seen = this.firstSeen.get(name);
    if (!seen || seen.version !== version) {
      seen = { version, atS: Math.floor(Date.now() / 1000) };
      this.firstSeen.set(name, seen);
    }
    return {
      name,
      monitor: this.src.display,
      version,
      mtimeS: seen.atS,
      cwd: join(resolve(this.opts.cwd, this.opts.redisDir), name),
      source: { kind: 'inline', text },
      owner: null,
    };
  }

  private noteDown(why: string): void {
    if (this.downSince !== null || !this.onSnapshot) return;
    this.downSince = why;
    this.opts.log.error(
      `redis ${this.src.display} is unreachable (${why}); keeping the running vassals, reconnecting with backoff (at most ${MAX_BACKOFF_MS / 1000} s)`,
    );
  }

  private noteReadError(err: Error): void {
    if (this.client.status !== 'ready') return; // an outage, reported by noteDown
    this.warnOnce(
      'read',
      `redis ${this.src.display}: cannot read ${this.src.key}: ${err.message}; keeping the running vassals`,
    );
  }

  private warnOnce(key: string, message: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.log.warn(message);
  }
}
