import type { ConfigOrigin } from '../errors.js';

export type { ConfigOrigin } from '../errors.js';

/**
 * One resolved `key = value` line of an instance's configuration, in the order uWSGI would apply it.
 * Repeated keys appear once per occurrence (list options append, scalar options take the last).
 * `value` is literal text after every expansion (magic variables, `$(ENV)`, `@(file)`, `%(placeholder)`).
 * A flag given without a value (`--master`, or a bare `master` line) has the value uWSGI gives it, as uWSGI
 * prints it in `--show-config`.
 */
export interface ConfigEntry {
  readonly key: string;
  readonly value: string;
  readonly origin: ConfigOrigin;
}

/** A non-fatal config remark (misspelt option, unimplemented uWSGI option that is harmless to ignore). */
export interface ConfigWarning {
  readonly message: string;
  readonly origin: ConfigOrigin | null;
  readonly option: string | null;
}
