/**
 * Regenerate test/golden/config/expected/ from real uWSGI (not a test; run it by hand):
 *   npx tsc -p . && node dist/test/config/update-golden.js [case-name ...]
 * Every case runs in a fresh fixture sandbox; the block uWSGI prints is normalised (sandbox path,
 * masked keys) and written to expected/<name>.txt, print output to expected/<name>.stdout.
 */

import { writeFileSync } from 'node:fs';
import {
  caseEnv,
  expectedPath,
  expectedText,
  findUwsgi,
  loadCases,
  makeSandbox,
  normalize,
  removeSandbox,
  runUwsgi,
} from './golden-lib.js';

const bin = findUwsgi();
if (bin === null) {
  console.error('update-golden: uwsgi is not on PATH');
  process.exit(1);
}
const file = loadCases();
const only = process.argv.slice(2);
for (const c of file.cases) {
  if (only.length > 0 && !only.includes(c.name)) continue;
  const sandbox = makeSandbox();
  try {
    const run = runUwsgi(bin, sandbox, c.oracleArgs ?? c.args, caseEnv(file, c));
    writeFileSync(expectedPath(c, 'txt'), expectedText(c, run, sandbox));
    if (c.stdout) writeFileSync(expectedPath(c, 'stdout'), normalize(run.stdout, sandbox, []));
    console.log(`${c.name}: ${run.block === null ? run.error : 'ok'}`);
  } finally {
    removeSandbox(sandbox);
  }
}
