import { option } from '../../core/config/option.js';

/**
 * Options of router mode (uWSGI's http router and fastrouter, their subscription servers) and of the
 * subscription table, with uWSGI's names and defaults.
 */
export const frontOptions = {
  'http-to': option.strings({
    help: 'send requests that come in over HTTP to this node (uwsgi protocol; `http://host:port` for an HTTP node); repeat for round robin',
  }),
  'http-subscription-server': option.strings({
    help: 'receive uWSGI subscription packets (UDP) on this address; HTTP requests go to the nodes subscribed for their Host',
  }),
  'http-subscription-fallback-key': option.string({ help: 'subscription key used when a Host has no node' }),
  'http-fallback': option.strings({ help: 'node tried when the chosen nodes cannot be reached' }),
  'http-gracetime': option.seconds({
    help: 'how long a failed http-to node is skipped before it is tried again',
    default: 30,
  }),
  'http-connect-timeout': option.seconds({
    help: 'give up connecting to a node after this long (504)',
    default: 60,
    min: 1,
  }),
  'http-modifier1': option.int({
    help: "modifier1 of the uwsgi packets sent to nodes (default: the node's)",
    min: 0,
    max: 255,
  }),
  'http-modifier2': option.int({
    help: "modifier2 of the uwsgi packets sent to nodes (default: the node's)",
    min: 0,
    max: 255,
  }),
  'http-var': option.strings({ help: 'add a var (`KEY=VALUE`) to every request sent to a node' }),
  fastrouter: option.strings({
    help: 'a uwsgi protocol listener whose requests go to the fastrouter nodes (by UWSGI_FASTROUTER_KEY, Host or SERVER_NAME)',
  }),
  'fastrouter-to': option.strings({
    help: 'send fastrouter requests to this uwsgi node; repeat for round robin',
  }),
  'fastrouter-subscription-server': option.strings({
    help: 'receive uWSGI subscription packets (UDP) on this address for the fastrouter',
  }),
  'fastrouter-subscription-fallback-key': option.string({
    help: "subscription key used when a request's key has no node",
  }),
  'fastrouter-fallback': option.strings({ help: 'node tried when the chosen nodes cannot be reached' }),
  'fastrouter-gracetime': option.seconds({
    help: 'how long a failed fastrouter-to node is skipped before it is tried again',
    default: 30,
  }),
  'fastrouter-timeout': option.seconds({
    help: 'connect and read timeout of fastrouter exchanges with nodes',
    default: 60,
    min: 1,
  }),
  'subscription-algo': option.enumOf(['wrr', 'lrc', 'wlrc'] as const, {
    help: 'how subscribed nodes share requests: weighted round robin, least requests, weighted least requests',
  }),
  'subscription-tolerance': option.seconds({
    help: 'a subscribed node that has not announced itself for this long is dropped',
    default: 17,
    min: 1,
  }),
  'subscription-dotsplit': option.bool({
    help: 'a key with no node falls back to its parent domain (a.example.com → example.com)',
  }),
  'subscription-redis': option.string({
    help: 'share the subscription table through Redis with other fronts: `redis://host[:port][/db][?key=PREFIX]`',
    origin: 'extension',
  }),
} as const;
