import type { Logger } from '../../core/log/logger.js';
import type { TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import type { WebSocketHandshake } from '../../core/request/websocket.js';
import { statusReason } from '../http-status.js';
import { parseCookies, parseQuery, type RouteVarSource, routeVariable } from './route-vars.js';
import type { Rule } from './rule.js';
import type { ExpandContext } from './template.js';

/**
 * The response-side settings of a rule set: uWSGI's `add-header` / `del-header` options and the
 * `response-route*` chain. Null when the rule set never touches a response, so requests pass the
 * sink through untouched.
 */
export interface Shaping {
  /** `add-header` lines (`Name: value`), added to every response. */
  readonly addHeaders: readonly string[];
  /** `del-header` names, lower case. */
  readonly removeHeaders: readonly string[];
  /** The response chain, run on each response head; empty when none. */
  readonly responseRules: readonly Rule[];
  /** Runs the response chain synchronously (set by the engine). */
  readonly runResponse: ((ctx: RouteContext) => void) | null;
}

/**
 * The state of one request while rules run: the request, where its answer goes, the groups of the
 * last match, the GOTO target, the headers rules added or removed. uWSGI keeps the same state in
 * `struct wsgi_request` (route_pc, route_goto, additional_headers, remove_headers, ovector).
 */
export class RouteContext implements ExpandContext, RouteVarSource {
  groups: ArrayLike<string | undefined> | null = null;
  groupCount = 0;
  /** Rule position of the current chain (uWSGI's route_pc). */
  pc = 0;
  /** Pending forward jump target, 0 when none (uWSGI's route_goto). */
  gotoPos = 0;
  /** Which chain is running (GOTO looks labels up there). */
  chain: 'request' | 'response' = 'request';
  /** The response status, once a head passed (for `${uwsgi[status]}` and `route-status`). */
  status = 0;
  /** Set once something took charge of answering (a response head, a proxy exchange). */
  answered = false;
  /** `addheader` lines added by rules, in order. */
  readonly extraHeaders: string[] = [];
  /** `delheader` names (lower case) added by request rules. */
  readonly removedHeaders: string[] = [];
  /** Where every answer to this request goes: the edge's sink, shaped when the rule set needs it. */
  readonly sink: ResponseSink;
  /** Parsed Cookie header and query string, kept while the var they came from is unchanged. */
  private cookies: { source: string; map: Map<string, string> } | null = null;
  private queries: { source: string; map: Map<string, string> } | null = null;

  constructor(
    readonly req: TsgiRequest,
    edgeSink: ResponseSink,
    readonly shaping: Shaping | null,
    readonly log: Logger,
  ) {
    this.sink = shaping ? new ShapedSink(edgeSink, this) : edgeSink;
  }

  /** Whether responses pass through the rule set (so the app's response must be answered through `sink`). */
  get shaped(): boolean {
    return this.shaping !== null;
  }

  variable(name: string): string | undefined {
    return this.req.vars.get(name);
  }

  routeVariable(name: string, arg: string): string | null | undefined {
    return routeVariable(this, name, arg);
  }

  cookie(name: string): string | null {
    const header = this.req.vars.get('HTTP_COOKIE') ?? '';
    if (this.cookies?.source !== header) this.cookies = { source: header, map: parseCookies(header) };
    return this.cookies.map.get(name) ?? null;
  }

  query(name: string): string | null {
    const qs = this.req.vars.get('QUERY_STRING') ?? '';
    if (this.queries?.source !== qs) this.queries = { source: qs, map: parseQuery(qs) };
    return this.queries.map.get(name) ?? null;
  }

  get bytesOut(): number {
    return this.req.bytesOut;
  }

  get startedAtEpochMs(): number {
    return this.req.startedAtEpochMs;
  }

  /** Record the groups of a match for the action's `$N`. */
  setGroups(m: ArrayLike<string | undefined>, count: number): void {
    this.groups = m;
    this.groupCount = count;
  }

  clearGroups(): void {
    this.groups = null;
    this.groupCount = 0;
  }

  /**
   * Answer the request from a rule: status line, headers, a body (or none: the response then ends
   * with the connection, as uWSGI's does, unless `length` is given).
   */
  respond(status: number, reason: string | null, headers: string[], body: Buffer | null): void {
    this.answered = true;
    this.req.status = status;
    this.sink.head(status, reason ?? statusReason(status) ?? '', headers, body ? body.length : 0);
    if (body && body.length > 0) {
      this.req.bytesOut += body.length;
      this.sink.write(body);
    }
    this.sink.end();
  }
}

/**
 * A sink that applies the rule set to a response head (uWSGI's writer.c order): headers named by
 * `del-header`/`delheader` are dropped, the response chain runs, then `add-header`/`addheader` lines
 * are appended. Body calls pass through.
 */
class ShapedSink implements ResponseSink {
  constructor(
    private readonly inner: ResponseSink,
    private readonly ctx: RouteContext,
  ) {}

  get headSent(): boolean {
    return this.inner.headSent;
  }

  head(status: number, reason: string, headers: string[], bodyLength: number): void {
    this.inner.head(status, reason, this.shape(status, headers), bodyLength);
  }

  /** A WebSocket handshake the edge offers: accepting it shapes the 101's headers like any head. */
  get websocket(): WebSocketHandshake | undefined {
    const hs = this.inner.websocket;
    if (!hs) return undefined;
    return {
      subprotocols: hs.subprotocols,
      accept: (subprotocol, headers, events) => hs.accept(subprotocol, this.shape(101, [...headers]), events),
    };
  }

  /** The raw connection for a passthrough (the upstream's answer is relayed byte for byte). */
  takeover(): ReturnType<NonNullable<ResponseSink['takeover']>> {
    return this.inner.takeover?.() ?? null;
  }

  private shape(status: number, headers: string[]): string[] {
    const ctx = this.ctx;
    const shaping = ctx.shaping!;
    ctx.answered = true;
    ctx.status = status;
    const out = removeHeaders(headers, shaping.removeHeaders, ctx.removedHeaders);
    if (shaping.runResponse) shaping.runResponse(ctx);
    appendLines(out, shaping.addHeaders);
    appendLines(out, ctx.extraHeaders);
    return out;
  }

  write(chunk: Buffer): boolean {
    return this.inner.write(chunk);
  }

  end(): void {
    this.inner.end();
  }

  fail(status: number, detail: string): void {
    this.inner.fail(status, detail);
  }

  onDrain(cb: () => void): void {
    this.inner.onDrain(cb);
  }

  onAbort(cb: () => void): void {
    this.inner.onAbort(cb);
  }
}

function removeHeaders(headers: string[], a: readonly string[], b: readonly string[]): string[] {
  if (a.length === 0 && b.length === 0) return headers;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    if (a.includes(name) || b.includes(name)) continue;
    out.push(headers[i]!, headers[i + 1]!);
  }
  return out;
}

/** Append raw `Name: value` lines as header pairs (a line without a colon is skipped). */
function appendLines(out: string[], lines: readonly string[]): void {
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push(line.slice(0, colon), line.slice(colon + 1).trimStart());
  }
}
