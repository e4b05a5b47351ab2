import type { Logger } from '../../core/log/logger.js';
import type { Action, ChainName } from '../rules/rule.js';
import type { RouterServices } from '../services.js';

/**
 * How actions are built: a factory per action name takes the text after `name:` and returns an
 * {@link Action} (uWSGI's `uwsgi_register_router(name, func)`). Factories check their arguments at
 * start-up and throw {@link ActionSyntaxError}, which the rule parser turns into a config error naming
 * the file, line and the wrong part.
 */

/** A bad action argument (the message names the part that is wrong). */
export class ActionSyntaxError extends Error {}

/** What an action factory gets besides its argument text. */
export interface ActionEnv {
  /** The chain the rule belongs to. */
  readonly chain: ChainName;
  /** Label name → rule position in that chain; complete once the chain is parsed (read it at run time). */
  readonly labels: ReadonlyMap<string, number>;
  readonly log: Logger;
  /** Shared per-instance machinery: static files, password files, upstream pools, Redis. */
  readonly services: RouterServices;
}

export type ActionFactory = (args: string, env: ActionEnv) => Action;

/** Split `key=value,key=value` (uWSGI's `uwsgi_kvlist_parse`), checking the keys. */
export function keyvals(args: string, allowed: readonly string[], what: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of args.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq === -1) throw new ActionSyntaxError(`${what}: expected key=value, got '${part}'`);
    const key = part.slice(0, eq);
    if (!allowed.includes(key))
      throw new ActionSyntaxError(`${what}: unknown key '${key}' (known: ${allowed.join(', ')})`);
    out.set(key, part.slice(eq + 1));
  }
  return out;
}
