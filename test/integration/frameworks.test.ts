import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { requireTool, runs, SYSTEM_PYTHON, startFixtureProject, type TsgiProcess } from '../helpers/tsgi.js';

const noFlask = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import flask']), 'python3-flask (Debian)');
const noDjango = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import django']), 'python3-django (Debian)');

describe('a real Flask app', { skip: noFlask }, () => {
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startFixtureProject('flaskapp', ['--module', 'app:app']);
    base = tsgi.url();
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
  });

  test('GET', async () => {
    const r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'flask ok\n');
  });

  test('JSON POST', async () => {
    const r = await fetch(`${base}/json`, { method: 'POST', body: JSON.stringify({ a: [1, 2], b: 'ü' }) });
    assert.deepEqual(await r.json(), { received: { a: [1, 2], b: 'ü' }, method: 'POST', path: '/json' });
  });

  test('form POST with repeated fields', async () => {
    const body = new URLSearchParams([
      ['name', 'Zoë'],
      ['tag', 'x'],
      ['tag', 'y'],
    ]);
    const r = await fetch(`${base}/form`, { method: 'POST', body });
    assert.deepEqual(await r.json(), { name: 'Zoë', tags: ['x', 'y'] });
  });

  test('multipart file upload (2 MB)', async () => {
    const data = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
    const form = new FormData();
    form.append('note', 'hello');
    form.append('file', new Blob([data]), 'data.bin');
    const r = await fetch(`${base}/upload`, { method: 'POST', body: form });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), {
      filename: 'data.bin',
      size: data.length,
      sha256: createHash('sha256').update(data).digest('hex'),
      field: 'hello',
    });
  });

  test('streamed response', async () => {
    const r = await fetch(`${base}/stream?n=50`);
    const lines = (await r.text()).trim().split('\n');
    assert.equal(lines.length, 50);
    assert.equal(lines[49], 'event 49');
  });

  test('404 from the app passes through', async () => {
    const r = await fetch(`${base}/missing`);
    assert.equal(r.status, 404);
    assert.deepEqual(await r.json(), { error: 'nope' });
  });
});

describe('a real Django project', { skip: noDjango }, () => {
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startFixtureProject('djangoproj', [
      ...['--module', 'site_conf.wsgi', '--mount', '/shop=site_conf.wsgi:application'],
      '--manage-script-name',
    ]);
    base = tsgi.url();
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
  });

  test('a view', async () => {
    const r = await fetch(`${base}/`);
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'django ok\n');
  });

  test('a POST to a csrf-exempt view', async () => {
    const r = await fetch(`${base}/order/`, { method: 'POST', body: JSON.stringify({ items: ['a', 'b'] }) });
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { ok: true, items: ['a', 'b'], length: 19 });
  });

  test('a 404', async () => {
    const r = await fetch(`${base}/items/999/`);
    assert.equal(r.status, 404);
  });

  test('mounted under a prefix with manage-script-name: SCRIPT_NAME and URL routing agree', async () => {
    const r = await fetch(`${base}/shop/items/7/`);
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { id: 7, script_name: '/shop' });
  });
});
