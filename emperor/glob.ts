import { existsSync, readdirSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';

/** Whether `text` has glob(3) magic characters (`*`, `?`, `[`). */
export function hasMagic(text: string): boolean {
  return /[*?[]/.test(text);
}

/**
 * One path segment of a glob(3) pattern as a RegExp: `*` any run of characters, `?` one character,
 * `[abc]`, `[a-z]`, `[!x]`/`[^x]` classes; other characters match themselves. `/` never matches.
 */
export function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, end);
      if (body.startsWith('!') || body.startsWith('^')) body = `^${body.slice(1)}`;
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * Expand a glob pattern the way glob(3) does without flags (no `**`, no braces; a leading dot must be
 * matched explicitly). Relative patterns resolve against `cwd`; results keep the pattern's form
 * (relative stays relative). Unreadable directories contribute nothing.
 * @returns matching paths, sorted; the directories that were read (for watchers).
 */
export function expandGlob(pattern: string, cwd: string): { paths: string[]; dirs: string[] } {
  const segments = pattern.split('/');
  let current: string[] = [isAbsolute(pattern) ? '/' : ''];
  const dirs = new Set<string>();
  for (let i = isAbsolute(pattern) ? 1 : 0; i < segments.length; i++) {
    const seg = segments[i]!;
    if (seg === '') continue;
    const next: string[] = [];
    for (const base of current) {
      if (!hasMagic(seg)) {
        const p = base === '' ? seg : join(base, seg);
        if (existsSync(resolve(cwd, p))) next.push(p);
        continue;
      }
      const re = segmentRegExp(seg);
      const dir = resolve(cwd, base || '.');
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      dirs.add(dir);
      for (const n of names) {
        if (n.startsWith('.') && !seg.startsWith('.')) continue;
        if (re.test(n)) next.push(base === '' ? n : join(base, n));
      }
    }
    current = next;
  }
  return { paths: current.filter((p) => p !== '').sort(), dirs: [...dirs] };
}
