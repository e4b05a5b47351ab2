import { ConfigError, type ConfigOrigin } from '../errors.js';

/** Whether an option takes a value on the command line (`--master` vs `--processes 4`). */
export type OptionArity = 'none' | 'required' | 'optional';

/**
 * One option as a plugin or the core declares it: uWSGI's `struct uwsgi_option` idea (name, help,
 * how to parse) plus a default, a unit and the tsgi-specific notes that the docs page is generated from.
 * `T` is the parsed value of one occurrence; list options collect every occurrence in order.
 */
export interface OptionSpec<T = unknown, L extends boolean = boolean> {
  /** Human type for the docs: `number`, `bytes`, `seconds`, `address`, `string`, `boolean`, ... */
  readonly type: string;
  /** Repeatable: every occurrence is kept in order (uWSGI list options such as `socket`, `env`). */
  readonly list: L;
  /** Value when the option is absent (lists default to `[]` unless given). */
  readonly default: L extends true ? readonly T[] : T;
  /** Unit of the user-facing value (`seconds`, `bytes`, `ms`, `MB`), shown in the docs. */
  readonly unit?: string;
  /** One-line help, shown by `tsgi --help` and in docs/options.md. */
  readonly help: string;
  /** Other names for the same option (uWSGI's aliases: `workers` for `processes`). */
  readonly aliases?: readonly string[];
  /** uWSGI's one-letter command-line form, if it has one (`p` for `processes`). */
  readonly short?: string;
  readonly arity: OptionArity;
  /**
   * Set when tsgi's meaning or default differs from uWSGI's; the text goes to docs/compat.md and the
   * option reference.
   */
  readonly departure?: string;
  /** `extension`: not a uWSGI option (tsgi's own). */
  readonly origin?: 'uwsgi' | 'extension';
  /**
   * Parse one occurrence.
   * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE naming the origin and option when the text is invalid.
   */
  parse(text: string, name: string, origin: ConfigOrigin): T;
}

/** A plugin's or the core's options, keyed by the canonical option name as written in `.ini` files. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The typed values of a table: scalars are `T`, lists are `readonly T[]`. */
export type OptionValues<Tab extends OptionTable> = {
  readonly [K in keyof Tab]: Tab[K] extends OptionSpec<infer V, infer L>
    ? L extends true
      ? readonly V[]
      : V
    : never;
};

interface Common<T> {
  help: string;
  default?: T;
  unit?: string;
  aliases?: readonly string[];
  short?: string;
  departure?: string;
  origin?: 'uwsgi' | 'extension';
}

function bad(name: string, origin: ConfigOrigin, message: string): ConfigError {
  return new ConfigError('TSGI_ERR_CONFIG_VALUE', message, origin, name);
}

function scalar<T>(
  type: string,
  arity: OptionArity,
  fallback: T,
  c: Common<T>,
  parse: OptionSpec<T, false>['parse'],
): OptionSpec<T, false> {
  return { ...c, type, arity, list: false, default: c.default ?? fallback, parse };
}

const FALSE_WORDS = new Set(['false', 'off', 'no', '0']);
const TRUE_WORDS = new Set(['true', 'on', 'yes', '1', '']);

/** Parse an integer strictly: decimal digits with an optional sign; `true` is not a number. */
export function parseIntStrict(text: string): number | null {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * Parse a size: bytes with an optional `k`, `m`, `g` suffix (powers of 1024), as uWSGI's
 * `uwsgi_opt_set_64bit_size` style options accept.
 */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+)\s*([kKmMgG]?)[bB]?\s*$/.exec(text);
  if (!m) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}

