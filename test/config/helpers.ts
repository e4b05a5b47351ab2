/** Small helpers for the config unit tests: temp directories with files, and compact entry views. */

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';
import { type LoadConfigOptions, loadConfig } from '../../core/config/ini-reader.js';
import type { ConfigEntry, ConfigWarning } from '../../core/config/types.js';

/** Create a temp dir holding `files` (path → content); removed after the test file. */
export function tempTree(files: Record<string, string | Uint8Array>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, content] of Object.entries(files)) {
    const p = join(dir, name);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
  return dir;
}

/** `key = value` lines of entries. */
export function lines(entries: readonly ConfigEntry[]): string[] {
  return entries.map((e) => `${e.key} = ${e.value}`);
}

export interface Loaded {
  readonly lines: string[];
  readonly entries: ConfigEntry[];
  readonly warnings: ConfigWarning[];
  readonly printed: string[];
}

/** Load `argv` in `cwd` with an empty environment (plus `env`) and fixed magic statics. */
export function load(cwd: string, argv: readonly string[], opts: LoadConfigOptions = {}): Loaded {
  const printed: string[] = [];
  const r = loadConfig(argv, {
    cwd,
    env: {},
    hostname: 'testhost',
    onPrint: (t) => printed.push(t),
    ...opts,
  });
  return { lines: lines(r.entries), entries: r.entries, warnings: r.warnings, printed };
}

/** Write `[uwsgi]\n` + `text` as app.ini in a fresh temp dir and load it with `--ini`; lines after `ini = app.ini`. */
export function loadIni(
  text: string,
  opts: LoadConfigOptions = {},
  argvTail: readonly string[] = [],
): string[] {
  const dir = tempTree({ 'app.ini': `[uwsgi]\n${text}` });
  return load(dir, ['--ini', 'app.ini', ...argvTail], opts).lines.slice(1);
}

/** Run `fn` and return the thrown error's `code` (fails if nothing is thrown). */
export function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? `non-coded error: ${String(err)}`;
  }
  throw new Error('expected an error');
}
