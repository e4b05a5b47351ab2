/**
 * The uWSGI ini grammar, as `uwsgi_ini_config()` in uWSGI 2.0.21's core/ini.c reads it:
 * - lines end at `\n`; a NUL byte ends a line's content (C strings);
 * - each line is trimmed of spaces, tabs and `\r` on both sides; empty lines are skipped;
 * - a line starting with `[` names the current section: everything after `[` minus the line's
 *   last character (`[uwsgi]` → `uwsgi`, `[uwsgi] x` → `uwsgi] `), so only an exact `[name]` matches;
 * - a line starting with `;` or `#` is a comment; there are no inline comments;
 * - any other line is `key = value`, split at the first `=`; key and value are trimmed of
 *   spaces/tabs/`\r`; a line without `=` is the key with the empty value; quotes are kept;
 * - lines before the first section header belong to no section and are never read.
 * Works on byte strings after magic-variable substitution (see magic.ts).
 */

import type { Bytes } from './bytes.js';

/** One `key = value` line of the asked section. `line` is the 1-based output line index. */
export interface IniLine {
  readonly key: Bytes;
  readonly value: Bytes;
  readonly line: number;
}

const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r';

/** `ini_lstrip()` + `ini_rstrip()`: remove spaces, tabs and carriage returns on both sides. */
export function iniTrim(s: Bytes): Bytes {
  let a = 0;
  let b = s.length;
  while (a < b && isBlank(s[a])) a++;
  while (b > a && isBlank(s[b - 1])) b--;
  return s.slice(a, b);
}

type Visit = (kind: 'section' | 'entry', line: number, a: Bytes, b: Bytes) => void;

function walk(text: Bytes, visit: Visit): void {
  let lineNo = 0;
  let pos = 0;
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    lineNo++;
    let raw = text.slice(pos, end);
    pos = end + 1;
    const nul = raw.indexOf('\0');
    if (nul >= 0) raw = raw.slice(0, nul);
    const line = iniTrim(raw);
    if (line === '') continue;
    const first = line[0];
    if (first === '[') {
      visit('section', lineNo, line.slice(1, -1), '');
    } else if (first !== ';' && first !== '#') {
      const eq = line.indexOf('=');
      if (eq < 0) visit('entry', lineNo, line, '');
      else visit('entry', lineNo, iniTrim(line.slice(0, eq)), iniTrim(line.slice(eq + 1)));
    }
  }
}

/** Names of every section header in the text, in order of appearance (duplicates kept once). */
export function iniSectionNames(text: Bytes): Bytes[] {
  const names = new Set<Bytes>();
  walk(text, (kind, _line, a) => {
    if (kind === 'section') names.add(a);
  });
  return [...names];
}

/**
 * The `key = value` lines of `section` (every header with that exact name counts; repeated keys
 * are kept in order). An empty result means uWSGI's "Can't find section" warning.
 */
export function readIniSection(text: Bytes, section: Bytes): IniLine[] {
  const out: IniLine[] = [];
  let current: Bytes | null = null;
  walk(text, (kind, line, a, b) => {
    if (kind === 'section') current = a;
    else if (current === section) out.push({ key: a, value: b, line });
  });
  return out;
}
