/**
 * POSIX `glob(3)` as uWSGI's `for-glob` calls it: `glob(pattern, GLOB_MARK | GLOB_NOCHECK)`.
 * `*`, `?` and `[...]` bracket expressions (`!`/`^` negation, ranges, `[:class:]`), backslash
 * escapes, a leading `.` in a name only matched by a literal `.`, directories marked with a
 * trailing `/` (following symlinks), results sorted bytewise (glibc sorts with strcoll; in the C
 * locale that is byte order, after marking), `.` and `..` for patterns starting with a dot, and
 * the pattern itself when nothing matches (or verbatim when it has no magic). No braces, no `~`.
 */

import { readdirSync, statSync } from 'node:fs';
import { type Bytes, fsPath } from './bytes.js';

const CLASSES: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\v\\f\\r',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

const reEscape = (c: string): string => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** Whether a path segment has unescaped glob magic (`*`, `?`, `[`). */
export function hasMagic(segment: Bytes): boolean {
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

/** Remove glob backslash escapes from a literal segment. */
function unescapeGlob(segment: Bytes): Bytes {
  return segment.replace(/\\(.)/gs, '$1');
}

/** Compile one path segment of an fnmatch pattern (no `/` inside) to an anchored RegExp. */
export function segmentRegExp(segment: Bytes): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === '\\' && i + 1 < segment.length) {
      re += reEscape(segment[++i]!);
    } else if (c === '*') {
      re += '.*';
    } else if (c === '?') {
      re += '.';
    } else if (c === '[') {
      let j = i + 1;
      let negate = false;
      if (segment[j] === '!' || segment[j] === '^') {
        negate = true;
        j++;
      }
      let body = '';
      let first = true;
      let closed = false;
      while (j < segment.length) {
        const d = segment[j]!;
        if (d === ']' && !first) {
          closed = true;
          break;
        }
        first = false;
        if (d === '[' && segment[j + 1] === ':') {
          const end = segment.indexOf(':]', j + 2);
          const cls = end > 0 ? CLASSES[segment.slice(j + 2, end)] : undefined;
          if (cls !== undefined) {
            body += cls;
            j = end + 2;
            continue;
          }
        }
        if (d === '\\' && j + 1 < segment.length) {
          body += reEscape(segment[j + 1]!);
          j += 2;
          continue;
        }
        if (segment[j + 1] === '-' && j + 2 < segment.length && segment[j + 2] !== ']') {
          body += `${reEscape(d)}-${reEscape(segment[j + 2]!)}`;
          j += 3;
          continue;
        }
        body += reEscape(d);
        j++;
      }
      if (!closed) {
        re += '\\[';
        continue;
      }
      re += `[${negate ? '^' : ''}${body}]`;
      i = j;
    } else {
      re += reEscape(c);
    }
  }
  return new RegExp(`^${re}$`, 's');
}

function isDir(path: Bytes, cwd: string): boolean {
  try {
    return statSync(fsPath(path, cwd)).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: Bytes, cwd: string): boolean {
  try {
    statSync(fsPath(path, cwd));
    return true;
  } catch {
    return false;
  }
}

function listDir(path: Bytes, cwd: string): Bytes[] {
  try {
    return readdirSync(fsPath(path === '' ? '.' : path, cwd), { encoding: 'buffer' }).map((b) =>
      b.toString('latin1'),
    );
  } catch {
    return [];
  }
}

/**
 * Expand `pattern` (relative paths against `cwd`, results spelt as the pattern spells them).
 * @returns the sorted matches with `/` after directories, or `[pattern]` when nothing matches.
 */
export function globMark(pattern: Bytes, cwd: string): Bytes[] {
  if (!hasMagic(pattern)) {
    // No magic at all: the pattern itself, verbatim (`g//a.txt` stays so), marked if a directory.
    return [exists(pattern, cwd) && isDir(pattern, cwd) && !pattern.endsWith('/') ? `${pattern}/` : pattern];
  }
  const absolute = pattern.startsWith('/');
  const segments = pattern.split('/');
  if (absolute) segments.shift();
  // A trailing slash in the pattern only matches directories (glibc keeps one slash).
  let trailingSlash = false;
  while (segments.length > 1 && segments[segments.length - 1] === '') {
    segments.pop();
    trailingSlash = true;
  }
  let paths: Bytes[] = [absolute ? '/' : ''];
  for (let k = 0; k < segments.length; k++) {
    const seg = segments[k]!;
    const last = k === segments.length - 1;
    const next: Bytes[] = [];
    for (const base of paths) {
      const join = (name: Bytes): Bytes =>
        base === '' || base.endsWith('/') ? base + name : `${base}/${name}`;
      if (!hasMagic(seg)) {
        const p = join(unescapeGlob(seg));
        if (last ? exists(p, cwd) : isDir(p, cwd)) next.push(p);
        continue;
      }
      const re = segmentRegExp(seg);
      const dotOk = seg.startsWith('.') || seg.startsWith('\\.');
      // readdir() also returns `.` and `..`; only a pattern starting with a literal dot can match them.
      const names = dotOk ? ['.', '..', ...listDir(base, cwd)] : listDir(base, cwd);
      for (const name of names) {
        if (name.startsWith('.') && !dotOk) continue;
        if (!re.test(name)) continue;
        const p = join(name);
        if (!last && !isDir(p, cwd)) continue;
        next.push(p);
      }
    }
    paths = next;
    if (paths.length === 0) break;
  }
  if (trailingSlash) paths = paths.filter((p) => isDir(p, cwd));
  if (paths.length === 0) return [pattern];
  return paths
    .map((p) => (isDir(p, cwd) && !p.endsWith('/') ? `${p}/` : p))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
