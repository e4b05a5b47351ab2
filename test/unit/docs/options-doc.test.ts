import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { optionsDoc } from '../../../scripts/gen-options-doc.js';
import { ROOT } from '../../helpers/tsgi.js';

test('docs/options.md matches the option tables (run `npm run docs:options`)', () => {
  assert.equal(readFileSync(join(ROOT, 'docs', 'options.md'), 'utf8'), optionsDoc());
});
