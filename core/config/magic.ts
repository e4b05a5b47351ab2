/**
 * uWSGI magic variables (`%d`, `%n`, `%p`...): the table and its substitution, as uWSGI 2.0.21's
 * `init_magic_table()`, `config_magic_table_fill()` (core/uwsgi.c) and `magic_sub()` (core/utils.c)
 * define them. Substitution runs on the whole text of a config file when it is read (comments,
 * section headers and keys included), before the file is split into lines.
 */

import { lstatSync, realpathSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { type Bytes, fromBytes, fsPath, toBytes } from './bytes.js';

/**
 * The magic table: one entry per byte value. uWSGI starts every byte at "" (so `%z` is removed),
 * with `%%` → `%` and `%(` → `%(` (placeholders survive). Persistent across files: a file read
 * from a scheme (`exec://`, `emperor://`, `-`) only updates `%o`, the rest keep the last values.
 */
export class MagicTable {
  private readonly vars = new Map<string, Bytes>([
    ['%', '%'],
    ['(', '%('],
  ]);
  /** uWSGI's `magic_table_first_round` flag: uppercase variables are set by the first plain `--ini` only. */
  firstRoundDone = false;

  /** The value for the byte after `%` ("" when unset, as uWSGI's table starts). */
  get(c: string): Bytes {
    return this.vars.get(c) ?? '';
  }

  /** Set the value substituted for `%` + `c`. */
  set(c: string, value: Bytes): void {
    this.vars.set(c, value);
  }
}

/** Static values uWSGI puts in the table at startup (`%v %h %t %T %V %k %u %U %g %G %[`) and `%b`. */
export interface StaticMagic {
  /** `%v`: the startup working directory. */
  readonly cwd: string;
  /** `%h`: hostname. */
  readonly hostname: string;
  /** `%t` / `%T`: startup time in seconds / microseconds since the epoch (decimal text). */
  readonly time: string;
  readonly timeMicros: string;
  /** `%V`: version string. */
  readonly version: string;
  /** `%k`: number of online CPUs. */
  readonly cpus: string;
  /** `%u` / `%U`: uid and user name (the uid again when unknown). */
  readonly uid: string;
  readonly user: string;
  /** `%g` / `%G`: gid and group name (the gid again when unknown). */
  readonly gid: string;
  readonly group: string;
  /** `%b`: the server binary path (set together with the file variables, as uWSGI does). */
  readonly binary: string;
}

/** Put the static variables into a fresh table (uWSGI's `uwsgi_setup()` after `build_options()`). */
export function newMagicTable(s: StaticMagic): MagicTable {
  const t = new MagicTable();
  t.set('v', toBytes(s.cwd));
  t.set('h', toBytes(s.hostname));
  t.set('t', toBytes(s.time));
  t.set('T', toBytes(s.timeMicros));
  t.set('V', toBytes(s.version));
  t.set('k', toBytes(s.cpus));
  t.set('[', '\x1b');
  t.set('u', toBytes(s.uid));
  t.set('U', toBytes(s.user));
  t.set('g', toBytes(s.gid));
  t.set('G', toBytes(s.group));
  return t;
}

/** djb33x hash of bytes, as `djb33x_hash()` in core/hash.c (bytes are signed `char`, as on x86). */
export function djb33x(bytes: Bytes): number {
  let hash = 5381;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes.charCodeAt(i);
    const signed = c >= 128 ? c - 256 : c;
    hash = (((hash << 5) + hash) ^ signed) >>> 0;
  }
  return hash;
}

/** `%j`: the djb33x hash's four bytes in memory (little-endian) order, as uppercase hex. */
export function hashHex(bytes: Bytes): Bytes {
  const h = djb33x(bytes);
  let out = '';
  for (let i = 0; i < 4; i++) out += ((h >>> (8 * i)) & 0xff).toString(16).toUpperCase().padStart(2, '0');
  return out;
}

const SCHEMES = ['emperor', 'http', 'data', 'sym', 'section', 'fd', 'exec', 'call', 'callint'];

/** The scheme of a config URL (`exec` for `exec://ls`), as `uwsgi_check_scheme()`, or null. */
export function configScheme(url: Bytes): string | null {
  for (const s of SCHEMES) if (url.startsWith(`${s}://`)) return s;
  return null;
}

/** What the file-variable fill needs from the file system. */
export interface MagicFs {
  readonly cwd: string;
  readonly binary: string;
  /**
   * Called when `realpath()` fails (uWSGI exits: "realpath() of X failed"). Returns the path to use
   * instead, or throws.
   */
  readonly onMissing: (filename: Bytes) => Bytes;
}

/**
 * Fill the per-file variables for `filename` (as given, may end in `:section`), exactly as
 * `config_magic_table_fill()`: `%o` as given; for a scheme URL or `-` nothing else (except `%n` =
 * NAME for `emperor://NAME`, a tsgi decision); otherwise
 * `%p` (realpath, or cwd + "/" + name for a symlink given relatively), `%s %d %e %n %c %0..%9 %j %i %b`,
 * `%x` = the section after the last `:`; and, when `allowUppercase` and no earlier fill did it, the
 * uppercase copies `%O %D %S %P %C %E %N %X %I %J`. Mutates `table`.
 * @returns whether this call set the uppercase copies (the reader then shows `%o`/`%O` without
 *   the `:section` while it reads the file, as uWSGI's in-place string cut does).
 * @throws whatever `fs.onMissing` throws for a path that does not resolve.
 */
