import { coreOptions } from '../core/config/core-options.js';
import type { ConfigEntry } from '../core/config/types.js';
import type { PluginDescriptor } from '../core/plugin/types.js';
import { ActionSyntaxError } from './actions/action.js';
import { AUTH_ACTIONS } from './actions/auth.js';
import { BASIC_ACTIONS, UNSUPPORTED_ACTIONS } from './actions/basic.js';
import { FILE_ACTIONS } from './actions/files.js';
import { PROXY_ACTIONS } from './actions/proxy.js';
import { REDIS_ACTIONS } from './actions/redis.js';
import { InternalRouter } from './internal.js';
import { routingOptions } from './options.js';
import type { Shaping } from './rules/context.js';
import { responseRunner } from './rules/engine.js';
import { parseRules, type RuleSet } from './rules/parse.js';
import { RouterServices } from './services.js';
import { StaticMaps } from './static/maps.js';
import { backendsFrom } from './upstream/backends.js';

/** Every action of the request chain. */
const REQUEST_ACTIONS = new Map([
  ...BASIC_ACTIONS,
  ...AUTH_ACTIONS,
  ...FILE_ACTIONS,
  ...PROXY_ACTIONS,
  ...REDIS_ACTIONS,
]);

/** Actions allowed on the response head (synchronous, no answer of their own). */
const RESPONSE_ACTIONS = new Map(
  ['continue', 'last', 'goto', 'log', 'addheader', 'delheader', 'remheader', 'addvar', 'donotlog'].map(
    (n) => [n, BASIC_ACTIONS.get(n)!] as const,
  ),
);
RESPONSE_ACTIONS.set('break', (args, env) => {
  if (args.length >= 3)
    throw new ActionSyntaxError('a response rule cannot answer: use break without a status');
  return BASIC_ACTIONS.get('break')!(args, env);
});

/** Actions that change response headers: a request chain using one needs the response shaped. */
const HEADER_ACTIONS = new Set(['addheader', 'delheader', 'remheader']);

/**
 * Internal routing (uWSGI's `route*` options with its router_rewrite, router_redirect,
 * router_basicauth, router_static, router_http, router_uwsgi, router_fcgi and router_redis plugins),
 * plain static files (`static-map`, `check-static`) and response header options, as one request hook.
 * Creates nothing when the config has none of them, so an instance without rules pays nothing.
 */
export const routerPlugin: PluginDescriptor<typeof routingOptions> = {
  id: 'router.internal',
  name: 'router',
  aliases: [
    'router_rewrite',
    'router_redirect',
    'router_basicauth',
    'router_static',
    'router_http',
    'router_uwsgi',
    'router_fcgi',
    'router_redis',
  ],
  kind: 'router',
  summary: 'internal routing rules, static files, proxy actions',
  options: routingOptions,
  create({ options, config, log }) {
    const core = config.values(coreOptions);
    const services = new RouterServices(
      {
        index: options['static-index'],
        safe: options['static-safe'],
        skipExt: options['static-skip-ext'],
        honourRange: options['honour-range'],
      },
      { connectTimeoutMs: core['socket-timeout'] * 1000, readTimeoutMs: core['socket-timeout'] * 1000 },
      log,
    );
    const upstreamOrigins = config.origins('upstream');
    for (const [i, line] of options.upstream.entries())
      services.upstreams.declare(line, upstreamOrigins[i] ?? null);
    const rules = parseRules(
      config.entries as readonly ConfigEntry[],
      { request: REQUEST_ACTIONS, response: RESPONSE_ACTIONS },
      UNSUPPORTED_ACTIONS,
      services,
      log,
    );
    const statics = new StaticMaps(services.staticSettings, log);
    const addStatic = (kind: 'check-static' | 'static-map' | 'static-map2') =>
      options[kind].forEach((v, i) => {
        statics.add(kind, v, config.origins(kind)[i] ?? null);
      });
    addStatic('check-static');
    addStatic('static-map');
    addStatic('static-map2');
    if (
      rules.request.length === 0 &&
      rules.response.length === 0 &&
      statics.size === 0 &&
      !headerOptions(options)
    )
      return { provides: {}, cleanup: () => services.close() };
    const hook = new InternalRouter(rules, shapingOf(rules, options), statics, services.staticSettings, log);
    return {
      provides: { 'request-hook': hook },
      async provision(ctx) {
        services.backends = backendsFrom(ctx.registry);
        await statics.resolveAll();
      },
      cleanup: () => services.close(),
    };
  },
};

function headerOptions(o: {
  readonly 'add-header': readonly string[];
  readonly 'del-header': readonly string[];
}): boolean {
  return o['add-header'].length > 0 || o['del-header'].length > 0;
}

/** The response settings, or null when no response is ever changed. */
function shapingOf(
  rules: RuleSet,
  o: { readonly 'add-header': readonly string[]; readonly 'del-header': readonly string[] },
): Shaping | null {
  const headerRules = rules.request.some((r) => r.action && HEADER_ACTIONS.has(r.action.name));
  if (!headerRules && rules.response.length === 0 && !headerOptions(o)) return null;
  return {
    addHeaders: o['add-header'],
    removeHeaders: o['del-header'].map((h) => h.toLowerCase()),
    responseRules: rules.response,
    runResponse: responseRunner(rules.response),
  };
}
