// Copies the non-TypeScript files that run beside the compiled code (Python and Perl workers, the
// dashboard's static assets, ...) from the source folders into dist/, keeping relative paths.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const folders = ['core', 'plugins', 'emperor', 'router'];
const skip = /\.(ts|tsbuildinfo)$/;

function walk(rel) {
  for (const name of readdirSync(join(root, rel))) {
    const relPath = join(rel, name);
    if (name === '__pycache__') continue;
    if (statSync(join(root, relPath)).isDirectory()) walk(relPath);
    else if (!skip.test(name)) cpSync(join(root, relPath), join(root, 'dist', relPath));
  }
}
for (const folder of folders) if (existsSync(join(root, folder))) walk(folder);
