/**
 * The config reader's engine: uWSGI 2.0.21's `add_exported_option()` state machine (core/config.c)
 * with the immediate options that make up the config language (loaders, `set`, logic, contexts),
 * then the `$()`/`@()`/`%()` passes and the "configure" walk that runs `inherit` and `print`
 * (core/uwsgi.c `uwsgi_setup()` / `uwsgi_configure()`). Entries are kept as byte strings with
 * uWSGI's `configured` flag (immediate options are never expanded) until they leave the reader.
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { ConfigError, type ConfigOrigin, formatOrigin } from '../errors.js';
import { type Bytes, cString, fromBytes, fsPath, toBytes } from './bytes.js';
import { ExpansionRunaway, expandValue, managePlaceholder } from './expand.js';
import { iniSectionNames, readIniSection } from './ini-parse.js';
import { atoi, LOGIC_CLOSERS, LOGIC_OPENERS, type LogicContext, type LogicFn } from './logic.js';
import { configScheme, fallbackFullPath, fillFileMagic, type MagicTable, magicSub } from './magic.js';
import { readAtFile, readSource, SourceError, type SourceHooks } from './sources.js';
import type { ConfigEntry, ConfigWarning } from './types.js';
import { uwsgiOption } from './uwsgi-options.js';

/**
 * The config asked the process to stop (`exit` option, immediate in uWSGI). `exitCode` is what
 * uWSGI would exit with: the value's `atoi()`, or 1 for a bare `--exit`.
 */
export class ConfigExitRequest extends ConfigError {
  readonly exitCode: number;

  constructor(exitCode: number, origin: ConfigOrigin) {
    super('TSGI_ERR_CONFIG_EXIT', `the configuration requests exit(${exitCode})`, origin, 'exit');
    this.exitCode = exitCode;
  }
}

/** Everything the engine needs from the caller (already defaulted by the facade). */
export interface ReaderEnv extends SourceHooks {
  readonly env: ReadonlyMap<Bytes, Bytes>;
  readonly hostname: Bytes;
  readonly isReload: boolean;
  readonly binary: string;
  readonly magic: MagicTable;
  readonly isKnownOption: (name: string) => boolean;
  readonly isPluginLoaded?: ((name: string) => boolean) | undefined;
  readonly resolveHost: (name: string) => string | null;
  readonly onPrint: (text: string) => void;
  readonly onWarning: (warning: ConfigWarning) => void;
}

interface RawEntry {
  readonly key: Bytes;
  value: Bytes | null;
  readonly origin: ConfigOrigin;
  configured: boolean;
}

interface Logic {
  readonly name: string;
  readonly fn: LogicFn;
  readonly arg: Bytes;
  readonly origin: ConfigOrigin;
  readonly scope: number;
}

type Handler = (value: Bytes | null, origin: ConfigOrigin, key: Bytes) => void;

const MAX_DEPTH = 64;
const UNSUPPORTED_LOADERS: Record<string, string> = {
  xml: 'XML',
  xmlconfig: 'XML',
  yaml: 'YAML',
  yml: 'YAML',
  json: 'JSON',
  js: 'JSON',
};

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());

function listHas(list: Bytes, key: Bytes): boolean {
  const k = asciiLower(key);
  return list.split(' ').some((t) => t !== '' && asciiLower(t) === k);
}

/**
 * Keys whose whole effect the reader has applied: loaders, placeholders, logic, contexts,
 * `print`/`iprint`, `exit`, `resolve`. They stay in the entry list (uWSGI's `--show-config` prints
 * them) but the caller must neither apply them again nor report them as unknown options.
 * (`early-envdir` and `plugin(s)` are NOT here: the reader only uses them to read the config;
 * the process environment and plugin loading remain the caller's job.)
 */
export const READER_CONSUMED_KEYS: ReadonlySet<string> = new Set([
  'ini',
  'ini-paste',
  'ini-paste-logged',
  'include',
  'inherit',
  'set',
  'set-placeholder',
  'set-ph',
  'resolve',
  'blacklist',
  'end-blacklist',
  'whitelist',
  'end-whitelist',
  'inject-before',
  'inject-after',
  'print',
  'iprint',
  'exit',
  ...LOGIC_OPENERS.keys(),
  ...LOGIC_CLOSERS,
]);

