/**
 * Rule arguments with variables, expanded the way uWSGI's `uwsgi_routing_translate` does
 * (core/routing.c, uWSGI 2.0), in two passes over the text:
 *
 * 1. regex groups: `$0`..`$9` become the groups of the rule's match (the route's subject regex, or a
 *    `regexp` condition's); a group the pattern does not have, or that did not take part, is empty; a
 *    `$` before anything else is kept, and a `$` at the very end is dropped. This pass runs only for
 *    actions, never while a condition's own operands are expanded (there `$1` stays literal).
 * 2. request variables: `${NAME}` is the request var `NAME` (empty when absent); `${name[arg]}` is the
 *    route variable `name` (cookie, qs, mime, time, httptime, base64, hex, uwsgi) applied to `arg`,
 *    or, when no route variable has that name, the request var literally named `name[arg]`. An
 *    unterminated `${...` is kept as written.
 *
 * Because the second pass reads the output of the first, text captured from the request that looks
 * like `${VAR}` is expanded too, as in uWSGI.
 */

/** What a template needs from the request being routed. */
export interface ExpandContext {
  /** A request var's value, or undefined when the request has none. */
  variable(name: string): string | undefined;
  /**
   * A route variable `name[arg]`: its value, null when it has none for this request, undefined when
   * no route variable is called `name`.
   */
  routeVariable(name: string, arg: string): string | null | undefined;
  /** The groups of the current rule's match: index 0 is the whole match; null when no regex matched. */
  readonly groups: ArrayLike<string | undefined> | null;
  /** Number of capture groups of the regex that matched (uWSGI's `ovn`), 0 when none. */
  readonly groupCount: number;
}

/** A piece of a compiled template: literal text, a group, a request var, a route variable. */
type Part =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'group'; readonly n: number }
  | { readonly kind: 'var'; readonly name: string }
  | { readonly kind: 'route'; readonly name: string; readonly arg: string; readonly key: string };

/**
 * A compiled rule argument. Templates without `$` are constants and cost nothing to expand; the
 * common shapes (`$N` and `${...}` with nothing odd inside) are compiled to parts; anything else,
 * and any expansion where a group's text itself holds a `$`, takes uWSGI's two passes literally.
 */
export class Template {
  private constructor(
    /** The argument as written. */
    readonly text: string,
    private readonly constant: boolean,
    /** Compiled parts, or null when the text needs the literal two passes. */
    private readonly parts: readonly Part[] | null,
  ) {}

  /** Compile an argument as written in a rule. */
  static of(text: string): Template {
    if (!text.includes('$')) return new Template(text, true, null);
    return new Template(text, false, compile(text));
  }

  /** Whether the text has no variable at all. */
  get isConstant(): boolean {
    return this.constant;
  }

  /**
   * Expand against a request. `withGroups` is false when a condition expands its own operands (uWSGI
   * passes no subject then, so `$N` stays literal).
   */
  expand(ctx: ExpandContext, withGroups = true): string {
    if (this.constant) return this.text;
    const parts = this.parts;
    if (parts === null) return slow(this.text, ctx, withGroups);
    let out = '';
    for (const p of parts) {
      switch (p.kind) {
        case 'text':
          out += p.text;
          break;
        case 'group': {
          if (!withGroups) {
            out += `$${p.n}`;
            break;
          }
          if (p.n > ctx.groupCount) break;
          const g = ctx.groups?.[p.n] ?? '';
          if (g.includes('$')) return slow(this.text, ctx, true);
          out += g;
          break;
        }
        case 'var':
          out += ctx.variable(p.name) ?? '';
          break;
        case 'route': {
          const v = ctx.routeVariable(p.name, p.arg);
          out += v === undefined ? (ctx.variable(p.key) ?? '') : (v ?? '');
          break;
        }
      }
    }
    return out;
  }
}

function slow(text: string, ctx: ExpandContext, withGroups: boolean): string {
  return expandVariables(withGroups ? expandGroups(text, ctx) : text, ctx);
}

/**
 * Compile the simple shapes: every `$` starts `$0`..`$9` or a closed `${...}` without `$` inside.
 * Returns null for anything else (then expansion runs the two passes literally).
 */
function compile(text: string): Part[] | null {
  const parts: Part[] = [];
  let lit = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '$') {
      lit += c;
      continue;
    }
    const n = text[i + 1];
    if (n !== undefined && n >= '0' && n <= '9') {
      if (lit) parts.push({ kind: 'text', text: lit });
      lit = '';
      parts.push({ kind: 'group', n: n.charCodeAt(0) - 48 });
      i++;
      continue;
    }
    if (n !== '{') return null;
    const close = text.indexOf('}', i + 2);
    if (close === -1) return null;
    const key = text.slice(i + 2, close);
    if (key.includes('$')) return null;
    if (lit) parts.push({ kind: 'text', text: lit });
    lit = '';
    const bracket = key.indexOf('[');
    if (bracket !== -1 && key.endsWith(']'))
      parts.push({ kind: 'route', name: key.slice(0, bracket), arg: key.slice(bracket + 1, -1), key });
    else parts.push({ kind: 'var', name: key });
    i = close;
  }
  if (lit) parts.push({ kind: 'text', text: lit });
  return parts;
}

/** Pass 1: `$N` → group N (uWSGI's `uwsgi_regexp_apply_ovec`). */
export function expandGroups(text: string, ctx: ExpandContext): string {
  if (!text.includes('$')) return text;
  let out = '';
  let dollar = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (dollar) {
      dollar = false;
      if (c >= '0' && c <= '9') {
        const n = c.charCodeAt(0) - 48;
        if (n <= ctx.groupCount) out += ctx.groups?.[n] ?? '';
      } else out += `$${c}`;
    } else if (c === '$') dollar = true;
    else out += c;
  }
  return out;
}

/** Pass 2: `${NAME}` and `${name[arg]}`. */
export function expandVariables(text: string, ctx: ExpandContext): string {
  let out = '';
  let i = 0;
  for (;;) {
    const d = text.indexOf('$', i);
    if (d === -1 || d === text.length - 1) return out + text.slice(i);
    out += text.slice(i, d);
    if (text[d + 1] !== '{') {
      out += text.slice(d, d + 2);
      i = d + 2;
      continue;
    }
    const close = text.indexOf('}', d + 2);
    if (close === -1) return out + text.slice(d);
    out += lookup(text.slice(d + 2, close), ctx) ?? '';
    i = close + 1;
  }
}

function lookup(key: string, ctx: ExpandContext): string | undefined {
  const bracket = key.indexOf('[');
  if (bracket !== -1 && key.endsWith(']')) {
    const v = ctx.routeVariable(key.slice(0, bracket), key.slice(bracket + 1, -1));
    if (v !== undefined) return v ?? '';
  }
  return ctx.variable(key);
}
