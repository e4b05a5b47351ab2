/**
 * `--show-config` output, byte for byte as uWSGI 2.0.21's `show_config()` (core/uwsgi.c) logs it:
 * a blank line, `;uWSGI instance configuration`, `[uwsgi]`, one `key = value` line per entry in
 * order (a valueless command-line flag is already `true` in the entry), `;end of configuration`,
 * a blank line. Nothing is quoted or escaped; an empty value leaves `key = ` with a trailing space.
 */

import type { ConfigEntry } from './types.js';

/** The show-config block for `entries` (as returned by `loadConfigEntries`). */
export function formatShowConfig(entries: readonly ConfigEntry[]): string {
  const lines = ['\n;uWSGI instance configuration\n[uwsgi]\n'];
  for (const e of entries) lines.push(`${e.key} = ${e.value}\n`);
  lines.push(';end of configuration\n\n');
  return lines.join('');
}

/**
 * Cut uWSGI's show-config block out of its log output (the text from the blank line before
 * `;uWSGI instance configuration` through the blank line after `;end of configuration`), or null.
 */
export function extractShowConfig(log: string): string | null {
  const start = log.indexOf('\n;uWSGI instance configuration\n[uwsgi]\n');
  if (start < 0) return null;
  const endMark = '\n;end of configuration\n\n';
  const end = log.indexOf(endMark, start);
  if (end < 0) return null;
  return log.slice(start, end + endMark.length);
}
