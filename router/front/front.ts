import type { Socket } from 'node:net';
import type { Logger } from '../../core/log/logger.js';
import type {
  EdgeProtocol,
  HookVerdict,
  ListenerInfo,
  ListenSpec,
  RequestHandler,
  RequestHook,
} from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import { type ResponseSink, sendError } from '../../core/request/sink.js';
import type { SubscriptionTable } from '../subscription/table.js';
import type { UpstreamPool } from '../upstream/pool.js';
import { type Backends, type ProxyOptions, proxyRequest } from '../upstream/proxy.js';

/**
 * Router mode (uWSGI's corerouters: the `http` router and the `fastrouter`): requests are not served
 * by an app but sent to nodes chosen by key (the virtual host) from a subscription table, or to the
 * static `-to` nodes in turn. Nodes speak the uwsgi protocol (the `-to` nodes may also be written
 * `http://host:port`, a tsgi extension).
 */

/** One router: how it finds the nodes for a request. */
export interface FrontSide {
  /** `http` or `fastrouter`, for logs. */
  readonly name: string;
  /** The key a request is routed by. */
  readonly key: (req: TsgiRequest) => string;
  /**
   * Subscribed nodes by key, when a subscription server is configured (it wins over `-to`); set at
   * provision (the table outlives reloads).
   */
  table: SubscriptionTable | null;
  /** Whether a subscription server is configured (the table is then set once provisioned). */
  readonly subscriptions: boolean;
  /** `<router>-to` nodes, used when there is no subscription server. */
  readonly staticNodes: UpstreamPool | null;
  /** `<router>-fallback` nodes, tried when the chosen ones all fail to connect. */
  readonly fallback: UpstreamPool | null;
  /** `<router>-subscription-fallback-key`: the key used when the request's has no node. */
  readonly fallbackKey: string | null;
  /** `subscription-dotsplit`: `a.b.example.com` falls back to `b.example.com`, then `example.com`... */
  readonly dotsplit: boolean;
  /** Vars added to every request (`http-var`). */
  readonly vars: ReadonlyArray<readonly [string, string]>;
  /** Modifiers forced on every request (`<router>-modifier1/2`), null to keep the node's. */
  readonly modifier1: number | null;
  readonly modifier2: number | null;
  readonly options: ProxyOptions;
}

/** The HTTP router's key: the Host header as sent. */
export const httpKey = (req: TsgiRequest): string => req.vars.get('HTTP_HOST') ?? '';

/** The fastrouter's key: UWSGI_FASTROUTER_KEY, else HTTP_HOST, else SERVER_NAME (uWSGI's order). */
export const fastrouterKey = (req: TsgiRequest): string =>
  req.vars.get('UWSGI_FASTROUTER_KEY') || req.vars.get('HTTP_HOST') || req.vars.get('SERVER_NAME') || '';

/** Find the pool for a request; null (and the request answered 502) when there is none. */
function poolFor(side: FrontSide, req: TsgiRequest, sink: ResponseSink): UpstreamPool | null {
  if (!side.subscriptions || !side.table) {
    if (side.staticNodes) return side.staticNodes;
    if (side.fallback) return side.fallback;
    sendError(sink, 502, `the ${side.name} router has no nodes`);
    return null;
  }
  const key = side.key(req);
  let pool = side.table.lookup(key);
  if (!pool && side.dotsplit)
    for (let k = key; !pool && k.includes('.'); ) {
      k = k.slice(k.indexOf('.') + 1);
      pool = side.table.lookup(k);
    }
  if (!pool && side.fallbackKey) pool = side.table.lookup(side.fallbackKey);
  if (!pool && side.fallback) pool = side.fallback;
  if (!pool) {
    sendError(sink, 502, `no node is subscribed for '${key}'`);
    return null;
  }
  return pool;
}

/** Send a request through one router side. */
export function routeFront(
  side: FrontSide,
  backends: Backends,
  req: TsgiRequest,
  sink: ResponseSink,
  log: Logger,
): void {
  const pool = poolFor(side, req, sink);
  if (!pool) return;
  for (const [k, v] of side.vars) req.vars.set(k, v);
  const opts: ProxyOptions = {
    ...side.options,
    ...(side.modifier1 !== null ? { modifier1: side.modifier1 } : {}),
    ...(side.modifier2 !== null ? { modifier2: side.modifier2 } : {}),
  };
  void proxyRequest(pool, backends, req, sink, opts, log, side.fallback);
}

/**
 * The HTTP router as a request hook: every request that came in over HTTP goes to its nodes (an
 * instance in router mode has no app; internal routing rules, if any, ran before).
 */
export class FrontRouter implements RequestHook {
  readonly answersAll = true;

  constructor(
    private readonly http: FrontSide | null,
    private readonly backends: () => Backends,
    private readonly log: Logger,
  ) {}

  onRequest(req: TsgiRequest, sink: ResponseSink): HookVerdict {
    if (!this.http || req.proto !== 'http') return 'continue';
    routeFront(this.http, this.backends(), req, sink, this.log);
    return 'handled';
  }
}

/**
 * The fastrouter's listeners (`fastrouter = ADDR`): the uwsgi protocol plugin parses the connections
 * (its `uwsgi-server` contract, bound at provision) and every request goes straight to the
 * fastrouter's nodes, without internal routing, as in uWSGI.
 */
export class FastrouterEdge implements EdgeProtocol {
  private inner: EdgeProtocol | null = null;

  constructor(
    private readonly specs: ListenSpec[],
    private readonly handler: RequestHandler,
  ) {}

  /** Attach the uwsgi edge that parses the connections. */
  bind(inner: EdgeProtocol): void {
    this.inner = inner;
  }

  listeners(): ListenSpec[] {
    return this.specs;
  }

  accept(socket: Socket, listener: ListenerInfo, _handle: RequestHandler): void {
    if (!this.inner) {
      socket.destroy();
      return;
    }
    this.inner.accept(socket, listener, this.handler);
  }

  drain(): void {
    this.inner?.drain();
  }

  openConnections(): number {
    return this.inner?.openConnections() ?? 0;
  }

  destroyAll(): void {
    this.inner?.destroyAll();
  }
}
