import { ConfigError, type ConfigOrigin } from '../../core/errors.js';
import {
  type Balancing,
  DEFAULT_POOL,
  type PoolSettings,
  UpstreamNode,
  UpstreamPool,
  type UpstreamProtocol,
} from './pool.js';

/**
 * The pools proxy actions send to: pools declared with the `upstream` option (a tsgi extension:
 * `upstream = NAME ADDR[*WEIGHT] ... [algo=wrr|lrc|wlrc] [gracetime=S] [retries=N] [timeout=S]`, nodes written
 * `http://host:port`, `uwsgi://host:port` or plain `host:port` for the action's own protocol), and a
 * one-node pool per address written directly in an action (`http:127.0.0.1:8080`), kept so that its
 * failure marking survives between requests. Addresses built from request data could be anything,
 * so at most {@link IMPLICIT_POOLS} implicit pools are kept (oldest dropped).
 */

const IMPLICIT_POOLS = 1024;
const PROTOCOLS: ReadonlyMap<string, UpstreamProtocol> = new Map([
  ['http', 'http'],
  ['uwsgi', 'uwsgi'],
  ['fastcgi', 'fastcgi'],
  ['fcgi', 'fastcgi'],
]);

/** A node written `proto://address`, or a bare address spoken to with `fallback`. */
export function parseNode(
  text: string,
  fallback: UpstreamProtocol,
): { protocol: UpstreamProtocol; address: string } | null {
  const m = /^([a-z]+):\/\/(.*)$/.exec(text);
  if (!m) return text ? { protocol: fallback, address: text } : null;
  const protocol = PROTOCOLS.get(m[1]!);
  return protocol && m[2] ? { protocol, address: m[2] } : null;
}

export class Upstreams {
  private readonly named = new Map<string, UpstreamPool>();
  /** Declared protocol of each node of a named pool: `http:pool` needs http nodes... unless written. */
  private readonly implicit = new Map<string, UpstreamPool>();

  constructor(private readonly defaults: PoolSettings = DEFAULT_POOL) {}

  /**
   * Declare a pool from an `upstream` line.
   * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE naming the wrong part.
   */
  declare(line: string, origin: ConfigOrigin | null): UpstreamPool {
    const bad = (why: string) => new ConfigError('TSGI_ERR_CONFIG_VALUE', why, origin, 'upstream');
    const [name, ...parts] = line.trim().split(/\s+/);
    if (!name || !/^[A-Za-z_][\w.-]*$/.test(name)) throw bad(`a pool needs a name first, got '${line}'`);
    if (this.named.has(name)) throw bad(`pool '${name}' is declared twice`);
    let settings: PoolSettings = this.defaults;
    const nodes: UpstreamNode[] = [];
    for (const p of parts) {
      const eq = p.indexOf('=');
      if (eq > 0 && !p.includes('://')) {
        settings = poolSetting(settings, p.slice(0, eq), p.slice(eq + 1), bad);
        continue;
      }
      const star = p.lastIndexOf('*');
      const weight = star === -1 ? 1 : Number(p.slice(star + 1));
      if (!Number.isInteger(weight) || weight < 1) throw bad(`bad weight in '${p}'`);
      const node = parseNode(star === -1 ? p : p.slice(0, star), 'http');
      if (!node) throw bad(`bad node '${p}' (expected [http|uwsgi|fastcgi://]host:port[*weight])`);
      nodes.push(new UpstreamNode(node.address, node.protocol, weight));
    }
    if (nodes.length === 0) throw bad(`pool '${name}' has no node`);
    const pool = new UpstreamPool(name, settings);
    for (const n of nodes) pool.add(n);
    this.named.set(name, pool);
    return pool;
  }

  /** A pool declared with `upstream`, by name. */
  pool(name: string): UpstreamPool | undefined {
    return this.named.get(name);
  }

  /** The pool an action names: a declared pool, else the one-node pool of that address. */
  resolve(target: string, protocol: UpstreamProtocol): UpstreamPool {
    const named = this.named.get(target);
    if (named) return named;
    const key = `${protocol} ${target}`;
    let pool = this.implicit.get(key);
    if (!pool) {
      const node = parseNode(target, protocol) ?? { protocol, address: target };
      pool = new UpstreamPool(target, { ...this.defaults, retries: 0 });
      pool.add(new UpstreamNode(node.address, node.protocol));
      if (this.implicit.size >= IMPLICIT_POOLS) this.implicit.delete(this.implicit.keys().next().value!);
      this.implicit.set(key, pool);
    }
    return pool;
  }
}

function poolSetting(s: PoolSettings, key: string, value: string, bad: (why: string) => Error): PoolSettings {
  const n = Number(value);
  switch (key) {
    case 'algo':
      if (!['wrr', 'lrc', 'wlrc'].includes(value)) throw bad(`algo must be wrr, lrc or wlrc, got '${value}'`);
      return { ...s, balancing: value as Balancing };
    case 'gracetime':
      if (!Number.isInteger(n) || n < 0) throw bad(`gracetime must be whole seconds, got '${value}'`);
      return { ...s, gracetimeMs: n * 1000 };
    case 'retries':
      if (!Number.isInteger(n) || n < 0) throw bad(`retries must be a whole number, got '${value}'`);
      return { ...s, retries: n };
    case 'timeout':
      if (!Number.isInteger(n) || n < 1)
        throw bad(`timeout must be whole seconds (at least 1), got '${value}'`);
      return { ...s, timeoutMs: n * 1000 };
    default:
      throw bad(`unknown pool setting '${key}' (known: algo, gracetime, retries, timeout)`);
  }
}
