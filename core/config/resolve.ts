import { ConfigError, type ConfigOrigin } from '../errors.js';
import { READER_CONSUMED_KEYS } from './ini-reader.js';
import type { OptionIndex, OptionSpec, OptionTable, OptionValues } from './option.js';
import type { ConfigEntry, ConfigWarning } from './types.js';
import { ignoringChangesBehaviour } from './unsupported.js';
import { isUwsgiOption, suggestOption } from './uwsgi-options.js';

/**
 * Keys the config reader itself consumes (includes, placeholders, logic blocks, `print`...) and
 * `show-config`: uWSGI prints them in `--show-config`, but they are not instance options.
 */
function readerKey(key: string): boolean {
  return key === 'show-config' || READER_CONSUMED_KEYS.has(key);
}

interface Occurrences {
  readonly spec: OptionSpec;
  readonly values: unknown[];
  readonly origins: ConfigOrigin[];
}

/**
 * An instance's configuration after validation: every option's typed value, the raw entry list for
 * `--show-config` and the stats page, and the warnings found on the way. Immutable.
 */
export class InstanceConfig {
  private readonly cache = new Map<OptionTable, unknown>();

  constructor(
    /** The resolved entries in order (what `--show-config` prints). */
    readonly entries: readonly ConfigEntry[],
    private readonly given: ReadonlyMap<string, Occurrences>,
    /** Keys that are not options: uWSGI placeholders (`base = /srv`). */
    readonly placeholders: ReadonlyMap<string, string>,
    readonly warnings: readonly ConfigWarning[],
  ) {}

  /** Typed values for one option table (defaults where not given). Cached per table. */
  values<T extends OptionTable>(table: T): OptionValues<T> {
    let v = this.cache.get(table) as OptionValues<T> | undefined;
    if (!v) {
      const out: Record<string, unknown> = {};
      for (const [name, spec] of Object.entries(table)) out[name] = this.valueOf(name, spec);
      v = Object.freeze(out) as OptionValues<T>;
      this.cache.set(table, v);
    }
    return v;
  }

  /** Whether the option (canonical name) appears in the config at all. */
  has(name: string): boolean {
    return this.given.has(name);
  }

  /** Where the last occurrence of an option came from, for error messages. */
  origin(name: string): ConfigOrigin | null {
    const o = this.given.get(name);
    return o ? (o.origins[o.origins.length - 1] ?? null) : null;
  }

  /** Every origin of a list option, index-aligned with its values. */
  origins(name: string): readonly ConfigOrigin[] {
    return this.given.get(name)?.origins ?? [];
  }

  private valueOf(name: string, spec: OptionSpec): unknown {
    const o = this.given.get(name);
    if (!o) return spec.default;
    return spec.list ? Object.freeze([...o.values]) : o.values[o.values.length - 1];
  }
}

/** How unknown keys are treated: uWSGI's `strict` turns every unknown key into an error. */
export interface ResolveOptions {
  readonly strict?: boolean;
}

/**
 * Validate an entry list against the declared options and build the {@link InstanceConfig}.
 * - a declared option (or alias) is parsed by its spec; a bad value throws;
 * - a uWSGI option that tsgi does not implement is named: an error when ignoring it changes behaviour
 *   (see unsupported.ts), else a warning;
 * - any other key is a placeholder, as in uWSGI; a key that looks like a misspelt option gets a
 *   warning naming the likely option; with `strict` it is an error; on the command line it is always
 *   an error (a flag is never a placeholder).
 * @throws {ConfigError} with the file, line and option of the first problem.
 */
export function resolveConfig(
  entries: readonly ConfigEntry[],
  index: OptionIndex,
  opts: ResolveOptions = {},
  readerWarnings: readonly ConfigWarning[] = [],
): InstanceConfig {
  const given = new Map<string, Occurrences>();
  const placeholders = new Map<string, string>();
  const warnings: ConfigWarning[] = [...readerWarnings];
  const strict = opts.strict ?? entries.some((e) => e.key === 'strict' && e.value !== 'false');

  for (const e of entries) {
    const found = index.get(e.key);
    if (found) {
      let occ = given.get(found.canonical);
      if (!occ) {
        occ = { spec: found.spec, values: [], origins: [] };
        given.set(found.canonical, occ);
      }
      occ.values.push(found.spec.parse(e.value, e.key, e.origin));
      occ.origins.push(e.origin);
      continue;
    }
    if (readerKey(e.key)) continue;
    if (isUwsgiOption(e.key)) {
      const message = `uWSGI option '${e.key}' is not supported by tsgi`;
      if (ignoringChangesBehaviour(e.key))
        throw new ConfigError(
          'TSGI_ERR_CONFIG_UNSUPPORTED',
          `is a uWSGI option that tsgi does not support, and ignoring it would change what the instance does (see docs/compat.md)`,
          e.origin,
          e.key,
        );
      warnings.push({ message: `${message}; ignored`, origin: e.origin, option: e.key });
      continue;
    }
    const guess = suggestOption(e.key, index.names());
    if (e.origin.source === 'argv' || strict) {
      throw new ConfigError(
        'TSGI_ERR_CONFIG_UNKNOWN_OPTION',
        `unknown option${guess ? ` (did you mean '${guess}'?)` : ''}`,
        e.origin,
        e.key,
      );
    }
    if (guess)
      warnings.push({
        message: `'${e.key}' is not an option, so it is kept as a placeholder; did you mean '${guess}'?`,
        origin: e.origin,
        option: e.key,
      });
    placeholders.set(e.key, e.value);
  }
  return new InstanceConfig(Object.freeze([...entries]), given, placeholders, Object.freeze(warnings));
}
