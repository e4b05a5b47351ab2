import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { closed, events, nextMessage, openWs, startAsgi, waitForEvent, wsUrl } from '../../helpers/asgi.js';
import {
  fetchRaw,
  requireTool,
  runs,
  SYSTEM_PYTHON,
  startFixtureProject,
  type TsgiProcess,
  tempDir,
} from '../../helpers/tsgi.js';

const noStarlette = requireTool(
  () => runs(SYSTEM_PYTHON, ['-c', 'import starlette']),
  'python3-starlette (Debian)',
);
const noDjango = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import django']), 'python3-django (Debian)');

describe('a Starlette app', { skip: noStarlette }, () => {
  const dir = tempDir('tsgi-starlette-');
  const ev = join(dir.path, 'events');
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startAsgi('starlette_app:app', ['--processes', '2'], ev);
    base = tsgi.url();
  });
  after(async () => {
    const pids = tsgi.workerPids();
    assert.equal(await tsgi.stop(), 0);
    for (const pid of pids)
      assert.ok(events(ev).includes(`shutdown ${pid}`), `shutdown ${pid}: ${events(ev)}`);
    dir.cleanup();
  });

  test('lifespan startup ran in every worker, and its state reaches requests', async () => {
    const started = events(ev).filter((l) => l.startsWith('startup '));
    assert.equal(started.length, 2);
    const r = await fetchRaw(`${base}/`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello from lifespan (/)\n');
  });

  test('JSON POST', async () => {
    const r = await fetchRaw(`${base}/json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ a: [1, 2], b: 'ü' }),
    });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { received: { a: [1, 2], b: 'ü' }, method: 'POST' });
  });

  test('StreamingResponse', async () => {
    const r = await fetchRaw(`${base}/stream`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'line 0\nline 1\nline 2\nline 3\nline 4\n');
  });

  test('a client leaving mid-stream stops the stream in the app', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}/endless`, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.setTimeout(10_000, () => reject(new Error('no first chunk')));
      req.end();
    });
    await waitForEvent(ev, /^cancelled \/endless$/);
  });

  test('WebSocket echo through Starlette, with subprotocol', async () => {
    const ws = await openWs(wsUrl(base, '/ws'), ['echo']);
    assert.equal(ws.protocol, 'echo');
    ws.send('ping from node');
    assert.equal((await nextMessage(ws))[0].toString(), 'ping from node');
    ws.send(Buffer.from('binary'));
    const [data, isBinary] = await nextMessage(ws);
    assert.equal(data.toString(), 'binary');
    assert.equal(isBinary, true);
    ws.close(1000);
    await closed(ws);
    await waitForEvent(ev, /^ws closed 1000$/);
  });
});

describe("Django's ASGI handler", { skip: noDjango }, () => {
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startFixtureProject('djangoproj', ['--asgi', 'site_conf.asgi:application']);
    base = tsgi.url();
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
  });

  test('GET', async () => {
    const r = await fetchRaw(`${base}/`);
    assert.equal(r.status, 200);
    assert.equal(r.text, 'django ok\n');
  });

  test('a URL parameter and a 404', async () => {
    const r = await fetchRaw(`${base}/items/7/`);
    assert.deepEqual(JSON.parse(r.text), { id: 7, script_name: '' });
    assert.equal((await fetchRaw(`${base}/items/500/`)).status, 404);
  });

  test('JSON POST', async () => {
    const body = JSON.stringify({ items: ['a', 'b'] });
    const r = await fetchRaw(`${base}/order/`, { method: 'POST', body });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.text), { ok: true, items: ['a', 'b'], length: body.length });
  });

  test('Django has no lifespan: said once, and it serves anyway', () => {
    assert.equal((tsgi.output.match(/does not support the lifespan protocol/g) ?? []).length, 1);
  });
});