/** Option builders. Each returns an {@link OptionSpec}; `list()` makes it repeatable. */
export const option = {
  /** Free text. */
  string(c: Common<string | null>): OptionSpec<string | null, false> {
    return scalar('string', 'required', null, c, (t) => t);
  },
  /** A filesystem path (relative paths are kept as written; callers resolve them). */
  path(c: Common<string | null>): OptionSpec<string | null, false> {
    return scalar('path', 'required', null, c, (t) => t);
  },
  /**
   * A boolean flag. Present without value = true; `false`/`off`/`no`/`0` = false (uWSGI's
   * `uwsgi_opt_true`); any other word is an error (uWSGI would silently treat it as true).
   */
  bool(c: Common<boolean>): OptionSpec<boolean, false> {
    return scalar('boolean', 'optional', false, c, (t, name, origin) => {
      const v = t.trim().toLowerCase();
      if (FALSE_WORDS.has(v)) return false;
      if (TRUE_WORDS.has(v)) return true;
      throw bad(name, origin, `expected true/false/on/off/yes/no/1/0, got '${t}'`);
    });
  },
  /** An integer within [min, max]; `true` or `4x` is an error (uWSGI's strtol would read 0 or 4). */
  int(c: Common<number> & { min?: number; max?: number }): OptionSpec<number, false> {
    return scalar('number', 'required', 0, c, (t, name, origin) => {
      const n = parseIntStrict(t);
      if (n === null) throw bad(name, origin, `expected an integer, got '${t}'`);
      if (c.min !== undefined && n < c.min) throw bad(name, origin, `must be at least ${c.min}, got ${n}`);
      if (c.max !== undefined && n > c.max) throw bad(name, origin, `must be at most ${c.max}, got ${n}`);
      return n;
    });
  },
  /** A byte count (`4096`, `64k`, `2M`) within [min, max] bytes. */
  bytes(c: Common<number> & { min?: number; max?: number }): OptionSpec<number, false> {
    return scalar('bytes', 'required', 0, { unit: 'bytes', ...c }, (t, name, origin) => {
      const n = parseSize(t);
      if (n === null) throw bad(name, origin, `expected a size in bytes (e.g. 4096, 64k, 2M), got '${t}'`);
      if (c.min !== undefined && n < c.min)
        throw bad(name, origin, `must be at least ${c.min} bytes, got ${n}`);
      if (c.max !== undefined && n > c.max)
        throw bad(name, origin, `must be at most ${c.max} bytes, got ${n}`);
      return n;
    });
  },
  /** A duration in whole seconds as uWSGI takes it; the parsed value is seconds. */
  seconds(c: Common<number> & { min?: number }): OptionSpec<number, false> {
    return scalar('seconds', 'required', 0, { unit: 'seconds', ...c }, (t, name, origin) => {
      const n = parseIntStrict(t);
      if (n === null) throw bad(name, origin, `expected a number of seconds, got '${t}'`);
      if (n < (c.min ?? 0)) throw bad(name, origin, `must be at least ${c.min ?? 0} seconds, got ${n}`);
      return n;
    });
  },
  /** An octal file mode (`chmod-socket = 660`); a bare flag means uWSGI's 666. */
  mode(c: Common<number | null>): OptionSpec<number | null, false> {
    return scalar('mode', 'optional', null, c, (t, name, origin) => {
      const v = t.trim();
      if (v === '' || v === 'true') return 0o666;
      if (!/^[0-7]{3,4}$/.test(v)) throw bad(name, origin, `expected an octal mode such as 660, got '${t}'`);
      return Number.parseInt(v, 8);
    });
  },
  /** One of a fixed set of words. */
  enumOf<W extends string>(words: readonly W[], c: Common<W>): OptionSpec<W, false> {
    return scalar(words.join('|'), 'required', words[0]!, c, (t, name, origin) => {
      const v = t.trim() as W;
      if (!words.includes(v)) throw bad(name, origin, `expected one of ${words.join(', ')}, got '${t}'`);
      return v;
    });
  },
  /** A repeatable text option (`socket`, `env`, `route`): every occurrence kept in order. */
  strings(c: Omit<Common<string>, 'default'> & { default?: readonly string[] }): OptionSpec<string, true> {
    return { ...c, type: 'string', arity: 'required', list: true, default: c.default ?? [], parse: (t) => t };
  },
  /** Make a scalar spec repeatable: every occurrence is kept in order. */
  list<T>(inner: OptionSpec<T, false>, c?: { default?: readonly T[] }): OptionSpec<T, true> {
    return { ...inner, list: true, default: c?.default ?? [] };
  },
};

/** Canonical name → spec, plus alias and short-flag lookups, over several tables. */
export class OptionIndex {
  private readonly byName = new Map<string, { canonical: string; spec: OptionSpec; owner: string }>();
  private readonly byShort = new Map<string, string>();

  /**
   * Add a table owned by `owner` (a plugin id or `core`).
   * @throws {ConfigError} TSGI_ERR_CONFIG_DUPLICATE_OPTION if a name or alias is already declared.
   */
  add(owner: string, table: OptionTable): void {
    for (const [name, spec] of Object.entries(table)) {
      for (const n of [name, ...(spec.aliases ?? [])]) {
        const prev = this.byName.get(n);
        if (prev)
          throw new ConfigError(
            'TSGI_ERR_CONFIG_DUPLICATE_OPTION',
            `declared by both ${prev.owner} and ${owner}`,
            null,
            n,
          );
        this.byName.set(n, { canonical: name, spec, owner });
      }
      if (spec.short) this.byShort.set(spec.short, name);
    }
  }

  /** Look up a name or alias; returns the canonical name and spec. */
  get(name: string): { canonical: string; spec: OptionSpec; owner: string } | undefined {
    return this.byName.get(name);
  }

  /** Canonical option name for a one-letter flag, if declared. */
  short(letter: string): string | undefined {
    return this.byShort.get(letter);
  }

  /** Every declared name and alias. */
  names(): string[] {
    return [...this.byName.keys()];
  }
}
