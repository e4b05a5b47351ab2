/**
 * tsgi's error catalogue. Every error that crosses a module boundary is a `TsgiError` with a stable
 * `code` (`TSGI_ERR_<AREA>_<WHAT>`); tests assert the code, never the message text. Errors on the
 * request path carry the HTTP status they map to.
 */
export class TsgiError extends Error {
  /** Stable machine-readable code, e.g. `TSGI_ERR_CONFIG_VALUE`. */
  readonly code: `TSGI_ERR_${string}`;

  constructor(code: `TSGI_ERR_${string}`, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Where a config value came from: an ini file and 1-based line, the command line (`file` is null,
 * `line` is the 1-based argv index), or the environment (`file` is null, `line` 0).
 */
export interface ConfigOrigin {
  readonly file: string | null;
  readonly line: number;
  readonly source: 'ini' | 'argv' | 'env' | 'emperor';
}

/** Render an origin the way config errors name it: `app.ini:12`, `command line (arg 3)`, `environment`. */
export function formatOrigin(origin: ConfigOrigin | null | undefined): string {
  if (!origin) return 'config';
  if (origin.source === 'ini' || origin.source === 'emperor')
    return `${origin.file ?? '<ini>'}:${origin.line}`;
  if (origin.source === 'argv') return `command line (arg ${origin.line})`;
  return origin.file ? `environment (${origin.file})` : 'environment';
}

/**
 * A config problem: unknown option, bad value, unreadable file, bad logic block. The message always
 * names the file and line (or command-line position) and the option.
 */
export class ConfigError extends TsgiError {
  readonly origin: ConfigOrigin | null;
  readonly option: string | null;

  constructor(
    code: `TSGI_ERR_CONFIG_${string}`,
    message: string,
    origin: ConfigOrigin | null,
    option: string | null,
    options?: ErrorOptions,
  ) {
    const where = formatOrigin(origin);
    super(code, option ? `${where}: option '${option}': ${message}` : `${where}: ${message}`, options);
    this.origin = origin;
    this.option = option;
  }
}

/** A plugin broke the plugin contract (duplicate id, missing contract, lifecycle step failed). */
export class PluginError extends TsgiError {}

/** A request-path error that maps to an HTTP status (400 malformed, 413 too large, 502, 503, 504). */
export class RequestError extends TsgiError {
  readonly statusCode: number;

  constructor(code: `TSGI_ERR_${string}`, statusCode: number, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.statusCode = statusCode;
  }
}
