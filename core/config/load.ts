// TEMPORARY STUB until the config branch lands: argv-only, plus a naive [uwsgi] ini reader.
import { readFileSync } from 'node:fs';
import type { ConfigEntry } from './types.js';
export interface LoadOptions {
  arity?: (name: string) => 'none' | 'required' | 'optional' | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  isReload?: boolean;
}
export function loadConfigEntries(argv: readonly string[], opts: LoadOptions = {}): ConfigEntry[] {
  const out: ConfigEntry[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) continue;
    let key = a.slice(2);
    let value = 'true';
    const eq = key.indexOf('=');
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else if (opts.arity?.(key) !== 'none' && argv[i + 1] !== undefined && !argv[i + 1]!.startsWith('-'))
      value = argv[++i]!;
    out.push({ key, value, origin: { source: 'argv', file: null, line: i + 1 } });
    if (key === 'ini') {
      const text = readFileSync(value, 'utf8');
      let on = false;
      let n = 0;
      for (const raw of text.split('\n')) {
        n++;
        const l = raw.trim();
        if (l.startsWith('[')) {
          on = l === '[uwsgi]';
          continue;
        }
        if (!on || l === '' || l.startsWith(';') || l.startsWith('#')) continue;
        const e = l.indexOf('=');
        const k = (e < 0 ? l : l.slice(0, e)).trim();
        const v = e < 0 ? 'true' : l.slice(e + 1).trim();
        out.push({ key: k, value: v, origin: { source: 'ini', file: value, line: n } });
      }
    }
  }
  return out;
}
export function formatShowConfig(entries: readonly ConfigEntry[]): string {
  return `\n;uWSGI instance configuration\n[uwsgi]\n${entries.map((e) => `${e.key} = ${e.value}\n`).join('')};end of configuration\n`;
}
