/**
 * The emperor ↔ vassal protocol: JSON messages over the Node IPC channel the emperor opens when it
 * spawns a vassal (`stdio[3] = 'ipc'`). They replace uWSGI's single magic bytes on the emperor pipe
 * (`core/emperor.c`: 1 spawned, 5 accepting, 17 loyal, 26 heartbeat, 2 "send me my config"; from the
 * emperor 0 stop, 1 reload, 2 graceful stop) with named, validated messages. Both sides validate what
 * they receive with {@link parseVassalMessage} / {@link parseEmperorMessage}; anything else is
 * logged and dropped, never acted on.
 */

/** Set to `1` in a vassal's environment: "an emperor spawned you; talk to it over IPC". */
export const EMPEROR_ENV = 'TSGI_EMPEROR';

/** Scheme of an in-band config (uWSGI's `--ini emperor://<name>`): its text arrives over IPC. */
export const INLINE_CONFIG_SCHEME = 'emperor://';

/** A bound listener as a vassal reports it: `{ proto: 'http', address: '127.0.0.1:8081' }`. */
export interface ListenerAddress {
  readonly proto: string;
  /** The bound address (the real port for `:0`), or the unix socket path. */
  readonly address: string;
}

/** Vassal → emperor. */
export type VassalMessage =
  /** The vassal's process runs and listens on the channel (uWSGI byte 1). Sent first. */
  | { readonly type: 'spawned' }
  /**
   * Every worker reported READY and the listeners accept (uWSGI byte 17, sent at first boot).
   * `mercyS` is the longest the vassal may take to stop gracefully (max of `reload-mercy` and
   * `worker-reload-mercy`, seconds), so the emperor's curse tolerance can cover it.
   */
  | {
      readonly type: 'loyal';
      readonly generation: number;
      readonly listeners: readonly ListenerAddress[];
      readonly mercyS: number;
    }
  /** A graceful reload finished; the new generation serves. */
  | { readonly type: 'reloaded'; readonly generation: number; readonly listeners: readonly ListenerAddress[] }
  /**
   * The vassal's consoles (pty-socket, pty-usocket, forkpty routers) as bound; `proto` is `pty`
   * (raw) or `pty-u` (uWSGI framing). Sent whenever the set changes.
   */
  | { readonly type: 'consoles'; readonly consoles: readonly ListenerAddress[] }
  /** A reload was abandoned (bad config, app not importable); the old generation still serves. */
  | { readonly type: 'reload-failed'; readonly generation: number; readonly detail: string }
  /** The vassal is stopping (asked to, or on its own). */
  | { readonly type: 'stopping' }
  /** Periodic proof of life, every `heartbeat` seconds (uWSGI byte 26). */
  | { readonly type: 'heartbeat' }
  /** Answer to `metrics-request`: prom-client's `registry.getMetricsAsJSON()`. */
  | { readonly type: 'metrics'; readonly id: number; readonly metrics: readonly MetricJSON[] }
  /** Answer to `query` (same id): what was asked for, see {@link QueryAnswer}. */
  | QueryAnswer;

/**
 * What the emperor may ask a vassal about its current state (`query` message):
 * - `stats`: the uWSGI stats document (`core/stats/stats.ts`, `statsDocument`, without per-core lists);
 * - `config`: the resolved config entries in order, as `--show-config` prints them (`key`, `value`).
 */
export type QueryWhat = 'stats' | 'config';

/** A vassal's answer to a `query`; `error` instead of data when it could not answer (no config yet). */
export type QueryAnswer =
  | { readonly type: 'answer'; readonly id: number; readonly what: 'stats'; readonly stats: StatsDoc }
  | {
      readonly type: 'answer';
      readonly id: number;
      readonly what: 'config';
      readonly entries: readonly ConfigLine[];
    }
  | { readonly type: 'answer'; readonly id: number; readonly what: QueryWhat; readonly error: string };

/** One resolved config line (a `ConfigEntry` without its origin). */
export interface ConfigLine {
  readonly key: string;
  readonly value: string;
}

/** The uWSGI stats document as it crossed the channel: an object with a `workers` array. */
export interface StatsDoc {
  readonly workers: ReadonlyArray<Readonly<Record<string, unknown>>>;
  readonly [key: string]: unknown;
}

/** Emperor → vassal. */
export type EmperorMessage =
  /** The ini text of an in-band vassal (Redis): sent once the vassal is `spawned`, and before each reload. */
  | { readonly type: 'config'; readonly text: string }
  /**
   * Reload gracefully (uWSGI byte 1). For an in-band vassal a `config` message precedes it. With
   * `chain`, replace the workers one at a time and keep the config (the master FIFO's `c`).
   */
  | { readonly type: 'reload'; readonly chain?: boolean }
  /** Stop: gracefully (finish in-flight requests) or at once. */
  | { readonly type: 'stop'; readonly graceful: boolean }
  /**
   * Ask for the vassal's metrics; answered by a `metrics` message with the same id. `names` limits
   * the answer to those metric families (the dashboard's sampling needs five of them).
   */
  | { readonly type: 'metrics-request'; readonly id: number; readonly names?: readonly string[] }
  /** Ask for the vassal's stats document or config; answered by an `answer` with the same id. */
  | { readonly type: 'query'; readonly id: number; readonly what: QueryWhat };

