/**
 * tsgi's reader for uWSGI's config language — public entry point.
 *
 * `loadConfigEntries(argv, opts)` turns a command line (plus `UWSGI_*` environment variables and
 * every ini file they reach) into the ordered `key = value` list uWSGI 2.0.21 builds, the list
 * `uwsgi --show-config` prints. Semantics follow uWSGI's source (core/ini.c, core/config.c,
 * core/uwsgi.c, core/utils.c) and are checked against the real binary by golden tests.
 * tsgi differs on purpose in a few places (see `docs/config.md`): `[tsgi]` is read from a file
 * without `[uwsgi]`; unterminated, stray or nested if/for blocks, include cycles and constructs
 * tsgi does not implement are `ConfigError`s where uWSGI goes on silently or crashes.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname as osHostname, userInfo } from 'node:os';
import type { ConfigOrigin } from '../errors.js';
import { type Arity, splitArgv } from './argv.js';
import { toBytes } from './bytes.js';
import { newMagicTable } from './magic.js';
import { ConfigReader } from './reader.js';
import type { ConfigEntry, ConfigWarning } from './types.js';
import { isUwsgiOption, uwsgiOption, uwsgiShortOption } from './uwsgi-options.js';

export type { Arity } from './argv.js';
export { ConfigExitRequest, READER_CONSUMED_KEYS } from './reader.js';
export { extractShowConfig, formatShowConfig } from './show-config.js';

/** Options for `loadConfig` / `loadConfigEntries`. Every field is optional. */
export interface LoadConfigOptions {
  /**
   * Arity of a command-line option by long name (tsgi's own option tables). `undefined` falls back
   * to uWSGI's table, then to the heuristic "the next argument is the value unless it starts with -".
   */
  readonly arity?: (name: string) => Arity | undefined;
  /** Extra short flags, `{ q: 'quiet' }`; they take precedence over uWSGI's (`-s` socket, `-M` master...). */
  readonly shortOptions?: Readonly<Record<string, string>>;
  /**
   * Read a config file (path as written, relative to `cwd`; `-` means stdin). Default: the file
   * system. With a custom reader, a path that does not exist on disk gets `%p` = `path.resolve(cwd, path)`.
   */
  readonly readFile?: (path: string) => string | Uint8Array;
  /** In-band ini text for `--ini emperor://NAME` (how uWSGI's emperor passes a vassal its config). */
  readonly inline?: { readonly name: string; readonly text: string | Uint8Array };
  /** Environment for `UWSGI_*` options, `$(VAR)` and `if-env`. Default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Working directory relative config paths resolve against (and `%v`). Default `process.cwd()`. */
  readonly cwd?: string;
  /** For `if-reload` / `if-not-reload`. Default: whether `UWSGI_RELOADS` is set in `env`, as uWSGI. */
  readonly isReload?: boolean;
  /** `%h` and `if-hostname`. Default `os.hostname()`. */
  readonly hostname?: string;
  /**
   * Overrides for the static magic variables, by letter: `v h t T V k u U g G b` (cwd, hostname,
   * start time s/µs, version, CPUs, uid, user, gid, group, binary). Defaults: as uWSGI computes
   * them; `V` = `2.0.21`, `b` = `process.execPath`.
   */
  readonly magic?: Readonly<Partial<Record<string, string>>>;
  /** `if-plugin` / `if-not-plugin`. Without it those blocks are a `TSGI_ERR_CONFIG_UNSUPPORTED` error. */
  readonly isPluginLoaded?: (name: string) => boolean;
  /** `exec://` sources: the command's stdout. Default `/bin/sh -c` (30 s limit). */
  readonly exec?: (command: string) => string | Uint8Array;
  /** `resolve = name=host`: an IPv4 address or null. Default `getent ahostsv4` (5 s limit). */
  readonly resolveHost?: (name: string) => string | null;
  /** `print` (after expansion, in entry order) and `iprint` (immediately) output. Default: stdout. */
  readonly onPrint?: (text: string) => void;
  /** Non-fatal remarks (missing section, unreadable `for-readline` file...). Default: collected only. */
  readonly onWarning?: (warning: ConfigWarning) => void;
}

/** What `loadConfig` returns. */
export interface LoadedConfig {
  /** Resolved entries in uWSGI order (what `--show-config` prints). */
  readonly entries: ConfigEntry[];
  /** Non-fatal remarks met on the way (also passed to `onWarning`). */
  readonly warnings: ConfigWarning[];
}

function defaultResolveHost(name: string): string | null {
  try {
    const out = execFileSync('getent', ['ahostsv4', name], {
      encoding: 'utf8',
      timeout: 5000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split(/\s+/)[0] || null;
  } catch {
    return null;
  }
}

function groupName(gid: number): string {
  try {
    for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length >= 3 && f[2] === String(gid)) return f[0]!;
    }
  } catch {
    // no /etc/group: uWSGI falls back to the number too
  }
  return String(gid);
}

function staticMagic(opts: LoadConfigOptions, cwd: string, host: string) {
  const m = opts.magic ?? {};
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  let user = String(uid);
  try {
    user = userInfo().username;
  } catch {
    // getpwuid() failed: uWSGI uses the uid
  }
  const micros = BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
  return {
    cwd: m.v ?? cwd,
    hostname: m.h ?? host,
    time: m.t ?? String(micros / 1_000_000n),
    timeMicros: m.T ?? String(micros),
    version: m.V ?? '2.0.21',
    cpus: m.k ?? String(cpus().length || 1),
    uid: m.u ?? String(uid),
    user: m.U ?? user,
    gid: m.g ?? String(gid),
    group: m.G ?? groupName(gid),
    binary: m.b ?? process.execPath,
  };
}

