/**
 * Golden tests of the config reader against real uWSGI 2.0.21 (cases in test/golden/config/cases.json).
 * 1. checked-in: tsgi's `--show-config` block for every case equals expected/<name>.txt (produced by
 *    real uWSGI, normalised); error cases throw the listed code. Needs no uWSGI.
 * 2. live: real `uwsgi` and tsgi run on the same argv, env and fixture copy; their blocks must be
 *    byte-for-byte equal (and uWSGI must still produce the checked-in file). When `uwsgi` is not on
 *    PATH this FAILS under CI=true and is skipped elsewhere.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import {
  applyOracle,
  caseEnv,
  expectedPath,
  expectedText,
  findUwsgi,
  type GoldenCase,
  loadCases,
  makeSandbox,
  maskKeys,
  normalize,
  removeSandbox,
  runTsgi,
  runUwsgi,
  uwsgiIdentity,
} from './golden-lib.js';

const file = loadCases();
const allMasks = (c: GoldenCase): string[] => [...(c.maskKeys ?? []), ...(c.liveMaskKeys ?? [])];

test('there are at least 25 golden ini fixtures and 25 cases', () => {
  assert.ok(file.cases.length >= 25);
  const inis = new Set(
    file.cases.flatMap((c) => c.args.filter((a) => /\.ini(:|$)/.test(a)).map((a) => a.split(':')[0])),
  );
  assert.ok(inis.size >= 25, `only ${inis.size} distinct ini files`);
});

describe('golden (checked-in expected output)', () => {
  const sandbox = makeSandbox();
  after(() => removeSandbox(sandbox));
  const identity = { binary: '/usr/bin/uwsgi-core', version: '2.0.21-debian' };
  for (const c of file.cases) {
    test(`${c.name}: ${c.about}`, () => {
      const expected = readFileSync(expectedPath(c, 'txt'), 'utf8');
      const run = runTsgi(sandbox, c.args, caseEnv(file, c), identity);
      if (c.error !== undefined) {
        assert.match(expected, /^!error exit=/, 'uWSGI fails on this case');
        assert.equal(run.error, c.error);
        if (c.exitCode !== undefined) {
          assert.equal(run.exitCode, c.exitCode);
          assert.equal(expected, `!error exit=${c.exitCode}\n`);
        }
        return;
      }
      assert.equal(run.error, null, `tsgi failed: ${run.error}`);
      assert.equal(normalize(run.block ?? '', sandbox, allMasks(c)), expected);
      if (c.stdout)
        assert.equal(normalize(run.stdout, sandbox, []), readFileSync(expectedPath(c, 'stdout'), 'utf8'));
    });
  }
});

describe('golden (live: real uWSGI vs tsgi, byte for byte)', () => {
  const bin = findUwsgi();
  if (bin === null) {
    if (process.env.CI === 'true') {
      test('uwsgi must be installed under CI', () => {
        assert.fail('uwsgi is not on PATH: the live golden tests cannot run (install Debian uwsgi-core)');
      });
    } else {
      test('live golden tests', {
        skip: 'uwsgi is not on PATH (install Debian uwsgi-core to run them)',
      }, () => {});
    }
    return;
  }
  const identity = uwsgiIdentity(bin);
  const sandbox = makeSandbox();
  after(() => removeSandbox(sandbox));
  for (const c of file.cases) {
    test(`${c.name}: ${c.about}`, () => {
      const env = caseEnv(file, c);
      const real = runUwsgi(bin, sandbox, c.oracleArgs ?? c.args, env);
      const mine = runTsgi(sandbox, c.args, env, identity);
      assert.equal(
        expectedText(c, real, sandbox),
        readFileSync(expectedPath(c, 'txt'), 'utf8'),
        'uWSGI output differs from the checked-in file (regenerate?)',
      );
      if (c.error !== undefined) {
        assert.equal(real.block, null, 'uWSGI printed a config block');
        assert.notEqual(real.exitCode, 0);
        assert.equal(mine.error, c.error);
        if (c.exitCode !== undefined) assert.equal(mine.exitCode, real.exitCode);
        return;
      }
      assert.ok(real.block !== null, real.error ?? 'no block');
      assert.equal(mine.error, null, `tsgi failed: ${mine.error}`);
      const live = c.liveMaskKeys ?? [];
      assert.equal(maskKeys(mine.block ?? '', live), maskKeys(applyOracle(c, real.block), live));
      if (c.stdout) assert.equal(mine.stdout, real.stdout);
    });
  }
});
