import { readFileSync } from 'node:fs';

/** tsgi's version, from package.json (e.g. `0.1.0`). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
