/**
 * Upstream pools: the nodes a proxy action or the front router can send a request to, and how one is
 * chosen. Algorithms are uWSGI's subscription ones (core/subscription.c): `wrr` weighted round robin
 * (the default; with equal weights it is the plain round robin of uWSGI's static `-to` nodes), `lrc`
 * least reference count (fewest requests in flight) and `wlrc` (in flight / weight).
 *
 * A node that fails to connect is marked failed and skipped for `gracetimeMs` (uWSGI's
 * `<router>-gracetime`), then tried again (passive recovery); a success clears the mark.
 */

/** How a pool picks its next node. */
export type Balancing = 'wrr' | 'lrc' | 'wlrc';

/** The protocol spoken to a node. */
export type UpstreamProtocol = 'http' | 'uwsgi' | 'fastcgi';

/** One upstream server. */
export class UpstreamNode {
  /** Requests in flight to it (uWSGI's `reference`). */
  inflight = 0;
  /** Requests sent to it. */
  requests = 0;
  /** Failures (connect errors, timeouts) seen. */
  failures = 0;
  /** When it was last marked failed, ms (performance.now()); -Infinity when healthy. */
  failedAtMs = Number.NEGATIVE_INFINITY;
  /** Remaining turns in the current weighted round (uWSGI's `wrr`). */
  turns = 0;

  constructor(
    /** `host:port` or a unix socket path. */
    readonly address: string,
    readonly protocol: UpstreamProtocol,
    /** Relative share of requests, at least 1. */
    public weight = 1,
    /** uwsgi packet modifiers for this node. */
    public modifier1 = 0,
    public modifier2 = 0,
  ) {}
}

/** Settings of a pool, ms. */
export interface PoolSettings {
  readonly balancing: Balancing;
  /** How long a failed node is skipped, ms. */
  readonly gracetimeMs: number;
  /** How many other nodes to try after a connect failure (uWSGI's `<router>-max-retries`, default 3). */
  readonly retries: number;
  /** Connect and read timeout of this pool's exchanges, ms; absent: the caller's. */
  readonly timeoutMs?: number;
}

export const DEFAULT_POOL: PoolSettings = { balancing: 'wrr', gracetimeMs: 30_000, retries: 3 };

export class UpstreamPool {
  readonly nodes: UpstreamNode[] = [];

  constructor(
    readonly name: string,
    /** Replaced (not mutated) when a reload changes a shared pool's settings. */
    public settings: PoolSettings = DEFAULT_POOL,
  ) {}

  add(node: UpstreamNode): UpstreamNode {
    this.nodes.push(node);
    return node;
  }

  remove(node: UpstreamNode): void {
    const i = this.nodes.indexOf(node);
    if (i !== -1) this.nodes.splice(i, 1);
  }

  /** The node with this address, if any. */
  find(address: string): UpstreamNode | undefined {
    return this.nodes.find((n) => n.address === address);
  }

  /**
   * Choose a node for the next request, skipping `tried` ones and those failed within the gracetime.
   * When every untried node is marked failed, the one that failed longest ago is tried anyway (a
   * pool never refuses outright while it has nodes: they may have come back).
   */
  pick(tried: ReadonlySet<UpstreamNode>, nowMs = performance.now()): UpstreamNode | null {
    const live = this.nodes.filter((n) => !tried.has(n) && nowMs - n.failedAtMs >= this.settings.gracetimeMs);
    if (live.length === 0) {
      const rest = this.nodes.filter((n) => !tried.has(n));
      if (rest.length === 0) return null;
      return rest.reduce((a, b) => (b.failedAtMs < a.failedAtMs ? b : a));
    }
    switch (this.settings.balancing) {
      case 'lrc':
        return leastBy(live, (n) => n.inflight);
      case 'wlrc':
        return leastBy(live, (n) => n.inflight / n.weight);
      default:
        return weightedRoundRobin(live);
    }
  }

  /** A request starts on `node`. */
  acquire(node: UpstreamNode): void {
    node.inflight++;
    node.requests++;
  }

  /** A request on `node` ended. */
  release(node: UpstreamNode): void {
    node.inflight--;
  }

  /** `node` failed (connect error or timeout): skip it for the gracetime. */
  markFailed(node: UpstreamNode, nowMs = performance.now()): void {
    node.failures++;
    node.failedAtMs = nowMs;
  }

  /** `node` answered: it is healthy again. */
  markOk(node: UpstreamNode): void {
    node.failedAtMs = Number.NEGATIVE_INFINITY;
  }
}

function leastBy(nodes: UpstreamNode[], load: (n: UpstreamNode) => number): UpstreamNode {
  let best = nodes[0]!;
  for (const n of nodes) if (load(n) < load(best)) best = n;
  return best;
}

/**
 * uWSGI's wrr: the first node (in order) with turns left takes the request; when none has, every
 * node gets `weight / smallest weight` turns and the last one takes it.
 */
function weightedRoundRobin(nodes: UpstreamNode[]): UpstreamNode {
  for (const n of nodes) {
    if (n.turns > 0) {
      n.turns--;
      return n;
    }
  }
  const min = Math.min(...nodes.map((n) => n.weight));
  for (const n of nodes) n.turns = Math.max(1, Math.floor(n.weight / min));
  const chosen = nodes[nodes.length - 1]!;
  chosen.turns--;
  return chosen;
}
