/**
 * The three expansion passes uWSGI runs over every option value once the whole config tree is read
 * (`uwsgi_apply_config_pass()` in core/utils.c, called from `uwsgi_setup()` in core/uwsgi.c):
 * `$(NAME)` environment variables, then `@(path)` file contents, then `%(name)` placeholders with
 * placeholder math (`uwsgi_manage_placeholder()` in core/config.c). Byte strings throughout.
 */

import type { Bytes } from './bytes.js';

/** A lookup for one pass: the text for a key, or null to leave `X(key)` as it is. */
export type PassHook = (key: Bytes) => Bytes | null;

/** Raised (as a plain Error; the reader wraps it) when a value keeps growing through self-reference. */
export class ExpansionRunaway extends Error {}

const MAX_SUBSTITUTIONS = 10_000;
const MAX_LENGTH = 8 * 1024 * 1024;

/**
 * Expand `symbol(key)` occurrences in one value, byte-for-byte as uWSGI's scanner does it:
 * nested parentheses belong to the key (`%(a (b))` looks up `a (b)`); a second `symbol` inside a
 * key restarts the match (`$(A$(B))` looks up `B` first); `symbol()` is left alone; an unknown key
 * stays literal and scanning goes on after it; after each substitution scanning restarts at the
 * value's second byte (uWSGI sets `j = 0` before the loop's `j++`), so a substituted text can be
 * expanded again, except at offset 0.
 * @throws {ExpansionRunaway} after 10,000 substitutions or beyond 8 MiB (uWSGI would loop forever).
 */
export function expandValue(value: Bytes, symbol: string, hook: PassHook): Bytes {
  if (!value.includes(`${symbol}(`)) return value;
  let v = value;
  let has = 0;
  let depth = 0;
  let keyStart = -1;
  let substitutions = 0;
  let j = 0;
  while (j < v.length) {
    const c = v[j];
    if (c === symbol) {
      has = 1;
    } else if (c === '(' && has === 1) {
      has = 2;
      depth = 0;
      keyStart = j + 1;
    } else if (has > 1) {
      if (c === '(') {
        has++;
        depth++;
      } else if (c === ')') {
        if (depth > 0) {
          has++;
          depth--;
          j++;
          continue;
        }
        if (has <= 2) {
          has = 0;
          j++;
          continue;
        }
        const key = v.slice(keyStart, keyStart + has - 2);
        const found = hook(key);
        if (found === null) {
          has = 0;
          j++;
          continue;
        }
        v = v.slice(0, keyStart - 2) + found + v.slice(keyStart + has - 1);
        if (++substitutions > MAX_SUBSTITUTIONS || v.length > MAX_LENGTH) {
          throw new ExpansionRunaway(`'${symbol}(${key})' keeps expanding (self-reference?)`);
        }
        has = 0;
        j = 1;
        continue;
      } else {
        has++;
      }
    } else {
      has = 0;
    }
    j++;
  }
  return v;
}

const INT64_MAX = (1n << 63n) - 1n;
const INT64_MIN = -(1n << 63n);

/** C `strtoll(s, NULL, 10)`: leading white space, optional sign, digits; saturates; 0 when none. */
export function strtoll(s: Bytes): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  if (!m || m[2] === '') return 0n;
  let n = BigInt(m[2]!);
  if (m[1] === '-') n = -n;
  if (n > INT64_MAX) return INT64_MAX;
  if (n < INT64_MIN) return INT64_MIN;
  return n;
}

const wrap = (n: bigint): bigint => BigInt.asIntN(64, n);
const isNumber = (s: string): boolean => /^[0-9]*$/.test(s);

/**
 * `%(...)` lookup with placeholder math (`uwsgi_manage_placeholder()`): a key without a space is a
 * plain lookup (null when unknown). Otherwise the key is split on spaces and evaluated left to
 * right as a pipeline: digit-only tokens are numbers, other tokens are option/placeholder values
 * ("" when unknown), juxtaposition concatenates, `+ - * /` apply to the next operand in signed
 * 64-bit integer arithmetic (operands read with strtoll; division by zero gives 0), `++`/`--`
 * increment/decrement the current result. Returns null when nothing was produced (`%(+ +)`).
 */
export function managePlaceholder(key: Bytes, lookup: (name: Bytes) => Bytes | null): Bytes | null {
  if (!key.includes(' ')) return lookup(key);
  type Op = 'concat' | '+' | '-' | '*' | '/';
  let state: Op = 'concat';
  let current: Bytes | null = null;
  for (const p of key.split(' ')) {
    if (p === '') continue;
    let value: Bytes;
    if (isNumber(p)) {
      value = p;
    } else if (p === '+' || p === '-' || p === '*' || p === '/') {
      state = p;
      continue;
    } else if (p === '++' || p === '--') {
      if (current !== null) current = String(wrap(strtoll(current) + (p === '++' ? 1n : -1n)));
      state = 'concat';
      continue;
    } else {
      value = lookup(p) ?? '';
    }
    if (state === 'concat') {
      current = (current ?? '') + value;
    } else {
      const a = current === null ? 0n : strtoll(current);
      const b = strtoll(value);
      let r: bigint;
      if (state === '+') r = a + b;
      else if (state === '-') r = a - b;
      else if (state === '*') r = a * b;
      else r = b === 0n ? 0n : a / b;
      current = String(wrap(r));
    }
    state = 'concat';
  }
  return current;
}
