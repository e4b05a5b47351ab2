import type { RouteContext } from '../rules/context.js';
import { BREAK, CONTINUE, type Verdict } from '../rules/rule.js';
import { Template } from '../rules/template.js';
import type { UpstreamProtocol } from '../upstream/pool.js';
import { type ProxyOptions, proxyRequest } from '../upstream/proxy.js';
import { type ActionEnv, type ActionFactory, ActionSyntaxError } from './action.js';

/**
 * The proxy actions (uWSGI's router_http, router_uwsgi, router_fcgi): `http:ADDR[,HOST[,URI]]`,
 * `uwsgi:ADDR,MODIFIER1,MODIFIER2[,APPID]` and `fcgi:ADDR` (`fastcgi` is an alias). ADDR may name a
 * pool declared with `upstream` (several nodes, balancing, failover) or be an address. The request is
 * answered by the upstream; routing ends (BREAK).
 */

function forward(
  ctx: RouteContext,
  env: ActionEnv,
  protocol: UpstreamProtocol,
  target: string,
  opts: ProxyOptions,
): Verdict {
  const { services } = env;
  ctx.answered = true;
  const pool = services.upstreams.resolve(target, protocol);
  void proxyRequest(pool, services.backends, ctx.req, ctx.sink, { ...services.timeouts, ...opts }, ctx.log);
  return BREAK;
}

/** `http:ADDR[,HOST[,URI]]` (`proxyhttp` is the same to tsgi: there is no offloading to skip). */
const httpAction: ActionFactory = (args, env) => {
  const [addr = '', host, uri] = args.split(',', 3);
  if (!addr) throw new ActionSyntaxError(`http: an address is required, got '${args}'`);
  const a = Template.of(addr);
  const h = host ? Template.of(host) : null;
  const u = uri ? Template.of(uri) : null;
  return {
    name: 'http',
    run: (ctx) => forward(ctx, env, 'http', a.expand(ctx), { host: h?.expand(ctx), uri: u?.expand(ctx) }),
  };
};

/** `uwsgi:ADDR,MOD1,MOD2[,APPID]`; with an empty ADDR only the modifiers (and app id) change: CONTINUE. */
const uwsgiAction: ActionFactory = (args, env) => {
  const parts = args.split(',');
  if (parts.length < 3)
    throw new ActionSyntaxError(`uwsgi: expected ADDR,MODIFIER1,MODIFIER2[,APPID], got '${args}'`);
  const [addr = '', m1 = '', m2 = ''] = parts;
  const appid = parts.slice(3).join(',');
  const modifier1 = Number.parseInt(m1, 10) || 0;
  const modifier2 = Number.parseInt(m2, 10) || 0;
  const a = Template.of(addr);
  return {
    name: 'uwsgi',
    run(ctx) {
      if (appid) ctx.req.vars.set('UWSGI_APPID', appid);
      if (addr === '') return CONTINUE;
      return forward(ctx, env, 'uwsgi', a.expand(ctx), { modifier1, modifier2 });
    },
  };
};

/** `fcgi:ADDR`: the request's vars as FastCGI params (set SCRIPT_FILENAME with `addvar` first). */
const fcgiAction: ActionFactory = (args, env) => {
  if (!args) throw new ActionSyntaxError('fcgi: an address is required');
  const a = Template.of(args);
  return { name: 'fcgi', run: (ctx) => forward(ctx, env, 'fastcgi', a.expand(ctx), {}) };
};

export const PROXY_ACTIONS: ReadonlyMap<string, ActionFactory> = new Map([
  ['http', httpAction],
  ['proxyhttp', httpAction],
  ['uwsgi', uwsgiAction],
  ['proxyuwsgi', uwsgiAction],
  ['fcgi', fcgiAction],
  ['fastcgi', fcgiAction],
]);
