import type { OptionValues } from '../../core/config/option.js';
import type { InstanceConfig } from '../../core/config/resolve.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { parseAddress } from '../../core/net/address.js';
import type { ListenSpec, PluginDescriptor, PluginInstance } from '../../core/plugin/types.js';
import { parseRedisTarget, RedisSubscriptionTable } from '../subscription/redis-table.js';
import { SubscriptionServer } from '../subscription/server.js';
import { type SharedSubscription, sharedSubscription } from '../subscription/shared.js';
import { backendsFrom } from '../upstream/backends.js';
import { UpstreamNode, UpstreamPool } from '../upstream/pool.js';
import type { Backends } from '../upstream/proxy.js';
import { parseNode } from '../upstream/upstreams.js';
import { FastrouterEdge, FrontRouter, type FrontSide, fastrouterKey, httpKey, routeFront } from './front.js';
import { frontOptions } from './options.js';

type FrontOptions = OptionValues<typeof frontOptions>;

/** How often every front re-reads a shared (Redis) subscription table, ms. */
const REDIS_POLL_MS = 1000;

/**
 * Router mode: the HTTP router (`http-to`, `http-subscription-server`) and the fastrouter
 * (`fastrouter`, `fastrouter-to`, `fastrouter-subscription-server`), with subscription tables local
 * or shared through Redis. An instance with a router configured serves without an app.
 */
export const frontPlugin: PluginDescriptor<typeof frontOptions> = {
  id: 'router.front',
  name: 'corerouter',
  aliases: ['fastrouter', 'httprouter'],
  kind: 'router',
  summary: 'router mode: HTTP router and fastrouter, static nodes and subscriptions (UDP, Redis)',
  options: frontOptions,
  create({ options, config, log }) {
    const http = hasHttpRouter(options);
    const fast =
      options.fastrouter.length > 0 ||
      options['fastrouter-to'].length > 0 ||
      options['fastrouter-subscription-server'].length > 0;
    if (!http && !fast) return { provides: {} };
    if (fast && options.fastrouter.length === 0)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_ROUTER',
        'fastrouter nodes are given but no fastrouter listener (fastrouter = ADDR)',
        config.origin('fastrouter-to') ?? config.origin('fastrouter-subscription-server'),
        'fastrouter',
      );
    if (
      options.fastrouter.length > 0 &&
      options['fastrouter-to'].length === 0 &&
      options['fastrouter-subscription-server'].length === 0
    )
      throw new ConfigError(
        'TSGI_ERR_CONFIG_ROUTER',
        'a fastrouter needs fastrouter-to or fastrouter-subscription-server',
        config.origin('fastrouter'),
        'fastrouter',
      );
    return buildFront(options, config, log, http, fast);
  },
};

function hasHttpRouter(o: FrontOptions): boolean {
  return o['http-to'].length > 0 || o['http-subscription-server'].length > 0;
}

