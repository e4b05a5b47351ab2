/**
 * uWSGI compiles routing regexes with PCRE (no flags); tsgi runs them as JavaScript regexes over the
 * same latin-1 strings. The common syntax is the same; this module maps what differs and names what
 * cannot be mapped, so a rule that would behave differently fails at start instead.
 */

/** Why a PCRE pattern cannot be used, for the config error. */
export class PcreSyntaxError extends Error {}

/** Leading inline flags PCRE accepts and their JavaScript equivalent. */
const FLAGS: Readonly<Record<string, string>> = { i: 'i', s: 's', m: 'm' };

/**
 * Compile a PCRE pattern as uWSGI writes it in a rule: a leading `(?i)`/`(?s)`/`(?m)` (or a
 * combination) becomes a flag; `\A` becomes `^`, `\z` and `\Z` become `$`; possessive quantifiers,
 * atomic groups, `(?#...)` comments, `\Q...\E`, recursion and PCRE-only escapes are refused.
 * @throws {PcreSyntaxError} naming the construct, or JavaScript's own message for a malformed pattern.
 */
export function compilePcre(pattern: string): RegExp {
  let flags = '';
  let body = pattern;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(body);
  if (lead) {
    for (const f of lead[1]!) {
      const js = FLAGS[f];
      if (!js) throw new PcreSyntaxError(`inline flag (?${f}) is not supported`);
      if (!flags.includes(js)) flags += js;
    }
    body = body.slice(lead[0].length);
  }
  body = translate(body);
  try {
    return new RegExp(body, flags);
  } catch (err) {
    throw new PcreSyntaxError((err as Error).message.replace(/^Invalid regular expression: /, ''));
  }
}

/** Number of capture groups of a compiled pattern. */
export function groupCount(re: RegExp): number {
  return new RegExp(`${re.source}|`).exec('')!.length - 1;
}

function translate(body: string): string {
  let out = '';
  let inClass = false;
  /** The previous token was an unescaped quantifier (`a+` then `+` makes a possessive `a++`). */
  let afterQuantifier = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    const wasQuantifier = afterQuantifier;
    afterQuantifier = false;
    if (c === '\\') {
      const n = body[i + 1] ?? '';
      i++;
      if (!inClass && n === 'A') out += '^';
      else if (!inClass && (n === 'z' || n === 'Z')) out += '$';
      else if ('QEGKRXCh'.includes(n) || (n === 'x' && !/^[0-9a-fA-F]{2}/.test(body.slice(i + 1))))
        throw new PcreSyntaxError(`escape \\${n} is not supported`);
      else out += `\\${n}`;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      if (body[i + 1] === '^') out += body[++i];
      if (body[i + 1] === ']') out += `\\${body[++i]}`;
      continue;
    }
    if (c === '(' && body[i + 1] === '?') {
      const kind = body[i + 2] ?? '';
      if (kind === '>' || kind === '#' || kind === 'R' || kind === '|' || /[0-9+&P]/.test(kind))
        throw new PcreSyntaxError(`group (?${kind} is not supported`);
      if (/[a-zA-Z]/.test(kind))
        throw new PcreSyntaxError('inline flags are only supported at the start of the pattern');
      out += '(?';
      i++;
      continue;
    }
    if (c === '+' && wasQuantifier) throw new PcreSyntaxError('possessive quantifiers are not supported');
    if (c === '*' || c === '+' || c === '?' || c === '}') afterQuantifier = true;
    out += c;
  }
  return out;
}
