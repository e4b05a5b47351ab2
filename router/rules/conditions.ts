import { accessSync, constants, lstatSync, statSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import type { RouteContext } from './context.js';
import { compilePcre, groupCount } from './pcre.js';
import type { Condition } from './rule.js';
import { Template } from './template.js';

/**
 * The conditions of `route-if` (uWSGI 2.0's `uwsgi_register_route_condition` list): file tests on
 * one expanded operand (`exists`, `isfile`, `isdir`, `islink`, `isexec`, `empty`) and comparisons of
 * two operands written `left;right` (`equal`, `startswith`, `endswith`, `contains`, `regexp`, the
 * numeric `ishigher`... and `ipv4in`/`ipv6in`). Operands are expanded with `${VAR}` (not `$N`); a
 * `regexp` condition's pattern is taken literally and its groups feed the action's `$N`.
 */

/** A condition that cannot be built from its text. */
export class ConditionSyntaxError extends Error {}

type Unary = (value: string) => boolean;
type Binary = (left: string, right: string) => boolean | null;

const UNARY: ReadonlyMap<string, Unary> = new Map<string, Unary>([
  ['exists', (p) => fileTest(p, () => accessSync(p, constants.F_OK))],
  ['isfile', (p) => fileTest(p, () => statSync(p).isFile())],
  ['isdir', (p) => fileTest(p, () => statSync(p).isDirectory())],
  ['islink', (p) => fileTest(p, () => lstatSync(p).isSymbolicLink())],
  ['isexec', (p) => fileTest(p, () => accessSync(p, constants.X_OK))],
  ['empty', (v) => v === ''],
]);

const equal: Binary = (a, b) => a === b;
const contains: Binary = (a, b) => a.includes(b);
const higher: Binary = (a, b) => strtol(a) > strtol(b);
const higherEqual: Binary = (a, b) => strtol(a) >= strtol(b);
const lower: Binary = (a, b) => strtol(a) < strtol(b);
const lowerEqual: Binary = (a, b) => strtol(a) <= strtol(b);

const BINARY: ReadonlyMap<string, Binary> = new Map<string, Binary>([
  ['equal', equal],
  ['isequal', equal],
  ['eq', equal],
  ['==', equal],
  ['startswith', (a, b) => a.startsWith(b)],
  ['endswith', (a, b) => a.endsWith(b)],
  ['contains', contains],
  ['contain', contains],
  ['ishigher', higher],
  ['>', higher],
  ['ishigherequal', higherEqual],
  ['>=', higherEqual],
  ['islower', lower],
  ['<', lower],
  ['islowerequal', lowerEqual],
  ['<=', lowerEqual],
  ['ipv4in', ipv4In],
  ['ipv6in', ipv6In],
]);

/** Every condition name tsgi knows, for error messages. */
export const CONDITION_NAMES: readonly string[] = [...UNARY.keys(), ...BINARY.keys(), 'regexp', 're'];

/**
 * Build the condition `name` over `subject` (the text after `name:` in a `route-if` line).
 * @throws {ConditionSyntaxError} for an unknown condition, a missing `;` or a bad regex.
 */
export function buildCondition(name: string, subject: string): Condition {
  const unary = UNARY.get(name);
  if (unary) {
    const t = Template.of(subject);
    return { name, test: (ctx) => unary(t.expand(ctx, false)) };
  }
  const semi = subject.indexOf(';');
  if (name === 'regexp' || name === 're') {
    if (semi === -1) throw new ConditionSyntaxError(`'${name}' needs 'subject;regex', got '${subject}'`);
    return regexpCondition(name, Template.of(subject.slice(0, semi)), subject.slice(semi + 1));
  }
  const binary = BINARY.get(name);
  if (!binary) {
    const known = ['incache', 'lord'].includes(name) ? ' (not supported by tsgi)' : '';
    throw new ConditionSyntaxError(`unknown route condition '${name}'${known}`);
  }
  if (semi === -1)
    throw new ConditionSyntaxError(`'${name}' needs two operands 'left;right', got '${subject}'`);
  const left = Template.of(subject.slice(0, semi));
  const right = Template.of(subject.slice(semi + 1));
  return { name, test: (ctx) => binary(left.expand(ctx, false), right.expand(ctx, false)) };
}

function regexpCondition(name: string, subject: Template, pattern: string): Condition {
  let regex: RegExp;
  try {
    regex = compilePcre(pattern);
  } catch (err) {
    throw new ConditionSyntaxError(`bad regex '${pattern}': ${(err as Error).message}`);
  }
  const count = groupCount(regex);
  return {
    name,
    test(ctx: RouteContext) {
      const m = regex.exec(subject.expand(ctx, false));
      if (!m) return false;
      ctx.setGroups(m, count);
      return true;
    },
  };
}

function fileTest(_path: string, probe: () => unknown): boolean {
  try {
    return probe() !== false;
  } catch {
    return false;
  }
}

/** C's strtol(s, NULL, 10): leading blanks, optional sign, digits; 0 when there are none. */
function strtol(s: string): number {
  const m = /^\s*([+-]?\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** `ipv4in:ADDR;NET[/PREFIX]`; null (BREAK) for operands longer than an address, as uWSGI. */
function ipv4In(addr: string, net: string): boolean | null {
  if (addr.length > 15 || net.length >= 18) return null;
  const [base, prefixText] = net.split('/', 2);
  const prefix = prefixText === undefined ? 32 : strtol(prefixText);
  if (!isIPv4(addr) || !isIPv4(base!) || prefix < 0 || prefix > 32) return false;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (ipv4Int(addr) & mask) >>> 0 === (ipv4Int(base!) & mask) >>> 0;
}

function ipv4Int(a: string): number {
  return a.split('.').reduce((n, octet) => ((n << 8) | Number(octet)) >>> 0, 0);
}

/** `ipv6in:ADDR;NET[/PREFIX]`. */
function ipv6In(addr: string, net: string): boolean | null {
  if (addr.length > 39 || net.length >= 43) return null;
  const [base, prefixText] = net.split('/', 2);
  const prefix = prefixText === undefined ? 128 : strtol(prefixText);
  if (!isIPv6(addr) || !isIPv6(base!) || prefix < 0 || prefix > 128) return false;
  const a = ipv6Bits(addr);
  const b = ipv6Bits(base!);
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(128 - prefix);
  return (a & mask) === (b & mask);
}

function ipv6Bits(a: string): bigint {
  const [head, tail] = a.includes('::') ? a.split('::', 2) : [a, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g || '0', 16)), 0n);
}
