import type { ConfigEntry } from '../../core/config/types.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { type ActionEnv, type ActionFactory, ActionSyntaxError } from '../actions/action.js';
import type { RouterServices } from '../services.js';
import { buildCondition, ConditionSyntaxError } from './conditions.js';
import { compilePcre, groupCount } from './pcre.js';
import type { ChainName, Matcher, Rule } from './rule.js';

/**
 * Rule lines as uWSGI parses them (`uwsgi_opt_add_route`, core/routing.c): the chain comes from the
 * option's prefix (`response-`), the subject from its suffix (`route-host` → HTTP_HOST), the value
 * is `<pattern> <action>` split at the first space (`route-run` has only the action, `route-label`
 * only a name), and an action is `name:arguments`.
 */

/** Subject var of each regex rule option (without the chain prefix). */
const SUBJECTS: Readonly<Record<string, string>> = {
  route: 'PATH_INFO',
  'route-host': 'HTTP_HOST',
  'route-uri': 'REQUEST_URI',
  'route-qs': 'QUERY_STRING',
  'route-remote-addr': 'REMOTE_ADDR',
  'route-user-agent': 'HTTP_USER_AGENT',
  'route-remote-user': 'REMOTE_USER',
  'route-referer': 'HTTP_REFERER',
};

/** Every rule option of one chain, without prefix. */
const RULE_KINDS = [...Object.keys(SUBJECTS), 'route-label', 'route-if', 'route-if-not', 'route-run'];

/** The option names of the request chain (`route*`) and the response chain (`response-route*`). */
export const REQUEST_RULE_OPTIONS: readonly string[] = RULE_KINDS;
export const RESPONSE_RULE_OPTIONS: readonly string[] = [...RULE_KINDS, 'route-status'].map(
  (k) => `response-${k}`,
);

/** Both chains' rules, in config order. */
export interface RuleSet {
  readonly request: readonly Rule[];
  readonly response: readonly Rule[];
}

/**
 * Parse every rule line of a config (in the order the entries give them).
 * @throws {ConfigError} TSGI_ERR_CONFIG_ROUTE naming the file, line, option and the wrong part.
 */
export function parseRules(
  entries: readonly ConfigEntry[],
  actions: Readonly<Record<ChainName, ReadonlyMap<string, ActionFactory>>>,
  unsupported: readonly string[],
  services: RouterServices,
  log: Logger,
): RuleSet {
  const chains: Record<ChainName, { rules: Rule[]; labels: Map<string, number> }> = {
    request: { rules: [], labels: new Map() },
    response: { rules: [], labels: new Map() },
  };
  for (const e of entries) {
    const chain: ChainName | null = REQUEST_RULE_OPTIONS.includes(e.key)
      ? 'request'
      : RESPONSE_RULE_OPTIONS.includes(e.key)
        ? 'response'
        : null;
    if (!chain) continue;
    const c = chains[chain];
    const env: ActionEnv = { chain, labels: c.labels, log, services };
    try {
      const rule = parseRule(e, chain, c.rules.length, actions[chain], unsupported, env);
      if (rule.label !== null && !c.labels.has(rule.label)) c.labels.set(rule.label, rule.pos);
      c.rules.push(rule);
    } catch (err) {
      if (!(err instanceof RuleSyntaxError)) throw err;
      throw new ConfigError('TSGI_ERR_CONFIG_ROUTE', err.message, e.origin, e.key);
    }
  }
  return { request: chains.request.rules, response: chains.response.rules };
}

/** A malformed rule; the message names the wrong part. */
class RuleSyntaxError extends Error {}

function parseRule(
  e: ConfigEntry,
  chain: ChainName,
  pos: number,
  actions: ReadonlyMap<string, ActionFactory>,
  unsupported: readonly string[],
  env: ActionEnv,
): Rule {
  const kind = chain === 'response' ? e.key.slice('response-'.length) : e.key;
  const base = { pos, option: e.key, text: e.value, origin: e.origin };
  if (kind === 'route-label') {
    if (e.value === '') throw new RuleSyntaxError('a label needs a name');
    return { ...base, label: e.value, matcher: { kind: 'always' }, action: null };
  }
  let matcherText = '';
  let actionText = e.value;
  if (kind !== 'route-run') {
    const space = e.value.indexOf(' ');
    if (space === -1)
      throw new RuleSyntaxError(
        `expected '<${kind === 'route-if' ? 'condition' : 'regex'}> <action>', got '${e.value}'`,
      );
    matcherText = e.value.slice(0, space);
    actionText = e.value.slice(space + 1);
  }
  const matcher = parseMatcher(kind, matcherText);
  return { ...base, label: null, matcher, action: parseAction(actionText, actions, unsupported, env) };
}

function parseMatcher(kind: string, text: string): Matcher {
  if (kind === 'route-run') return { kind: 'always' };
  if (kind === 'route-status') {
    if (!/^\d{3}$/.test(text)) throw new RuleSyntaxError(`'${text}' is not a status code`);
    return { kind: 'status', status: Number(text) };
  }
  if (kind === 'route-if' || kind === 'route-if-not') {
    const colon = text.indexOf(':');
    if (colon === -1) throw new RuleSyntaxError(`expected '<condition>:<subject>', got '${text}'`);
    try {
      const condition = buildCondition(text.slice(0, colon), text.slice(colon + 1));
      return { kind: 'condition', negate: kind === 'route-if-not', condition };
    } catch (err) {
      if (err instanceof ConditionSyntaxError) throw new RuleSyntaxError(err.message);
      throw err;
    }
  }
  let regex: RegExp;
  try {
    regex = compilePcre(text);
  } catch (err) {
    throw new RuleSyntaxError(`bad regex '${text}': ${(err as Error).message}`);
  }
  return { kind: 'subject', variable: SUBJECTS[kind]!, regex, groupCount: groupCount(regex) };
}

function parseAction(
  text: string,
  actions: ReadonlyMap<string, ActionFactory>,
  unsupported: readonly string[],
  env: ActionEnv,
) {
  const colon = text.indexOf(':');
  if (colon === -1) throw new RuleSyntaxError(`expected an action 'name:arguments', got '${text}'`);
  const name = text.slice(0, colon);
  const factory = actions.get(name);
  if (!factory) {
    if (env.chain === 'response' && actions.size > 0 && !unsupported.includes(name))
      throw new RuleSyntaxError(
        `action '${name}' cannot run on the response (allowed: ${[...actions.keys()].join(', ')})`,
      );
    if (unsupported.includes(name))
      throw new RuleSyntaxError(`action '${name}' is a uWSGI action tsgi does not support`);
    throw new RuleSyntaxError(`unknown action '${name}' in '${text}'`);
  }
  try {
    return factory(text.slice(colon + 1), env);
  } catch (err) {
    if (err instanceof ActionSyntaxError) throw new RuleSyntaxError(err.message);
    throw err;
  }
}
