import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CgiMapConfig, mapScript, pickEntry } from '../../../../plugins/cgi/map.js';
import { tempDir } from '../../../helpers/tsgi.js';

describe('cgi runner: request path → script', () => {
  const dir = tempDir();
  const bin = join(dir.path, 'bin');
  let cfg: CgiMapConfig;
  before(() => {
    mkdirSync(join(bin, 'sub'), { recursive: true });
    for (const [f, mode] of [
      ['a.sh', 0o755],
      ['sub/index.sh', 0o755],
      ['plain.txt', 0o644],
      ['x.py', 0o644],
      ['nph-raw.sh', 0o755],
    ] as const) {
      writeFileSync(join(bin, f), '#!/bin/sh\n');
      chmodSync(join(bin, f), mode);
    }
    writeFileSync(join(dir.path, 'out.sh'), '#!/bin/sh\n');
    chmodSync(join(dir.path, 'out.sh'), 0o755);
    symlinkSync('../out.sh', join(bin, 'link.sh'));
    cfg = {
      entries: [
        { mount: '/cgi', path: bin },
        { mount: '/one', path: join(bin, 'a.sh') },
      ],
      index: ['index.sh'],
      allowedExt: [],
      helpers: [['.py', 'python3']],
      safe: [],
      dontResolve: false,
    };
  });
  after(() => dir.cleanup());

  test('the longest mountpoint on a segment boundary wins; the entry without one is the default', () => {
    const entries = [
      { mount: '/cgi', path: '/a' },
      { mount: '/cgi/deep', path: '/b' },
      { mount: '', path: '/c' },
    ];
    assert.equal(pickEntry(entries, '/cgi/deep/x')?.path, '/b');
    assert.equal(pickEntry(entries, '/cgi/x')?.path, '/a');
    assert.equal(pickEntry(entries, '/cgi-bin/x')?.path, '/c', '/cgi does not prefix /cgi-bin');
    assert.equal(pickEntry(entries.slice(0, 2), '/other'), null);
  });

  test('scripts, PATH_INFO, helpers, directory index and slash redirect, nph', async () => {
    const a = await mapScript(cfg, '/cgi/a.sh/more/path', '');
    assert.deepEqual(a, {
      kind: 'script',
      file: join(bin, 'a.sh'),
      helper: null,
      root: bin,
      scriptName: '/cgi/a.sh',
      pathInfo: '/more/path',
      isFile: false,
      nph: false,
    });
    assert.equal((await mapScript(cfg, '/cgi/x.py', '')).kind, 'script');
    assert.equal((await mapScript(cfg, '/cgi/nph-raw.sh', '')).kind === 'script', true);
    assert.deepEqual(await mapScript(cfg, '/cgi/sub', 'q=1'), {
      kind: 'redirect',
      location: '/cgi/sub/?q=1',
    });
    const idx = await mapScript(cfg, '/cgi/sub/', '');
    assert.equal(idx.kind === 'script' && idx.scriptName, '/cgi/sub/index.sh');
    const one = await mapScript(cfg, '/one/any/thing', '');
    assert.equal(one.kind === 'script' && one.pathInfo, '/any/thing');
    assert.equal(one.kind === 'script' && one.scriptName, '/one');
  });

  test('refusals: not executable, outside through a symlink or .., a missing file, an extension', async () => {
    assert.equal((await mapScript(cfg, '/cgi/plain.txt', '')).kind === 'error', true);
    const plain = await mapScript(cfg, '/cgi/plain.txt', '');
    assert.equal(plain.kind === 'error' && plain.status, 403);
    const link = await mapScript(cfg, '/cgi/link.sh', '');
    assert.equal(link.kind === 'error' && link.status, 403);
    const up = await mapScript(cfg, '/cgi/../out.sh', '');
    assert.equal(up.kind === 'error' && up.status, 403);
    const safe = await mapScript({ ...cfg, safe: [dir.path] }, '/cgi/link.sh', '');
    assert.equal(safe.kind, 'script', 'cgi-safe allows it');
    const missing = await mapScript(cfg, '/cgi/nope/a.sh', '');
    assert.equal(missing.kind === 'error' && missing.status, 404);
    const ext = await mapScript({ ...cfg, allowedExt: ['.py'] }, '/cgi/a.sh', '');
    assert.equal(ext.kind === 'error' && ext.status, 403);
  });
});
