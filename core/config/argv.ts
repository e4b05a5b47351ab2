/**
 * Command-line splitting as uWSGI does it with GNU `getopt_long()` (core/init.c,
 * `uwsgi_commandline_config()`): `--name value`, `--name=value`, flags, clustered short options
 * (`-Mp4`), `--` ends options, and every non-option argument is handled after all options
 * (GNU argument permutation). Whether an option takes a value comes from a resolver (tsgi's option
 * tables, then uWSGI's table); for names neither knows, the next argument is the value unless it
 * starts with `-`. GNU's unambiguous-prefix abbreviations (`--proc` for `--processes`) are not
 * accepted: the name is recorded as written.
 */

import { ConfigError, type ConfigOrigin } from '../errors.js';

/** How an option takes its value: getopt's no_argument / required_argument / optional_argument. */
export type Arity = 'none' | 'required' | 'optional';

/** One option occurrence. `value` is null for a flag (uWSGI prints it as `true`). `index` is 1-based. */
export interface ArgOption {
  readonly name: string;
  readonly value: string | null;
  readonly index: number;
}

/** A non-option argument (a config file for uWSGI). `index` is 1-based. */
export interface ArgPositional {
  readonly arg: string;
  readonly index: number;
}

/** Options in command-line order and the non-option arguments, to be handled after them. */
export interface SplitArgv {
  readonly options: ArgOption[];
  readonly positionals: ArgPositional[];
}

/** What the splitter needs to know about option names. */
export interface ArgvResolver {
  /** Arity of a long name, undefined when unknown (then the heuristic applies). */
  arity(name: string): Arity | undefined;
  /** Long name for a short flag character, undefined when no option has it. */
  short(flag: string): string | undefined;
}

const origin = (index: number): ConfigOrigin => ({ source: 'argv', file: null, line: index });

/**
 * Split `argv` (without the program name).
 * @throws {ConfigError} `TSGI_ERR_CONFIG_ARGUMENT` where getopt_long fails and uWSGI exits: a flag
 *   given `=value`, a required value missing at the end, an unknown short flag.
 */
export function splitArgv(argv: readonly string[], resolver: ArgvResolver): SplitArgv {
  const options: ArgOption[] = [];
  const positionals: ArgPositional[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const index = i + 1;
    if (a === '--') {
      for (let k = i + 1; k < argv.length; k++) positionals.push({ arg: argv[k]!, index: k + 1 });
      break;
    }
    if (a.startsWith('--')) {
      const body = a.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const attached = eq >= 0 ? body.slice(eq + 1) : undefined;
      const arity = resolver.arity(name);
      let value: string | null;
      if (arity === 'none') {
        if (attached !== undefined) {
          throw new ConfigError(
            'TSGI_ERR_CONFIG_ARGUMENT',
            `option '--${name}' doesn't allow an argument`,
            origin(index),
            name,
          );
        }
        value = null;
      } else if (arity === 'required') {
        if (attached !== undefined) value = attached;
        else if (i + 1 < argv.length) value = argv[++i]!;
        else
          throw new ConfigError(
            'TSGI_ERR_CONFIG_ARGUMENT',
            `option '--${name}' requires an argument`,
            origin(index),
            name,
          );
      } else if (arity === 'optional') {
        value = attached ?? null;
      } else if (attached !== undefined) {
        value = attached;
      } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('-')) {
        value = argv[++i]!;
      } else {
        value = null;
      }
      options.push({ name, value, index });
      continue;
    }
    if (a.startsWith('-') && a !== '-') {
      for (let k = 1; k < a.length; k++) {
        const flag = a[k]!;
        const name = resolver.short(flag);
        if (name === undefined) {
          throw new ConfigError(
            'TSGI_ERR_CONFIG_ARGUMENT',
            `invalid option -- '${flag}'`,
            origin(index),
            null,
          );
        }
        const arity = resolver.arity(name) ?? 'required';
        const rest = a.slice(k + 1);
        if (arity === 'none') {
          options.push({ name, value: null, index });
          continue;
        }
        if (rest !== '') options.push({ name, value: rest, index });
        else if (arity === 'optional') options.push({ name, value: null, index });
        else if (i + 1 < argv.length) options.push({ name, value: argv[++i]!, index });
        else
          throw new ConfigError(
            'TSGI_ERR_CONFIG_ARGUMENT',
            `option requires an argument -- '${flag}'`,
            origin(index),
            name,
          );
        break;
      }
      continue;
    }
    positionals.push({ arg: a, index });
  }
  return { options, positionals };
}
