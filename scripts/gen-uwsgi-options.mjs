#!/usr/bin/env node
// Generates core/config/uwsgi-options-table.ts: every uWSGI 2.0.21 option name (core + the plugins
// Debian's uwsgi-core ships), with its short flag, help text, arity and "immediate" flag.
//
// Sources of truth:
//   * names, short flags, help texts and their order: `uwsgi --plugin <every plugin> --help`
//     (Debian uwsgi-core 2.0.21; plugins from /usr/lib/uwsgi/plugins);
//   * arity (no_argument / required_argument / optional_argument) and UWSGI_OPT_IMMEDIATE: the
//     `struct uwsgi_option` tables in uWSGI's own source at tag 2.0.21 (`--help` does not show them).
//
// Usage:
//   node scripts/gen-uwsgi-options.mjs --source <uwsgi git dir> [--ref 2.0.21] [--uwsgi /usr/bin/uwsgi]
//        [--plugins-dir /usr/lib/uwsgi/plugins] [--out core/config/uwsgi-options-table.ts]
// The source is read with `git --git-dir <dir> show <ref>:<path>` (a bare clone of unbit/uwsgi works).
// Run `npx biome check --write core/config/uwsgi-options-table.ts` afterwards.
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) {
    console.error(`gen-uwsgi-options: --${name} is required`);
    process.exit(2);
  }
  return fallback;
}

const source = arg('source');
const ref = arg('ref', '2.0.21');
const uwsgiBin = arg('uwsgi', 'uwsgi');
const pluginsDir = arg('plugins-dir', '/usr/lib/uwsgi/plugins');
const out = arg('out', join(root, 'core/config/uwsgi-options-table.ts'));

// ---- 1. `uwsgi --help` with every shipped plugin loaded ----------------------------------------
const plugins = readdirSync(pluginsDir)
  .filter((f) => f.endsWith('_plugin.so'))
  .map((f) => f.slice(0, -'_plugin.so'.length))
  .sort();
let helpText;
try {
  helpText = execFileSync(uwsgiBin, ['--plugin', plugins.join(','), '--help'], {
    encoding: 'utf8',
    timeout: 30_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 16 * 1024 * 1024,
  });
} catch (err) {
  // uwsgi --help exits 0; a failure here is a real problem.
  console.error(`gen-uwsgi-options: '${uwsgiBin} --help' failed: ${err.message}`);
  process.exit(1);
}
const versionText = execFileSync(uwsgiBin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();

/** @type {{name: string, short: string | null, help: string}[]} */
const helpRows = [];
for (const line of helpText.split('\n')) {
  const m = /^ {4}(?:-(.)\|)?--(\S+)(?: +(.*))?$/.exec(line);
  if (!m) continue;
  helpRows.push({ name: m[2], short: m[1] ?? null, help: (m[3] ?? '').trim() });
}

// ---- 2. arity and flags from the source option tables ------------------------------------------
const git = (...args) =>
  execFileSync('git', ['--git-dir', source, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const files = git('ls-tree', '-r', '--name-only', ref)
  .split('\n')
  .filter(
    (p) => /\.(c|h)$/.test(p) && (p.startsWith('core/') || p.startsWith('plugins/') || p === 'uwsgi.h'),
  );
const entryRe =
  /\{\s*"([^"]+)"\s*,\s*(no|required|optional)_argument\s*,\s*([^,]+?)\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*([^,]+?)\s*,\s*([^,}]+?)\s*(?:,\s*([^}]*?)\s*)?\}/g;
/** @type {Map<string, {arity: string, immediate: boolean, where: string}[]>} */
const defs = new Map();
for (const path of files) {
  const text = git('show', `${ref}:${path}`);
  if (!text.includes('_argument')) continue;
  const where = path.startsWith('plugins/') ? path.split('/')[1] : 'core';
  for (const m of text.matchAll(entryRe)) {
    const list = defs.get(m[1]) ?? [];
    list.push({
      arity: m[2] === 'no' ? 'none' : m[2],
      immediate: /UWSGI_OPT_IMMEDIATE/.test(m[7] ?? ''),
      where,
    });
    defs.set(m[1], list);
  }
}

// python3 / python311 are built from plugins/python; other .so names match their source directory.
const loadedDirs = new Set(plugins.map((p) => (p.startsWith('python') ? 'python' : p)));
const rows = [];
const seen = new Set();
const problems = [];
for (const r of helpRows) {
  if (seen.has(r.name)) continue;
  seen.add(r.name);
  const all = defs.get(r.name) ?? [];
  const candidates = all.filter((d) => d.where === 'core' || loadedDirs.has(d.where));
  const def = candidates[0] ?? all[0];
  if (!def) {
    problems.push(`no source definition for --${r.name}`);
    continue;
  }
  const arities = new Set(candidates.map((d) => d.arity));
  if (arities.size > 1) problems.push(`conflicting arity for --${r.name}: ${[...arities].join(', ')}`);
  rows.push({ ...r, arity: def.arity, immediate: def.immediate, plugin: def.where });
}
if (problems.length > 0) {
  console.error(`gen-uwsgi-options:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

// ---- 3. write the table --------------------------------------------------------------------------
/** A TypeScript single-quoted string literal. */
const q = (s) => `'${JSON.stringify(s).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'")}'`;
const lines = rows.map(
  (r) =>
    `  [${q(r.name)}, ${q(r.arity)}, ${r.short === null ? 'null' : q(r.short)}, ${r.immediate}, ${q(r.plugin)}, ${q(r.help)}],`,
);
const header = `// GENERATED by scripts/gen-uwsgi-options.mjs — do not edit by hand.
// ${rows.length} options of ${versionText} (Debian uwsgi-core): core plus the plugins
// ${plugins.join(', ')}
// (each loaded with --plugin; names, short flags and help from \`uwsgi --help\`, arity and the
// UWSGI_OPT_IMMEDIATE flag from the struct uwsgi_option tables of uWSGI's source at tag ${ref}).

/** How an option takes its value on the command line (getopt_long's has_arg). */
export type UwsgiArity = 'none' | 'required' | 'optional';

/** One row: name, arity, short flag (or null), immediate, defining plugin ('core' or the plugin's directory), help. */
export type UwsgiOptionRow = readonly [
  name: string,
  arity: UwsgiArity,
  short: string | null,
  immediate: boolean,
  plugin: string,
  help: string,
];

/** Every option in \`uwsgi --help\` order (core first, then plugins), deduplicated by name. */
// biome-ignore format: generated table, one option per line
export const UWSGI_OPTION_ROWS: readonly UwsgiOptionRow[] = [
`;
writeFileSync(out, `${header}${lines.join('\n')}\n];\n`);
console.log(`gen-uwsgi-options: wrote ${rows.length} options to ${out}`);
