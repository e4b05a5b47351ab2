/**
 * Reading a config source by name, as uWSGI's `uwsgi_open_and_read()` (core/io.c): `-` is stdin,
 * `scheme://...` goes to the scheme, anything else is a file path (relative to the reader's cwd).
 * tsgi implements `exec://` (a `/bin/sh -c` command's stdout), `fd://N`, and `emperor://NAME`
 * (uWSGI's vassal config pipe; in tsgi the emperor hands the text in-band). The other uWSGI schemes
 * (`http://`, `data://`, `sym://`, `section://`, `call://`, `callint://`) read the uWSGI binary, its
 * symbols or the network synchronously and are reported as unsupported.
 */

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type Bytes, cString, fromBytes, fsPath, toBytes } from './bytes.js';
import { configScheme } from './magic.js';

/** Why a source could not be read: `missing` (no such file...), `unsupported` (scheme), `invalid`. */
export class SourceError extends Error {
  constructor(
    readonly kind: 'missing' | 'unsupported' | 'invalid',
    message: string,
  ) {
    super(message);
  }
}

/** Hooks for reading sources (all optional; defaults use the real file system and shell). */
export interface SourceHooks {
  readonly cwd: string;
  /** Read a plain file (relative paths are given as written; resolve them against `cwd`). `-` is stdin. */
  readonly readFile?: ((path: string) => string | Uint8Array) | undefined;
  /** In-band config text for `emperor://NAME`. */
  readonly inline?: { readonly name: string; readonly text: string | Uint8Array } | undefined;
  /** Run `exec://` commands: returns stdout. Default `/bin/sh -c` with a 30 s limit. */
  readonly exec?: ((command: string) => string | Uint8Array) | undefined;
}

function defaultExec(command: string, cwd: string): Uint8Array {
  return execFileSync('/bin/sh', ['-c', command], {
    cwd,
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * The bytes of source `url` (a byte string).
 * @throws {SourceError} `missing` when a file/fd cannot be read, `unsupported` for schemes tsgi does
 *   not implement, `invalid` for `emperor://` without matching in-band text.
 */
export function readSource(url: Bytes, hooks: SourceHooks): Bytes {
  const scheme = configScheme(url);
  if (scheme === null) {
    try {
      if (hooks.readFile) return toBytes(hooks.readFile(fromBytes(url)));
      if (url === '-') return readFileSync(0).toString('latin1');
      return readFileSync(fsPath(url, hooks.cwd)).toString('latin1');
    } catch (err) {
      throw new SourceError('missing', `cannot read '${fromBytes(url)}': ${(err as Error).message}`);
    }
  }
  const rest = url.slice(scheme.length + 3);
  switch (scheme) {
    case 'exec': {
      const command = fromBytes(rest);
      try {
        return toBytes(hooks.exec ? hooks.exec(command) : defaultExec(command, hooks.cwd));
      } catch (err) {
        throw new SourceError('missing', `exec://${command} failed: ${(err as Error).message}`);
      }
    }
    case 'fd': {
      const fd = Number.parseInt(fromBytes(rest), 10);
      try {
        return readFileSync(Number.isNaN(fd) ? 0 : fd).toString('latin1');
      } catch (err) {
        throw new SourceError('missing', `cannot read fd://${fromBytes(rest)}: ${(err as Error).message}`);
      }
    }
    case 'emperor': {
      const inline = hooks.inline;
      if (!inline || toBytes(inline.name) !== rest) {
        throw new SourceError(
          'invalid',
          `no in-band config for '${fromBytes(url)}' (this is not a vassal instance)`,
        );
      }
      return toBytes(inline.text);
    }
    default:
      throw new SourceError('unsupported', `the ${scheme}:// config scheme is not supported by tsgi`);
  }
}

/**
 * `@(path)` contents (`uwsgi_at_file_read()`): the source as a C string, with ONE trailing `\n` or
 * `\r` removed (so `a\r\n` gives `a\r`).
 */
export function readAtFile(url: Bytes, hooks: SourceHooks): Bytes {
  const raw = readSource(url, hooks);
  const body = raw.length > 0 && (raw.endsWith('\n') || raw.endsWith('\r')) ? raw.slice(0, -1) : raw;
  return cString(body);
}