/**
 * uWSGI's internal name of a plugin given to `plugin = ...` (path and `_plugin.so` stripped;
 * Debian's `python3`/`python311` builds are called `python` inside, which `if-plugin` compares with).
 */
function pluginName(given: string): string {
  const base = given
    .trim()
    .replace(/^.*\//, '')
    .replace(/(_plugin)?\.so$/, '');
  return /^python\d+$/.test(base) ? 'python' : base;
}

/** One config read: construct, feed env / argv / positionals, then `finish()`. Single use. */
export class ConfigReader {
  private readonly entries: RawEntry[] = [];
  private readonly firstIndex = new Map<Bytes, number>();
  private lastFile: Bytes | null = null;
  private logic: Logic | null = null;
  private running = false;
  private readonly injectBefore: Bytes[] = [];
  private readonly injectAfter: Bytes[] = [];
  private blacklist: Bytes | null = null;
  private whitelist: Bytes | null = null;
  private readonly readStack: string[] = [];
  private scope = 0;
  private nextScope = 1;
  private readonly handlers = new Map<string, Handler>();
  /** The environment as the config sees it (`early-envdir` changes it). */
  private readonly env: Map<Bytes, Bytes>;
  /** Plugin names loaded by `plugin(s)` / `need-plugin(s)` entries so far (uWSGI's internal names). */
  private readonly plugins = new Set<string>();

  constructor(private readonly r: ReaderEnv) {
    this.env = new Map(r.env);
    const load: Handler = (v, o) => this.loadIni(v ?? '', o);
    for (const k of ['ini', 'ini-paste', 'ini-paste-logged']) this.handlers.set(k, load);
    this.handlers.set('include', (v, o) => this.optLoad(v ?? '', o));
    for (const [k, what] of Object.entries(UNSUPPORTED_LOADERS)) {
      this.handlers.set(k, (_v, o) => {
        throw this.unsupported(`${what} config files (${k} = ...)`, o, k);
      });
    }
    this.handlers.set('config', (v, o) => {
      throw this.unsupported(`pluggable configurators (config = ${fromBytes(v ?? '')})`, o, 'config');
    });
    this.handlers.set('set', (v, o) => this.setPlaceholder(v ?? '', o, false));
    this.handlers.set('set-placeholder', (v, o) => this.setPlaceholder(v ?? '', o, true));
    this.handlers.set('set-ph', (v, o) => this.setPlaceholder(v ?? '', o, true));
    for (const k of ['declare-option', 'declare-option2']) {
      this.handlers.set(k, (_v, o) => {
        throw this.unsupported(`custom options (${k})`, o, k);
      });
    }
    this.handlers.set('resolve', (v, o) => this.resolve(v ?? '', o));
    for (const [name, fn] of LOGIC_OPENERS) this.handlers.set(name, (v, o) => this.openLogic(name, fn, v, o));
    for (const k of LOGIC_CLOSERS) this.handlers.set(k, () => {});
    this.handlers.set('blacklist', (v) => {
      this.blacklist = v ?? '';
    });
    this.handlers.set('end-blacklist', () => {
      this.blacklist = null;
    });
    this.handlers.set('whitelist', (v) => {
      this.whitelist = v ?? '';
    });
    this.handlers.set('end-whitelist', () => {
      this.whitelist = null;
    });
    this.handlers.set('inject-before', (v) => this.injectBefore.push(v ?? ''));
    this.handlers.set('inject-after', (v) => this.injectAfter.push(v ?? ''));
    this.handlers.set('early-envdir', (v, o) => this.envdir(v ?? '', o));
    for (const k of ['plugin', 'plugins', 'need-plugin', 'need-plugins']) {
      this.handlers.set(k, (v) => {
        for (const p of (v ?? '').split(',')) if (p !== '') this.plugins.add(pluginName(fromBytes(p)));
      });
    }
    this.handlers.set('iprint', (v) => this.r.onPrint(v === null ? '(null)' : fromBytes(v)));
    this.handlers.set('exit', (v, o) => {
      throw new ConfigExitRequest(v === null ? 1 : atoi(v), o);
    });
  }

  // ---- errors ----------------------------------------------------------------------------------

  private unsupported(what: string, origin: ConfigOrigin, option: string | null): ConfigError {
    return new ConfigError('TSGI_ERR_CONFIG_UNSUPPORTED', `${what} not supported by tsgi`, origin, option);
  }

  private warn(message: string, origin: ConfigOrigin | null, option: string | null): void {
    this.r.onWarning({ message, origin, option });
  }

  // ---- add_exported_option ---------------------------------------------------------------------

  /**
   * Add one `key = value` (uWSGI's `add_exported_option_do()`): white/blacklist contexts, then the
   * logic state machine, then the entry and, for an immediate option, its effect.
   */
  add(key: Bytes, value: Bytes | null, origin: ConfigOrigin, placeholderOnly = false): void {
    const name = fromBytes(key);
    if (this.blacklist !== null && listHas(this.blacklist, key)) {
      throw new ConfigError('TSGI_ERR_CONFIG_FORBIDDEN', 'forbidden option (by blacklist)', origin, name);
    }
    if (this.whitelist !== null && !listHas(this.whitelist, key)) {
      throw new ConfigError('TSGI_ERR_CONFIG_FORBIDDEN', 'forbidden option (by whitelist)', origin, name);
    }
    if (this.running) {
      if (LOGIC_CLOSERS.has(name)) {
        throw new ConfigError(
          'TSGI_ERR_CONFIG_LOGIC',
          `'${name}' inside the body of '${this.logic?.name}' (${formatOrigin(this.logic?.origin)}): blocks cannot nest`,
          origin,
          name,
        );
      }
    } else if (LOGIC_CLOSERS.has(name)) {
      if (this.logic === null) {
        throw new ConfigError(
          'TSGI_ERR_CONFIG_LOGIC',
          `'${name}' without an open if/for block`,
          origin,
          name,
        );
      }
      this.logic = null;
    } else if (this.logic !== null) {
      const logic = this.logic;
      if (LOGIC_OPENERS.has(name)) throw this.nested(name, origin);
      this.running = true;
      try {
        logic.fn(logic.arg, key, value, this.logicContext(origin, logic));
      } finally {
        this.running = false;
      }
      return;
    }
    const entry: RawEntry = { key, value, origin, configured: false };
    if (!this.firstIndex.has(key)) this.firstIndex.set(key, this.entries.length);
    this.entries.push(entry);
    if (placeholderOnly) {
      if (this.r.isKnownOption(name)) {
        throw new ConfigError(
          'TSGI_ERR_CONFIG_PLACEHOLDER',
          'cannot be used as a placeholder, it is already an option',
          origin,
          name,
        );
      }
      entry.configured = true;
      return;
    }
    const handler = this.handlers.get(name);
    if (handler) {
      entry.configured = true;
      handler(value, origin, key);
    } else if (uwsgiOption(name)?.immediate) {
      entry.configured = true;
    }
  }

  private nested(name: string, origin: ConfigOrigin): ConfigError {
    return new ConfigError(
      'TSGI_ERR_CONFIG_LOGIC',
      `'${name}' inside the '${this.logic?.name}' block opened at ${formatOrigin(this.logic?.origin)}: ` +
        'if/for blocks cannot nest (uWSGI: recursive logic in options is not supported)',
      origin,
      name,
    );
  }

  private openLogic(name: string, fn: LogicFn, value: Bytes | null, origin: ConfigOrigin): void {
    if (this.logic !== null) throw this.nested(name, origin);
    this.logic = { name, fn, arg: value ?? '', origin, scope: this.scope };
  }

  private logicContext(origin: ConfigOrigin, logic: Logic): LogicContext {
    const r = this.r;
    return {
      cwd: r.cwd,
      hostname: r.hostname,
      isReload: r.isReload,
      env: (n) => this.env.get(n) ?? null,
      option: (n) => this.option(n),
      pluginLoaded: (n) => {
        const name = fromBytes(n);
        if (this.plugins.has(name)) return true;
        if (!r.isPluginLoaded) {
          throw this.unsupported(`'${logic.name}' (no plugin registry given)`, logic.origin, logic.name);
        }
        return r.isPluginLoaded(name);
      },
      warn: (m) => this.warn(m, origin, logic.name),
      add: (k, v) => this.add(k, v, origin),
    };
  }

  /** `uwsgi_get_exported_opt()`: the first entry's value for `key` (null if none or valueless). */
  private option(key: Bytes): Bytes | null {
    const i = this.firstIndex.get(key);
    return i === undefined ? null : (this.entries[i]!.value ?? null);
  }

  /** Fail if a logic block opened in the scope that is ending is still open. */
  private closeScope(scope: number): void {
    if (this.logic !== null && this.logic.scope === scope) {
      const l = this.logic;
      throw new ConfigError(
        'TSGI_ERR_CONFIG_UNTERMINATED',
        `'${l.name}' block is never closed (add endif/endfor)`,
        l.origin,
        l.name,
      );
    }
  }

  private withScope(fn: () => void): void {
    const saved = this.scope;
    const scope = this.nextScope++;
    this.scope = scope;
    try {
      fn();
      this.closeScope(scope);
    } finally {
      this.scope = saved;
    }
  }

  // ---- immediate options -----------------------------------------------------------------------

  private setPlaceholder(value: Bytes, origin: ConfigOrigin, placeholderOnly: boolean): void {
    const eq = value.indexOf('=');
    if (eq < 0) {
      throw new ConfigError(
        'TSGI_ERR_CONFIG_SYNTAX',
        `invalid placeholder/--set value '${fromBytes(value)}' (expected name=value)`,
        origin,
        placeholderOnly ? 'set-placeholder' : 'set',
      );
    }
    this.add(value.slice(0, eq), value.slice(eq + 1), origin, placeholderOnly);
  }

  private resolve(value: Bytes, origin: ConfigOrigin): void {
    const eq = value.indexOf('=');
    if (eq < 0) {
      throw new ConfigError(
        'TSGI_ERR_CONFIG_SYNTAX',
        'invalid resolve syntax, must be placeholder=domain',
        origin,
        'resolve',
      );
    }
    const domain = fromBytes(value.slice(eq + 1));
    const ip = this.r.resolveHost(domain);
    if (ip === null)
      throw new ConfigError('TSGI_ERR_CONFIG_RESOLVE', `unable to resolve name ${domain}`, origin, 'resolve');
    this.setPlaceholder(value.slice(0, eq + 1) + toBytes(ip), origin, true);
  }

  /**
   * `early-envdir` (`uwsgi_envdir()`): every regular, non-hidden file of the directory sets the
   * variable of its name to its content (as a C string, trailing white space removed); an empty
   * file unsets it. Changes the environment later `if-env` and the `$()` pass see.
   */
  private envdir(dir: Bytes, origin: ConfigOrigin): void {
    const fail = (what: string, err: unknown): ConfigError =>
      new ConfigError(
        'TSGI_ERR_CONFIG_FILE',
        `early-envdir: ${what}: ${(err as Error).message}`,
        origin,
        'early-envdir',
      );
    let names: Bytes[];
    try {
      names = readdirSync(fsPath(dir, this.r.cwd), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
    } catch (err) {
      throw fail(`cannot open ${fromBytes(dir)}`, err);
    }
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const path = fsPath(`${dir}/${name}`, this.r.cwd);
      try {
        const st = statSync(path);
        if (!st.isFile()) continue;
        if (st.size === 0) {
          this.env.delete(name);
          continue;
        }
        this.env.set(name, cString(readFileSync(path).toString('latin1')).replace(/[\r\n\t ]+$/, ''));
      } catch (err) {
        throw fail(`cannot read ${fromBytes(name)}`, err);
      }
    }
  }

  /** `uwsgi_opt_load()`: a file by extension (`include`, `inherit`, a bare argument); no uppercase magic. */
  optLoad(filename: Bytes, origin: ConfigOrigin): void {
    const saved = this.r.magic.firstRoundDone;
    this.r.magic.firstRoundDone = true;
    try {
      if (filename.endsWith('.ini')) {
        this.loadIni(filename, origin);
        return;
      }
      for (const ext of ['.xml', '.yaml', '.yml', '.json', '.js']) {
        if (filename.endsWith(ext))
          throw this.unsupported(`${ext.slice(1).toUpperCase()} config files`, origin, null);
      }
      throw new ConfigError(
        'TSGI_ERR_CONFIG_FILE',
        `unable to load configuration from ${fromBytes(filename)} (only .ini files are read by extension)`,
        origin,
        null,
      );
    } finally {
      this.r.magic.firstRoundDone = saved;
    }
  }

  /** `uwsgi_opt_load_ini()`: fill the magic table, then read one section of the file. */
  loadIni(filename: Bytes, origin: ConfigOrigin): void {
    const what = fromBytes(filename);
    const magic = this.r.magic;
    const setUpper = fillFileMagic(
      magic,
      filename,
      {
        cwd: this.r.cwd,
        binary: this.r.binary,
        onMissing: (name) => {
          if (this.r.readFile) return fallbackFullPath(name, this.r.cwd);
          throw new ConfigError(
            'TSGI_ERR_CONFIG_FILE',
            `cannot read config file '${fromBytes(name)}': no such file`,
            origin,
            null,
          );
        },
      },
      true,
    );
    const scheme = configScheme(filename);
    let colon: number;
    if (scheme !== null) {
      const slash = filename.lastIndexOf('/');
      const c = filename.slice(slash + 1).lastIndexOf(':');
      colon = c < 0 ? -1 : slash + 1 + c;
    } else {
      colon = filename.lastIndexOf(':');
    }
    let file = colon >= 0 ? filename.slice(0, colon) : filename;
    let section: Bytes = 'uwsgi';
    let explicit = false;
    if (colon >= 0 && colon + 1 < filename.length) {
      section = filename.slice(colon + 1);
      explicit = true;
    }
    // uWSGI cuts the ':section' off the string %o (and a first-round %O) point to while it reads.
    magic.set('o', file);
    if (setUpper) magic.set('O', file);
    if (colon === 0) {
      if (this.lastFile === null) {
        throw new ConfigError('TSGI_ERR_CONFIG_FILE', `'${what}': no ini file was read before`, origin, null);
      }
      file = this.lastFile;
    }
    const id = `${configScheme(file) !== null ? fromBytes(file) : fromBytes(fallbackFullPath(file, this.r.cwd))}\0${fromBytes(section)}`;
    if (this.readStack.includes(id)) {
      throw new ConfigError(
        'TSGI_ERR_CONFIG_INCLUDE_CYCLE',
        `'${fromBytes(file)}' (section [${fromBytes(section)}]) includes itself`,
        origin,
        null,
      );
    }
    if (this.readStack.length >= MAX_DEPTH) {
      throw new ConfigError(
        'TSGI_ERR_CONFIG_INCLUDE_CYCLE',
        `config files nested more than ${MAX_DEPTH} deep`,
        origin,
        null,
      );
    }
    const { text, locate } = this.readWithInjects(file, origin);
    this.lastFile = file;
    const sub = magicSub(text, magic);
    if (!explicit) {
      const names = iniSectionNames(sub.text);
      if (!names.includes('uwsgi') && names.includes('tsgi')) section = 'tsgi';
    }
    const lines = readIniSection(sub.text, section);
    const source = configScheme(file) === 'emperor' ? 'emperor' : 'ini';
    this.readStack.push(id);
    try {
      this.withScope(() => {
        for (const l of lines) {
          const where = locate(sub.lineStarts[l.line - 1] ?? l.line);
          this.add(l.key, l.value, { source, file: where.file, line: where.line });
        }
      });
    } finally {
      this.readStack.pop();
    }
    if (lines.length === 0) {
      this.warn(
        `can't find section "${fromBytes(section)}" in INI configuration file ${fromBytes(file)}`,
        origin,
        null,
      );
    }
    if (setUpper) magic.set('O', filename);
  }

  /** Read a config source with `inject-before` / `inject-after` texts around it (no magic yet). */
  private readWithInjects(
    file: Bytes,
    origin: ConfigOrigin,
  ): { text: Bytes; locate: (line: number) => { file: string; line: number } } {
    const read = (url: Bytes): Bytes => {
      try {
        return readSource(url, this.r);
      } catch (err) {
        if (err instanceof SourceError) {
          const code = err.kind === 'unsupported' ? 'TSGI_ERR_CONFIG_UNSUPPORTED' : 'TSGI_ERR_CONFIG_FILE';
          throw new ConfigError(code, err.message, origin, null, { cause: err });
        }
        throw err;
      }
    };
    const chunks: { file: string; start: number; text: Bytes }[] = [];
    let line = 1;
    const push = (url: Bytes): void => {
      const text = read(url);
      chunks.push({ file: fromBytes(url), start: line, text });
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) line++;
    };
    for (const b of this.injectBefore) push(b);
    push(file);
    for (const a of this.injectAfter) push(a);
    const main = fromBytes(file);
    if (chunks.length === 1) return { text: chunks[0]!.text, locate: (l) => ({ file: main, line: l }) };
    return {
      text: chunks.map((c) => c.text).join(''),
      locate: (l) => {
        let c = chunks[0]!;
        for (const k of chunks) if (k.start <= l) c = k;
        return { file: c.file, line: l - c.start + 1 };
      },
    };
  }

  // ---- phases ----------------------------------------------------------------------------------

  /** `parse_sys_envs()`: every `UWSGI_*` variable except uWSGI's own, in environment order. */
  readEnvironment(env: Iterable<readonly [string, string]>): void {
    const skip = new Set([
      'UWSGI_RELOADS',
      'UWSGI_VASSALS_DIR',
      'UWSGI_EMPEROR_FD',
      'UWSGI_BROODLORD_NUM',
      'UWSGI_EMPEROR_FD_CONFIG',
      'UWSGI_EMPEROR_PROXY',
      'UWSGI_JAIL_PID',
      'UWSGI_ORIGINAL_PROC_NAME',
    ]);
    this.withScope(() => {
      for (const [name, value] of env) {
        if (!name.startsWith('UWSGI_') || skip.has(name)) continue;
        const key = asciiLower(name.slice(6)).replace(/_/g, '-');
        this.add(toBytes(key), toBytes(value), { source: 'env', file: name, line: 0 });
      }
    });
  }

  /** Run `fn` (the command-line options) as one logic scope: a block opened there must close there. */
  inScope(fn: () => void): void {
    this.withScope(fn);
  }

  /** The expansion passes and the configure walk; returns the final entries. */
  finish(): ConfigEntry[] {
    const env = this.env;
    this.pass('$', (k) => env.get(k) ?? null);
    this.pass('@', (k) => readAtFile(k, this.r), true);
    this.pass('%', (k) => managePlaceholder(k, (n) => this.option(n)));
    for (let i = 0; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.configured) continue;
      if (e.key === 'inherit') {
        e.configured = true;
        this.withScope(() => this.optLoad(e.value ?? '', e.origin));
      } else if (e.key === 'print') {
        e.configured = true;
        this.r.onPrint(e.value === null ? '(null)' : fromBytes(e.value));
      }
    }
    return this.entries.map((e) => ({
      key: fromBytes(e.key),
      value: e.value === null ? 'true' : fromBytes(e.value),
      origin: e.origin,
    }));
  }

  private pass(symbol: string, hook: (key: Bytes) => Bytes | null, files = false): void {
    for (const e of this.entries) {
      if (e.value === null || e.configured) continue;
      try {
        e.value = expandValue(e.value, symbol, hook);
      } catch (err) {
        if (err instanceof ExpansionRunaway) {
          throw new ConfigError('TSGI_ERR_CONFIG_EXPANSION', err.message, e.origin, fromBytes(e.key));
        }
        if (files && err instanceof SourceError) {
          const code = err.kind === 'unsupported' ? 'TSGI_ERR_CONFIG_UNSUPPORTED' : 'TSGI_ERR_CONFIG_FILE';
          throw new ConfigError(code, `@(): ${err.message}`, e.origin, fromBytes(e.key), { cause: err });
        }
        throw err;
      }
    }
  }
}
