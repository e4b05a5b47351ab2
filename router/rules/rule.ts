import type { ConfigOrigin } from '../../core/errors.js';
import type { RouteContext } from './context.js';

/**
 * The model of uWSGI's internal routing (core/routing.c): chains of rules, each a matcher and an
 * action; an action answers NEXT (go on with the next rule), CONTINUE (stop routing, serve the
 * request) or BREAK (stop routing, the request is over). GOTO is NEXT with a forward jump.
 */

/** Go on with the next rule (a rule that does not match is NEXT too). */
export const NEXT = 0;
/** Stop routing; the request goes on to the app (or the next hook). */
export const CONTINUE = 1;
/** Stop routing; the request is finished (answered by the rule, or dropped). */
export const BREAK = 2;
export type Verdict = typeof NEXT | typeof CONTINUE | typeof BREAK;

/** A chain of rules: `route*` options run before the app, `response-route*` on the response head. */
export type ChainName = 'request' | 'response';

/** An action bound to its arguments: uWSGI's `r->func(wsgi_req, ur)`. */
export interface Action {
  /** The action name as written (`rewrite`, `addheader`...). */
  readonly name: string;
  /** Run for one request; may answer through `ctx.sink`. Async actions return a promise that never rejects. */
  run(ctx: RouteContext): Verdict | Promise<Verdict>;
}

/** When a rule fires. */
export type Matcher =
  /** `route`, `route-host`, `route-uri`...: a regex over one request var. */
  | {
      readonly kind: 'subject';
      readonly variable: string;
      readonly regex: RegExp;
      readonly groupCount: number;
    }
  /** `route-if` / `route-if-not`: a named condition. */
  | { readonly kind: 'condition'; readonly negate: boolean; readonly condition: Condition }
  /** `response-route-status`: the response status equals a number. */
  | { readonly kind: 'status'; readonly status: number }
  /** `route-run`: always. */
  | { readonly kind: 'always' };

/**
 * A condition of `route-if`: true, false, or null when it cannot be evaluated (uWSGI's -1, which
 * BREAKs the chain). A `regexp` condition leaves its groups in the context for the action.
 */
export interface Condition {
  readonly name: string;
  test(ctx: RouteContext): boolean | null;
}

/** One rule: a label, or a matcher with its action. Numbered from 0 in its chain, labels included. */
export interface Rule {
  readonly pos: number;
  /** Set for `route-label` lines (which never run). */
  readonly label: string | null;
  readonly matcher: Matcher;
  readonly action: Action | null;
  /** The option line as written, for logs and errors. */
  readonly option: string;
  readonly text: string;
  readonly origin: ConfigOrigin;
}
