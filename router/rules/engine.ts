import type { RouteContext } from './context.js';
import { BREAK, CONTINUE, NEXT, type Rule, type Verdict } from './rule.js';

/**
 * Run a chain of rules for one request, as uWSGI's `uwsgi_apply_routes_do` does: labels are
 * skipped, rules before a pending GOTO target are skipped, a rule whose matcher fails is NEXT, a
 * condition that cannot be evaluated BREAKs; the first CONTINUE or BREAK ends the chain; falling off
 * the end is CONTINUE. Synchronous as long as every action that runs is; an async action makes the
 * rest of the chain run when it settles.
 */
export function runChain(rules: readonly Rule[], ctx: RouteContext, from = 0): Verdict | Promise<Verdict> {
  for (let i = from; i < rules.length; i++) {
    const rule = rules[i]!;
    ctx.pc = rule.pos;
    if (rule.label !== null) continue;
    if (ctx.gotoPos > 0 && ctx.pc < ctx.gotoPos) continue;
    ctx.gotoPos = 0;
    const fires = matches(rule, ctx);
    if (fires === null) {
      ctx.clearGroups();
      return BREAK;
    }
    if (!fires) {
      ctx.clearGroups();
      continue;
    }
    const verdict = rule.action!.run(ctx);
    if (verdict instanceof Promise) return verdict.then((v) => after(rules, ctx, v, i + 1));
    ctx.clearGroups();
    if (verdict !== NEXT) return verdict;
  }
  return CONTINUE;
}

function after(
  rules: readonly Rule[],
  ctx: RouteContext,
  v: Verdict,
  next: number,
): Verdict | Promise<Verdict> {
  ctx.clearGroups();
  return v === NEXT ? runChain(rules, ctx, next) : v;
}

/** Whether the rule fires for this request: true, false, or null when its condition failed to evaluate. */
function matches(rule: Rule, ctx: RouteContext): boolean | null {
  const m = rule.matcher;
  switch (m.kind) {
    case 'always':
      return true;
    case 'status':
      return ctx.status === m.status;
    case 'subject': {
      const match = m.regex.exec(ctx.req.vars.get(m.variable) ?? '');
      if (!match) return false;
      ctx.setGroups(match, m.groupCount);
      return true;
    }
    case 'condition': {
      const r = m.condition.test(ctx);
      if (r === null) return null;
      if (m.negate) {
        ctx.clearGroups();
        return !r;
      }
      return r;
    }
  }
}

/**
 * The response chain as a synchronous step of the response head: its own rule counter and GOTO, run
 * once per request. An action that is not synchronous is refused when the rules are parsed.
 */
export function responseRunner(rules: readonly Rule[]): ((ctx: RouteContext) => void) | null {
  if (rules.length === 0) return null;
  return (ctx) => {
    const saved = {
      pc: ctx.pc,
      gotoPos: ctx.gotoPos,
      chain: ctx.chain,
      groups: ctx.groups,
      n: ctx.groupCount,
    };
    ctx.chain = 'response';
    ctx.pc = 0;
    ctx.gotoPos = 0;
    const v = runChain(rules, ctx);
    if (v instanceof Promise) ctx.log.error('tsgi: a response rule did not run synchronously; ignored');
    ctx.pc = saved.pc;
    ctx.gotoPos = saved.gotoPos;
    ctx.chain = saved.chain;
    ctx.setGroups(saved.groups ?? [], saved.n);
    if (!saved.groups) ctx.clearGroups();
  };
}
