/**
 * uWSGI's config logic (`uwsgi_logic_opt_*()` in core/config.c, 2.0.21). A logic option
 * (`if-env = X`, `for = a b`) installs a function that receives every following `key = value`
 * until a closer (`end`, `endif`, `end-if`, `endfor`, `end-for`, all equivalent); the function adds
 * the line (condition true: once, with `%(_)` replaced by the tested value; loops: once per item)
 * or drops it. Byte strings throughout.
 */

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { type Bytes, cString, fromBytes, fsPath } from './bytes.js';
import { globMark } from './glob.js';

/** What a logic function may look at and do. */
export interface LogicContext {
  readonly cwd: string;
  readonly hostname: Bytes;
  readonly isReload: boolean;
  /** `getenv()`. */
  env(name: Bytes): Bytes | null;
  /** `uwsgi_get_exported_opt()`: value of the FIRST entry with that key so far (null if none, or a valueless flag). */
  option(name: Bytes): Bytes | null;
  /** `plugin_already_loaded()`. */
  pluginLoaded(name: Bytes): boolean;
  /** A non-fatal remark (uWSGI logs it and goes on). */
  warn(message: string): void;
  /** Add one line to the config (uWSGI's `add_exported_option()` while the logic runs). */
  add(key: Bytes, value: Bytes | null): void;
}

/** A logic function: `data` is the logic option's argument, `key`/`value` the line it receives. */
export type LogicFn = (data: Bytes, key: Bytes, value: Bytes | null, ctx: LogicContext) => void;

/** `uwsgi_substitute(value, "%(_)", with)`: every non-overlapping occurrence; unchanged when `with` is null. */
export function substituteUnderscore(value: Bytes | null, replacement: Bytes | null): Bytes | null {
  if (value === null || replacement === null) return value;
  return value.split('%(_)').join(replacement);
}

