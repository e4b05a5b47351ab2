/**
 * Shared machinery for the config golden tests and their updater: fixture sandboxes, running real
 * uWSGI (time-bound, only the spawned pid is killed) and tsgi's reader on the same argv and env,
 * and normalising machine-specific text for the checked-in expected files.
 */

import { spawnSync } from 'node:child_process';
import { accessSync, constants, cpSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { basename, delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ConfigExitRequest,
  extractShowConfig,
  formatShowConfig,
  loadConfigEntries,
} from '../../core/config/ini-reader.js';

/** Repository root (this file runs as dist/test/config/golden-lib.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Fixture directory: ini files, support files, cases.json and expected/. */
export const GOLDEN_DIR = join(REPO_ROOT, 'test', 'golden', 'config');
export const EXPECTED_DIR = join(GOLDEN_DIR, 'expected');

/** One golden case (see test/golden/config/cases.json). */
export interface GoldenCase {
  readonly name: string;
  readonly args: readonly string[];
  readonly about: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Keys whose values are machine-specific: masked in the checked-in file, compared exactly live. */
  readonly maskKeys?: readonly string[];
  /** Keys whose values differ between two runs (time): masked everywhere. */
  readonly liveMaskKeys?: readonly string[];
  /** Arguments for uWSGI when tsgi deliberately differs (the `[tsgi]` rule), and fix-ups of its output. */
  readonly oracleArgs?: readonly string[];
  readonly oracleReplace?: readonly (readonly [string, string])[];
  /** Both fail: tsgi throws this code, uWSGI exits non-zero without a config block. */
  readonly error?: string;
  readonly exitCode?: number;
  /** Also compare what `print`/`iprint` write to stdout. */
  readonly stdout?: boolean;
}

interface CasesFile {
  readonly baseEnv: Readonly<Record<string, string>>;
  readonly cases: readonly GoldenCase[];
}

export function loadCases(): CasesFile {
  return JSON.parse(readFileSync(join(GOLDEN_DIR, 'cases.json'), 'utf8')) as CasesFile;
}

/** A fresh copy of the fixtures at `/tmp/tsgi-golden-XXXXXX` (fixed parent so %0..%9 are stable). */
export function makeSandbox(): string {
  const dir = mkdtempSync('/tmp/tsgi-golden-');
  cpSync(GOLDEN_DIR, dir, {
    recursive: true,
    verbatimSymlinks: true,
    filter: (src) => !src.startsWith(EXPECTED_DIR) && basename(src) !== 'cases.json',
  });
  return realpathSync(dir);
}

export function removeSandbox(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The controlled environment a case runs with (no HOME, LANG...: deterministic everywhere). */
export function caseEnv(file: CasesFile, c: GoldenCase): Record<string, string> {
  return { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', ...file.baseEnv, ...c.env };
}

const STOP = ['--show-config', '--chdir', '/nonexistent'];

/** The case's argv plus `--show-config --chdir /nonexistent` (before a `--`, if any). */
export function withStop(args: readonly string[]): string[] {
  const i = args.indexOf('--');
  return i < 0 ? [...args, ...STOP] : [...args.slice(0, i), ...STOP, ...args.slice(i)];
}

/** The `uwsgi` executable on PATH, or null. */
export function findUwsgi(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    const p = join(dir, 'uwsgi');
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** What uWSGI reports as `%b` and `%V` (its resolved binary and `--version`). */
export function uwsgiIdentity(bin: string): { binary: string; version: string } {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000, killSignal: 'SIGKILL' });
  return { binary: realpathSync(bin), version: r.stdout.trim() };
}

/** Outcome of one run: the show-config block or an error, and stdout (print output). */
export interface RunResult {
  readonly block: string | null;
  readonly error: string | null;
  readonly exitCode: number | null;
  readonly stdout: string;
}

/**
 * Run real uWSGI with SIGKILL after 15 s (uWSGI ignores SIGTERM during startup); only the spawned
 * process is ever signalled.
 */
export function runUwsgi(
  bin: string,
  cwd: string,
  args: readonly string[],
  env: Record<string, string>,
): RunResult {
  const r = spawnSync(bin, withStop(args), {
    cwd,
    env,
    encoding: 'utf8',
    timeout: 15_000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
  });
  const block = extractShowConfig(r.stderr ?? '');
  const lastLine =
    (r.stderr ?? '')
      .trim()
      .split('\n')
      .filter((l) => l.trim() !== '')
      .pop() ?? '';
  return {
    block,
    error:
      block === null
        ? `uWSGI exited with status ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${lastLine}`
        : null,
    exitCode: r.status,
    stdout: r.stdout ?? '',
  };
}

/** Run tsgi's reader on the same argv and environment. */
export function runTsgi(
  cwd: string,
  args: readonly string[],
  env: Record<string, string>,
  identity: { binary: string; version: string },
): RunResult {
  const printed: string[] = [];
  try {
    const entries = loadConfigEntries(withStop(args), {
      cwd,
      env,
      magic: { b: identity.binary, V: identity.version },
      onPrint: (t) => printed.push(`${t}\n`),
      // Debian's uwsgi-core embeds no plugin: only those the config loads count.
      isPluginLoaded: () => false,
    });
    return { block: formatShowConfig(entries), error: null, exitCode: null, stdout: printed.join('') };
  } catch (err) {
    const code = (err as { code?: string }).code ?? String(err);
    const exitCode = err instanceof ConfigExitRequest ? err.exitCode : null;
    return { block: null, error: code, exitCode, stdout: printed.join('') };
  }
}

/** Replace `key = value` lines' values by `<masked>` for the given keys. */
export function maskKeys(block: string, keys: readonly string[]): string {
  if (keys.length === 0) return block;
  const set = new Set(keys);
  return block
    .split('\n')
    .map((line) => {
      const eq = line.indexOf(' = ');
      return eq > 0 && set.has(line.slice(0, eq)) ? `${line.slice(0, eq)} = <masked>` : line;
    })
    .join('\n');
}

/** Checked-in form: sandbox path → `@ROOT@`, its directory name → `@SANDBOX@`, masks applied. */
export function normalize(text: string, sandbox: string, keys: readonly string[]): string {
  return maskKeys(text.split(sandbox).join('@ROOT@').split(basename(sandbox)).join('@SANDBOX@'), keys);
}

/** Apply a case's oracle fix-ups to uWSGI's block. */
export function applyOracle(c: GoldenCase, block: string): string {
  let out = block;
  for (const [from, to] of c.oracleReplace ?? []) out = out.split(from).join(to);
  return out;
}

/** The text stored in expected/<name>.txt for a uWSGI run. */
export function expectedText(c: GoldenCase, run: RunResult, sandbox: string): string {
  const keys = [...(c.maskKeys ?? []), ...(c.liveMaskKeys ?? [])];
  if (run.block === null) return `!error exit=${run.exitCode}\n`;
  return normalize(applyOracle(c, run.block), sandbox, keys);
}

export function expectedPath(c: GoldenCase, suffix: 'txt' | 'stdout'): string {
  return join(EXPECTED_DIR, `${c.name}.${suffix}`);
}
