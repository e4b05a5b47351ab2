import type { Logger } from '../core/log/logger.js';
import type { HookVerdict, RequestHook } from '../core/plugin/types.js';
import type { TsgiRequest } from '../core/request/request.js';
import type { ResponseSink } from '../core/request/sink.js';
import { RouteContext, type Shaping } from './rules/context.js';
import { runChain } from './rules/engine.js';
import type { RuleSet } from './rules/parse.js';
import { BREAK, type Verdict } from './rules/rule.js';
import { type StaticSettings, sendFile } from './static/files.js';
import type { StaticMaps } from './static/maps.js';

/**
 * Internal routing as a request hook: in the master, before dispatch (uWSGI runs it in the worker,
 * `wsgi_req_recv` → `uwsgi_apply_routes`). Order as uWSGI's: plain static files first (check-static,
 * static-map, static-map2), and when one is found the request rules run before it is served (a rule
 * may still answer or refuse); otherwise the request rules run and the request goes on to the app
 * unless a rule ended it. Responses pass through the rule set's header rules when it has any.
 */
export class InternalRouter implements RequestHook {
  constructor(
    private readonly rules: RuleSet,
    private readonly shaping: Shaping | null,
    private readonly statics: StaticMaps,
    private readonly staticSettings: StaticSettings,
    private readonly log: Logger,
  ) {}

  onRequest(req: TsgiRequest, sink: ResponseSink): HookVerdict | Promise<HookVerdict> {
    const ctx = new RouteContext(req, sink, this.shaping, this.log);
    if (this.statics.applies(req)) return this.withStatic(ctx);
    const v = runChain(this.rules.request, ctx);
    return v instanceof Promise ? v.then((x) => this.decide(ctx, x)) : this.decide(ctx, v);
  }

  /** What the hook tells the master once the request chain is over. */
  private decide(ctx: RouteContext, v: Verdict): HookVerdict {
    if (ctx.answered) return 'handled';
    if (v === BREAK) {
      // uWSGI closes the connection without a response here; tsgi answers 404.
      ctx.respond(404, 'Not Found', ['Content-Type', 'text/plain'], Buffer.from('Not Found\n'));
      return 'handled';
    }
    return ctx.shaped ? { sink: ctx.sink } : 'continue';
  }

  private async withStatic(ctx: RouteContext): Promise<HookVerdict> {
    const hit = await this.statics.lookup(ctx.req);
    if (hit && 'refused' in hit) {
      ctx.respond(403, 'Forbidden', ['Content-Type', 'text/plain'], Buffer.from('Forbidden\n'));
      return 'handled';
    }
    const v = await runChain(this.rules.request, ctx);
    if (!hit || v === BREAK || ctx.answered) return this.decide(ctx, v);
    ctx.answered = true;
    void sendFile(ctx.req, ctx.sink, hit.file, this.staticSettings).catch((err: Error) =>
      this.log.error(`tsgi: serving ${hit.file.path} failed: ${err.message}`),
    );
    return 'handled';
  }
}