function readable(path: Bytes, cwd: string): boolean {
  try {
    accessSync(fsPath(path, cwd), constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function statKind(path: Bytes, cwd: string): 'file' | 'dir' | 'other' | null {
  try {
    const st = statSync(fsPath(path, cwd));
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
  } catch {
    return null;
  }
}

/** C `atoi()`: leading white space, optional sign, digits. */
export function atoi(s: Bytes): number {
  const m = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(s);
  if (!m) return 0;
  const n = Number.parseInt(m[1]!, 10);
  return Number.isFinite(n) ? Math.max(-2147483648, Math.min(2147483647, n)) : 0;
}

/** `fgets(line, 1024, fh)` chunks of a file, each `uwsgi_chomp()`ed (trailing `\r`/`\n` removed). */
export function readlineItems(content: Bytes): Bytes[] {
  const items: Bytes[] = [];
  let pos = 0;
  while (pos < content.length) {
    const nl = content.indexOf('\n', pos);
    let end = nl < 0 ? content.length : nl + 1;
    if (end - pos > 1023) end = pos + 1023;
    items.push(cString(content.slice(pos, end)).replace(/[\r\n]+$/, ''));
    pos = end;
  }
  return items;
}

/** Split `name[=value]` at the first `=`. */
function nameValue(data: Bytes): [Bytes, Bytes | null] {
  const eq = data.indexOf('=');
  return eq < 0 ? [data, null] : [data.slice(0, eq), data.slice(eq + 1)];
}

function ifLookup(lookup: (n: Bytes) => Bytes | null, negate: boolean): LogicFn {
  return (data, key, value, ctx) => {
    const [name, expected] = nameValue(data);
    const p = lookup.call(ctx, name);
    if (!negate) {
      if (p === null || (expected !== null && expected !== p)) return;
      ctx.add(key, substituteUnderscore(value, p));
      return;
    }
    if (p !== null && (expected === null || expected === p)) return;
    ctx.add(key, substituteUnderscore(value, p));
  };
}

function ifPath(test: (data: Bytes, ctx: LogicContext) => boolean): LogicFn {
  return (data, key, value, ctx) => {
    if (test(data, ctx)) ctx.add(key, substituteUnderscore(value, data));
  };
}

function hostnameMatch(data: Bytes, ctx: LogicContext): boolean {
  try {
    return new RegExp(fromBytes(data)).test(fromBytes(ctx.hostname));
  } catch (err) {
    // uWSGI logs the PCRE error and then treats the test as matched.
    ctx.warn(`if-hostname-match: invalid regular expression '${fromBytes(data)}': ${(err as Error).message}`);
    return true;
  }
}

const forEach: LogicFn = (data, key, value, ctx) => {
  for (const item of data.split(' ')) if (item !== '') ctx.add(key, substituteUnderscore(value, item));
};

const forGlob: LogicFn = (data, key, value, ctx) => {
  for (const item of globMark(data, ctx.cwd)) ctx.add(key, substituteUnderscore(value, item));
};

const forReadline: LogicFn = (data, key, value, ctx) => {
  let content: Bytes;
  try {
    content = readFileSync(fsPath(data, ctx.cwd)).toString('latin1');
  } catch (err) {
    ctx.warn(`for-readline: cannot open '${fromBytes(data)}': ${(err as Error).message}`);
    return;
  }
  for (const item of readlineItems(content)) ctx.add(key, substituteUnderscore(value, item));
};

const forTimes: LogicFn = (data, key, value, ctx) => {
  const n = atoi(data);
  for (let i = 1; i <= n; i++) ctx.add(key, substituteUnderscore(value, String(i)));
};

function envLookup(this: LogicContext, n: Bytes): Bytes | null {
  return this.env(n);
}
function optLookup(this: LogicContext, n: Bytes): Bytes | null {
  return this.option(n);
}

/** Every logic option of uWSGI 2.0.21 (with its aliases), by name. */
export const LOGIC_OPENERS: ReadonlyMap<string, LogicFn> = new Map<string, LogicFn>([
  ['for', forEach],
  ['for-glob', forGlob],
  ['for-times', forTimes],
  ['for-readline', forReadline],
  ['if-opt', ifLookup(optLookup, false)],
  ['if-not-opt', ifLookup(optLookup, true)],
  ['if-env', ifLookup(envLookup, false)],
  ['ifenv', ifLookup(envLookup, false)],
  ['if-not-env', ifLookup(envLookup, true)],
  [
    'if-reload',
    (_d, key, value, ctx) => {
      if (ctx.isReload) ctx.add(key, value);
    },
  ],
  [
    'if-not-reload',
    (_d, key, value, ctx) => {
      if (!ctx.isReload) ctx.add(key, value);
    },
  ],
  ['if-hostname', ifPath((d, ctx) => ctx.hostname === d)],
  ['if-not-hostname', ifPath((d, ctx) => ctx.hostname !== d)],
  ['if-hostname-match', ifPath((d, ctx) => hostnameMatch(d, ctx))],
  ['if-not-hostname-match', ifPath((d, ctx) => !hostnameMatch(d, ctx))],
  ['if-exists', ifPath((d, ctx) => readable(d, ctx.cwd))],
  ['ifexists', ifPath((d, ctx) => readable(d, ctx.cwd))],
  ['if-not-exists', ifPath((d, ctx) => !readable(d, ctx.cwd))],
  ['if-plugin', ifPath((d, ctx) => ctx.pluginLoaded(d))],
  ['ifplugin', ifPath((d, ctx) => ctx.pluginLoaded(d))],
  ['if-not-plugin', ifPath((d, ctx) => !ctx.pluginLoaded(d))],
  ['if-file', ifPath((d, ctx) => statKind(d, ctx.cwd) === 'file')],
  ['if-not-file', ifPath((d, ctx) => statKind(d, ctx.cwd) !== 'file')],
  ['if-dir', ifPath((d, ctx) => statKind(d, ctx.cwd) === 'dir')],
  ['ifdir', ifPath((d, ctx) => statKind(d, ctx.cwd) === 'dir')],
  ['if-directory', ifPath((d, ctx) => statKind(d, ctx.cwd) === 'dir')],
  ['if-not-dir', ifPath((d, ctx) => statKind(d, ctx.cwd) !== 'dir')],
]);

/** Keys that end any logic block (uWSGI resets the logic on each, whatever opened it). */
export const LOGIC_CLOSERS: ReadonlySet<string> = new Set(['end', 'endif', 'end-if', 'endfor', 'end-for']);
