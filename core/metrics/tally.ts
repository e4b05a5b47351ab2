/**
 * Plain counters the request path adds to (a few array increments per request, no label hashing);
 * the Prometheus metrics read them only when scraped. prom-client's own `inc`/`observe` cost about
 * 3 µs per request for tsgi's set (label validation and hashing), which the request path does not pay.
 */

/** Upper bounds of the request duration histogram, seconds (plus +Inf). */
export const DURATION_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
] as const;

/** Status classes, index = first digit - 1; index 5 = no response was sent (client gone first). */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;

/** The status class index of an HTTP status (0 or out of range: `none`). */
export function statusClass(status: number): number {
  const c = Math.floor(status / 100);
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

/** Everything counted for one edge protocol. */
export class ProtoTally {
  /** Requests per status class ({@link STATUS_CLASSES}). */
  readonly requests = new Float64Array(STATUS_CLASSES.length);
  /** Request body bytes received. */
  bytesIn = 0;
  /** Response body bytes sent. */
  bytesOut = 0;
  /** Non-cumulative counts per duration bucket; the last slot is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  /** Sum of durations, seconds. */
  durationSum = 0;
  durationCount = 0;

  /** Count one finished request. */
  add(status: number, seconds: number, bytesIn: number, bytesOut: number): void {
    this.requests[statusClass(status)]!++;
    this.bytesIn += bytesIn;
    this.bytesOut += bytesOut;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
    this.durationSum += seconds;
    this.durationCount++;
  }
}

/** Request counts by protocol, per worker slot, and the instance's event counters. */
export class Tallies {
  readonly protos = new Map<string, ProtoTally>();
  /** Requests served per worker id (a slot: counts survive respawns and reloads). */
  readonly workerRequests = new Map<number, number>();
  /** Requests refused before reaching a worker, by reason (`queue-full`, `no-worker`). */
  readonly rejections = new Map<string, number>();
  /** Worker replacements by reason (crash, harakiri, max-requests, rss, lifetime, reload, boot-failure). */
  readonly respawns = new Map<string, number>();
  harakiri = 0;
  appExceptions = 0;
  /** Accept errors per listener (`proto address`). */
  readonly acceptErrors = new Map<string, number>();
  /** Reloads by result (`ok`, `failed`). */
  readonly reloads = new Map<string, number>();

  proto(name: string): ProtoTally {
    let t = this.protos.get(name);
    if (!t) {
      t = new ProtoTally();
      this.protos.set(name, t);
    }
    return t;
  }
}

/** Add 1 (or `n`) to a counter map entry. */
export function bump<K>(m: Map<K, number>, key: K, n = 1): void {
  m.set(key, (m.get(key) ?? 0) + n);
}
