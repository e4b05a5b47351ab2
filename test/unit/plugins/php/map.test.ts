import assert from 'node:assert/strict';
import { mkdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mapPhp, type PhpMapConfig } from '../../../../plugins/php/map.js';
import { tempDir } from '../../../helpers/tsgi.js';

describe('php runner: request → script', () => {
  const dir = tempDir();
  let root: string;
  let cfg: PhpMapConfig;
  before(() => {
    const base = realpathSync(dir.path);
    root = join(base, 'www');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(join(root, 'café'), { recursive: true });
    for (const f of ['index.php', 'app.php', 'sub/index.php', 'style.css', 'café/x.php'])
      writeFileSync(join(root, f), '<?php');
    writeFileSync(join(base, 'evil.php'), '<?php');
    symlinkSync('../evil.php', join(root, 'link.php'));
    cfg = {
      docroot: root,
      cwd: base,
      index: ['index.php'],
      allowedExt: ['.php'],
      allowedDocroot: [],
      allowedScript: [],
      app: null,
      fallback: null,
      fallback2: null,
      fallbackQs: null,
    };
  });
  after(() => dir.cleanup());
  const req = (path: string, query = '') =>
    new Map([
      ['PATH_INFO', path],
      ['QUERY_STRING', query],
    ]);

  test('SCRIPT_FILENAME, SCRIPT_NAME and PATH_INFO; UTF-8 paths keep their bytes', async () => {
    assert.deepEqual(await mapPhp(cfg, req('/app.php/a/b')), {
      kind: 'script',
      docroot: root,
      filename: join(root, 'app.php'),
      scriptName: '/app.php',
      pathInfo: '/a/b',
      query: null,
    });
    const utf = await mapPhp(cfg, req('/caf\xc3\xa9/x.php'));
    assert.equal(utf.kind === 'script' && utf.scriptName, '/caf\xc3\xa9/x.php');
    assert.equal(
      utf.kind === 'script' && utf.filename,
      Buffer.from(join(root, 'café/x.php')).toString('latin1'),
    );
  });

  test('index files, the slash redirect, 404, refusals', async () => {
    const home = await mapPhp(cfg, req('/'));
    assert.equal(home.kind === 'script' && home.filename, join(root, 'index.php'));
    assert.deepEqual(await mapPhp(cfg, req('/sub', 'x=1')), { kind: 'redirect', location: '/sub/?x=1' });
    const missing = await mapPhp(cfg, req('/nope.php'));
    assert.equal(missing.kind === 'error' && missing.status, 404);
    const css = await mapPhp(cfg, req('/style.css'));
    assert.equal(css.kind === 'error' && css.status, 403);
    const link = await mapPhp(cfg, req('/link.php'));
    assert.equal(link.kind === 'error' && link.status, 403);
    const allowed = await mapPhp({ ...cfg, allowedDocroot: [realpathSync(dir.path)] }, req('/link.php'));
    assert.equal(allowed.kind, 'script');
    const only = await mapPhp({ ...cfg, allowedScript: [join(root, 'index.php')] }, req('/app.php'));
    assert.equal(only.kind === 'error' && only.status, 403);
  });

  test('php-app, php-fallback2 with php-fallback-qs', async () => {
    const app = await mapPhp({ ...cfg, app: join(root, 'app.php') }, req('/any/route'));
    assert.deepEqual(app, {
      kind: 'script',
      docroot: root,
      filename: join(root, 'app.php'),
      scriptName: '',
      pathInfo: '',
      query: null,
    });
    const fb = await mapPhp({ ...cfg, fallback2: '/index.php', fallbackQs: 'r' }, req('/pretty/url', 'x=1'));
    assert.equal(fb.kind === 'script' && fb.filename, join(root, 'index.php'));
    assert.equal(fb.kind === 'script' && fb.query, 'r=/pretty/url&x=1');
  });
});