function buildFront(
  o: FrontOptions,
  config: InstanceConfig,
  log: Logger,
  http: boolean,
  fast: boolean,
): PluginInstance {
  const tableSettings = {
    toleranceMs: o['subscription-tolerance'] * 1000,
    balancing: o['subscription-algo'],
    retries: 3,
  };
  /** Subscription servers to take (or share) at provision, per side. */
  const wanted: Array<{ side: FrontSide; name: 'http' | 'fastrouter'; addresses: readonly string[] }> = [];
  const held: SharedSubscription[] = [];
  const redisTables: RedisSubscriptionTable[] = [];
  const redisTarget = o['subscription-redis']
    ? parseRedisTarget(o['subscription-redis'], config.origin('subscription-redis'))
    : null;
  let backends: Backends = {};

  const side = (name: 'http' | 'fastrouter'): FrontSide => {
    const ssName = `${name}-subscription-server` as const;
    const ssAddresses = o[ssName];
    ssAddresses.forEach((addr, i) => {
      SubscriptionServer.check(addr, ssName, config.origins(ssName)[i] ?? null);
    });
    const toName = `${name}-to` as const;
    const gracetimeMs = o[`${name}-gracetime`] * 1000;
    const staticNodes = nodesPool(`${name}-to`, o[toName], config, toName, {
      balancing: 'wrr',
      gracetimeMs,
      retries: 3,
    });
    const fallback = nodesPool(`${name}-fallback`, o[`${name}-fallback`], config, `${name}-fallback`, {
      balancing: 'wrr',
      gracetimeMs,
      retries: 0,
    });
    const timeoutMs = name === 'http' ? o['http-connect-timeout'] * 1000 : o['fastrouter-timeout'] * 1000;
    const built: FrontSide = {
      name,
      key: name === 'http' ? httpKey : fastrouterKey,
      table: null,
      subscriptions: ssAddresses.length > 0,
      staticNodes,
      fallback,
      fallbackKey: o[`${name}-subscription-fallback-key`],
      dotsplit: o['subscription-dotsplit'],
      vars: name === 'http' ? httpVars(o['http-var'], config) : [],
      modifier1: name === 'http' && config.has('http-modifier1') ? o['http-modifier1'] : null,
      modifier2: name === 'http' && config.has('http-modifier2') ? o['http-modifier2'] : null,
      options:
        name === 'http'
          ? { connectTimeoutMs: timeoutMs }
          : { connectTimeoutMs: timeoutMs, readTimeoutMs: timeoutMs },
    };
    if (built.subscriptions) wanted.push({ side: built, name, addresses: ssAddresses });
    return built;
  };

  const httpSide = http ? side('http') : null;
  const fastSide = fast ? side('fastrouter') : null;
  const provides: PluginInstance['provides'] = {
    'request-hook': new FrontRouter(httpSide, () => backends, log),
  };
  let edge: FastrouterEdge | null = null;
  if (fastSide) {
    const specs: ListenSpec[] = o.fastrouter.map((address, i) => ({
      proto: 'fastrouter',
      address,
      origin: config.origins('fastrouter')[i] ?? null,
    }));
    edge = new FastrouterEdge(specs, (req, sink) => routeFront(fastSide, backends, req, sink, log));
    provides.edge = edge;
  }
  return {
    provides,
    async provision(ctx) {
      backends = backendsFrom(ctx.registry);
      if (edge) {
        const uwsgi = ctx.registry.all('uwsgi-server')[0]?.contract;
        if (!uwsgi)
          throw new ConfigError(
            'TSGI_ERR_CONFIG_ROUTER',
            'the fastrouter needs the uwsgi protocol plugin',
            null,
            'fastrouter',
          );
        edge.bind(uwsgi.edge(edge.listeners()));
      }
      for (const w of wanted) {
        const redis: { table: RedisSubscriptionTable | null } = { table: null };
        const sub = await sharedSubscription(
          w.name,
          w.addresses,
          tableSettings,
          (table, p) => {
            if (p.kind === 'subscribe') {
              table.subscribe(p.subscription);
              redis.table?.announce(p.subscription);
            } else {
              table.unsubscribe(p.subscription.key, p.subscription.address);
              redis.table?.withdraw(p.subscription.key, p.subscription.address);
            }
          },
          log,
        );
        held.push(sub);
        w.side.table = sub.table;
        if (redisTarget) {
          redis.table = new RedisSubscriptionTable(
            redisTarget,
            sub.table,
            { toleranceMs: tableSettings.toleranceMs, pollMs: REDIS_POLL_MS },
            log,
          );
          redisTables.push(redis.table);
          await redis.table.start();
        }
      }
    },
    async cleanup() {
      for (const h of held) h.release();
      await Promise.all(redisTables.map((r) => r.stop()));
    },
  };
}

/** A pool of `-to` (or `-fallback`) nodes; uwsgi unless written `http://`. Null when none. */
function nodesPool(
  name: string,
  addresses: readonly string[],
  config: InstanceConfig,
  option: string,
  settings: ConstructorParameters<typeof UpstreamPool>[1],
): UpstreamPool | null {
  if (addresses.length === 0) return null;
  const pool = new UpstreamPool(name, settings);
  addresses.forEach((a, i) => {
    const node = parseNode(a, 'uwsgi');
    if (!node)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_ADDRESS',
        `bad node '${a}'`,
        config.origins(option)[i] ?? null,
        option,
      );
    parseAddress(node.address, option, config.origins(option)[i] ?? null);
    pool.add(new UpstreamNode(node.address, node.protocol));
  });
  return pool;
}

function httpVars(lines: readonly string[], config: InstanceConfig): Array<[string, string]> {
  return lines.map((l, i) => {
    const eq = l.indexOf('=');
    if (eq <= 0)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_VALUE',
        `expected KEY=VALUE, got '${l}'`,
        config.origins('http-var')[i] ?? null,
        'http-var',
      );
    return [l.slice(0, eq), l.slice(eq + 1)];
  });
}