/** One metric family as prom-client's `getMetricsAsJSON()` returns it. */
export interface MetricJSON {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly aggregator?: string;
  readonly values: ReadonlyArray<{
    readonly value: number;
    readonly labels: Readonly<Record<string, string | number>>;
    readonly metricName?: string;
  }>;
}

type Fields = Record<string, unknown>;

const isObject = (x: unknown): x is Fields => typeof x === 'object' && x !== null && !Array.isArray(x);
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const isString = (x: unknown): x is string => typeof x === 'string';

function isListeners(x: unknown): x is ListenerAddress[] {
  return Array.isArray(x) && x.every((l) => isObject(l) && isString(l.proto) && isString(l.address));
}

/** A metric family as it crossed the channel; NaN values arrive as null (JSON has no NaN). */
function toMetric(x: unknown): MetricJSON | null {
  if (!isObject(x) || !isString(x.name) || !isString(x.help) || !isString(x.type) || !Array.isArray(x.values))
    return null;
  const ok = x.values.every(
    (v) => isObject(v) && (typeof v.value === 'number' || v.value === null) && isObject(v.labels),
  );
  if (!ok) return null;
  const values = (x.values as Fields[]).map((v) => ({
    ...v,
    value: (v.value as number | null) ?? Number.NaN,
  }));
  return { ...(x as unknown as MetricJSON), values: values as unknown as MetricJSON['values'] };
}

/**
 * Validate a message received from a vassal.
 * @returns the typed message, or null when `raw` is not a well-formed vassal message.
 */
export function parseVassalMessage(raw: unknown): VassalMessage | null {
  if (!isObject(raw)) return null;
  switch (raw.type) {
    case 'spawned':
    case 'stopping':
    case 'heartbeat':
      return { type: raw.type };
    case 'loyal':
      return isInt(raw.generation) && isListeners(raw.listeners) && isInt(raw.mercyS) && raw.mercyS >= 0
        ? { type: 'loyal', generation: raw.generation, listeners: raw.listeners, mercyS: raw.mercyS }
        : null;
    case 'reloaded':
      return isInt(raw.generation) && isListeners(raw.listeners)
        ? { type: 'reloaded', generation: raw.generation, listeners: raw.listeners }
        : null;
    case 'consoles':
      return isListeners(raw.consoles) ? { type: 'consoles', consoles: raw.consoles } : null;
    case 'reload-failed':
      return isInt(raw.generation) && isString(raw.detail)
        ? { type: 'reload-failed', generation: raw.generation, detail: raw.detail }
        : null;
    case 'metrics': {
      if (!isInt(raw.id) || !Array.isArray(raw.metrics)) return null;
      const metrics = raw.metrics.map(toMetric);
      return metrics.every((m) => m !== null) ? { type: 'metrics', id: raw.id, metrics } : null;
    }
    case 'answer':
      return parseAnswer(raw);
    default:
      return null;
  }
}

const isQueryWhat = (x: unknown): x is QueryWhat => x === 'stats' || x === 'config';

function parseAnswer(raw: Fields): QueryAnswer | null {
  const { id, what } = raw;
  if (!isInt(id) || !isQueryWhat(what)) return null;
  if (isString(raw.error)) return { type: 'answer', id, what, error: raw.error };
  if (what === 'stats')
    return isObject(raw.stats) && Array.isArray(raw.stats.workers) && raw.stats.workers.every(isObject)
      ? { type: 'answer', id, what, stats: raw.stats as unknown as StatsDoc }
      : null;
  const entries = raw.entries;
  return Array.isArray(entries) && entries.every((e) => isObject(e) && isString(e.key) && isString(e.value))
    ? {
        type: 'answer',
        id,
        what,
        entries: (entries as Fields[]).map((e) => ({ key: e.key as string, value: e.value as string })),
      }
    : null;
}

/**
 * Validate a message received from the emperor.
 * @returns the typed message, or null when `raw` is not a well-formed emperor message.
 */
export function parseEmperorMessage(raw: unknown): EmperorMessage | null {
  if (!isObject(raw)) return null;
  switch (raw.type) {
    case 'config':
      return isString(raw.text) ? { type: 'config', text: raw.text } : null;
    case 'reload':
      if (raw.chain === undefined) return { type: 'reload' };
      return typeof raw.chain === 'boolean' ? { type: 'reload', chain: raw.chain } : null;
    case 'stop':
      return typeof raw.graceful === 'boolean' ? { type: 'stop', graceful: raw.graceful } : null;
    case 'metrics-request': {
      if (!isInt(raw.id)) return null;
      if (raw.names === undefined) return { type: 'metrics-request', id: raw.id };
      return Array.isArray(raw.names) && raw.names.every(isString)
        ? { type: 'metrics-request', id: raw.id, names: raw.names }
        : null;
    }
    case 'query':
      return isInt(raw.id) && isQueryWhat(raw.what) ? { type: 'query', id: raw.id, what: raw.what } : null;
    default:
      return null;
  }
}