export function fillFileMagic(
  table: MagicTable,
  filename: Bytes,
  fs: MagicFs,
  allowUppercase: boolean,
): boolean {
  table.set('o', filename);
  // tsgi's decision (DESIGN.md, Emperor): an in-band vassal's `%n` is its name (Redis field);
  // uWSGI leaves `%n` untouched for `emperor://`.
  if (configScheme(filename) === 'emperor') table.set('n', filename.slice('emperor://'.length));
  if (configScheme(filename) !== null || filename === '-') return false;
  const colon = filename.lastIndexOf(':');
  const name = colon >= 0 ? filename.slice(0, colon) : filename;
  if (colon !== 0) fillPathMagic(table, name, fs);
  table.set('x', colon >= 0 ? filename.slice(colon + 1) : '');
  if (allowUppercase && !table.firstRoundDone) {
    for (const c of 'ODSPCENXIJ') table.set(c, table.get(c.toLowerCase()));
    table.firstRoundDone = true;
    return true;
  }
  return false;
}

function fillPathMagic(table: MagicTable, name: Bytes, fs: MagicFs): void {
  let full: Bytes;
  const path = fsPath(name, fs.cwd);
  let isLink = false;
  try {
    isLink = lstatSync(path).isSymbolicLink();
  } catch {
    isLink = false;
  }
  if (isLink) {
    full = name.startsWith('/') ? name : `${toBytes(fs.cwd)}/${name}`;
  } else {
    try {
      full = realpathSync(path, { encoding: 'buffer' }).toString('latin1');
    } catch {
      full = fs.onMissing(name);
    }
  }
  table.set('b', toBytes(fs.binary));
  table.set('p', full);
  table.set('j', hashHex(full));
  try {
    table.set('i', String(lstatSync(fsPath(full, fs.cwd), { bigint: true }).ino));
  } catch {
    // uWSGI keeps the previous %i when lstat() fails.
  }
  const slash = full.lastIndexOf('/');
  const s = full.slice(slash + 1);
  const d = full.slice(0, slash + 1);
  table.set('s', s);
  table.set('d', d);
  const dir = d.endsWith('/') ? d.slice(0, -1) : d;
  const lastSlash = dir.lastIndexOf('/');
  table.set('c', lastSlash >= 0 ? dir.slice(lastSlash + 1) : '');
  const parts = dir.split('/').filter((p) => p !== '');
  for (let i = 0; i < 10; i++) table.set(String(i), parts[i] ?? '');
  const dot = s.lastIndexOf('.');
  table.set('e', dot >= 0 ? s.slice(dot + 1) : '');
  table.set('n', dot >= 0 ? s.slice(0, dot) : s);
}

/** A config path resolved the way `%p` falls back when the file is not on disk (custom `readFile`). */
export function fallbackFullPath(name: Bytes, cwd: string): Bytes {
  return toBytes(resolvePath(cwd, fromBytes(name)));
}

/** Result of magic substitution: the text and, per output line, the 1-based input line it starts on. */
export interface MagicResult {
  readonly text: Bytes;
  readonly lineStarts: readonly number[];
}

/**
 * `magic_sub()`: every `%` followed by any byte is replaced by that byte's table entry ("" for
 * bytes without a variable, so `%z` vanishes and a `%` at the end of a line swallows the newline);
 * the byte after a substituted pair is never rescanned (`%%d` → `%d`). The input carries uWSGI's
 * trailing NUL, so a `%` at the very end of the file is removed too. Linear time.
 */
export function magicSub(text: Bytes, table: MagicTable): MagicResult {
  const input = `${text}\0`;
  const out: string[] = [];
  const lineStarts: number[] = [1];
  let line = 1;
  let start = 0;
  let pos = 0;
  const newlines = (from: number, to: number): void => {
    for (let i = input.indexOf('\n', from); i >= 0 && i < to; i = input.indexOf('\n', i + 1)) {
      line++;
      lineStarts.push(line);
    }
  };
  for (let pct = input.indexOf('%'); pct >= 0 && pct + 1 < input.length; pct = input.indexOf('%', pos)) {
    newlines(pos, pct);
    const next = input[pct + 1]!;
    out.push(input.slice(start, pct), table.get(next));
    if (next === '\n') line++;
    pos = pct + 2;
    start = pos;
  }
  newlines(pos, input.length);
  out.push(input.slice(start));
  const joined = out.join('');
  const result = joined.endsWith('\0') ? joined.slice(0, -1) : joined;
  // A substituted value containing a newline (only a hostile table) shifts lines: keep the map sane.
  let count = 1;
  for (let i = result.indexOf('\n'); i >= 0; i = result.indexOf('\n', i + 1)) count++;
  while (lineStarts.length < count) lineStarts.push(lineStarts[lineStarts.length - 1] ?? 1);
  lineStarts.length = count;
  return { text: result, lineStarts };
}