/**
 * Read a whole configuration the way uWSGI 2.0.21 does: `UWSGI_*` environment variables first
 * (except uWSGI's own: `UWSGI_RELOADS`, `UWSGI_VASSALS_DIR`, `UWSGI_EMPEROR_FD`,
 * `UWSGI_EMPEROR_FD_CONFIG`, `UWSGI_EMPEROR_PROXY`, `UWSGI_BROODLORD_NUM`, `UWSGI_JAIL_PID`,
 * `UWSGI_ORIGINAL_PROC_NAME`), then the command-line options in order (loaders such as `--ini`
 * expanded in place), then bare arguments (`app.ini` = load by extension; arguments starting with
 * `[` are ignored); then `$(VAR)`, `@(file)` and `%(name)` expansion of every non-immediate value;
 * then `inherit` files appended at the end (unexpanded, as uWSGI) and `print` output.
 *
 * Origins: argv `{source:'argv', file:null, line:<1-based argv index>}`, ini
 * `{source:'ini', file:<path as given>, line}`, `emperor://` in-band text `{source:'emperor', ...}`,
 * environment `{source:'env', file:<variable name>, line:0}`.
 *
 * @param argv command-line arguments without the program name.
 * @throws {ConfigError} `TSGI_ERR_CONFIG_ARGUMENT` (bad command line), `TSGI_ERR_CONFIG_FILE`
 *   (config file or `@(file)` unreadable, unknown extension), `TSGI_ERR_CONFIG_INCLUDE_CYCLE`,
 *   `TSGI_ERR_CONFIG_LOGIC` (stray `endif`/`endfor`, nested blocks), `TSGI_ERR_CONFIG_UNTERMINATED`,
 *   `TSGI_ERR_CONFIG_SYNTAX` (`set` without `=`), `TSGI_ERR_CONFIG_PLACEHOLDER` (`set-ph` of an
 *   option name), `TSGI_ERR_CONFIG_FORBIDDEN` (black/whitelist), `TSGI_ERR_CONFIG_UNSUPPORTED`
 *   (XML/YAML/JSON, custom options, unsupported schemes, `if-plugin` without registry),
 *   `TSGI_ERR_CONFIG_EXPANSION` (self-feeding placeholder), `TSGI_ERR_CONFIG_RESOLVE`;
 *   {ConfigExitRequest} (`TSGI_ERR_CONFIG_EXIT`) when the config runs `exit`.
 */
export function loadConfig(argv: readonly string[], opts: LoadConfigOptions = {}): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const envObj = opts.env ?? process.env;
  const envPairs: [string, string][] = [];
  for (const [k, v] of Object.entries(envObj)) if (v !== undefined) envPairs.push([k, v]);
  const host = opts.hostname ?? osHostname();
  const s = staticMagic(opts, cwd, host);
  const warnings: ConfigWarning[] = [];
  const tsgiArity = opts.arity;
  const reader = new ConfigReader({
    cwd,
    readFile: opts.readFile,
    inline: opts.inline,
    exec: opts.exec,
    env: new Map(envPairs.map(([k, v]) => [toBytes(k), toBytes(v)])),
    hostname: toBytes(host),
    isReload: opts.isReload ?? envObj.UWSGI_RELOADS !== undefined,
    binary: s.binary,
    magic: newMagicTable(s),
    isKnownOption: (name) => isUwsgiOption(name) || tsgiArity?.(name) !== undefined,
    isPluginLoaded: opts.isPluginLoaded,
    resolveHost: opts.resolveHost ?? defaultResolveHost,
    onPrint: opts.onPrint ?? ((text) => process.stdout.write(`${text}\n`)),
    onWarning: (w) => {
      warnings.push(w);
      opts.onWarning?.(w);
    },
  });
  reader.readEnvironment(envPairs);
  const split = splitArgv(argv, {
    arity: (name) => tsgiArity?.(name) ?? uwsgiOption(name)?.arity,
    short: (flag) => opts.shortOptions?.[flag] ?? uwsgiShortOption(flag)?.name,
  });
  reader.inScope(() => {
    for (const o of split.options) {
      const origin: ConfigOrigin = { source: 'argv', file: null, line: o.index };
      reader.add(toBytes(o.name), o.value === null ? null : toBytes(o.value), origin);
    }
  });
  for (const p of split.positionals) {
    if (p.arg.startsWith('[')) continue;
    const origin: ConfigOrigin = { source: 'argv', file: null, line: p.index };
    reader.inScope(() => reader.optLoad(toBytes(p.arg), origin));
  }
  return { entries: reader.finish(), warnings };
}

/**
 * `loadConfig(argv, opts).entries`: the ordered entry list, ready for `formatShowConfig()` and for
 * the caller's option validation (unknown keys are placeholders and are kept).
 * @throws {ConfigError} as `loadConfig`.
 */
export function loadConfigEntries(argv: readonly string[], opts: LoadConfigOptions = {}): ConfigEntry[] {
  return loadConfig(argv, opts).entries;
}
