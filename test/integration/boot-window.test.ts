import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FIXTURES, TsgiProcess } from '../helpers/tsgi.js';

test('a connection made after the listener is bound but before the workers are ready is served', async () => {
  // The app sleeps at import, so there is a window between `listening on` and `ready`.
  const tsgi = new TsgiProcess([
    '--http-socket',
    '127.0.0.1:0',
    '--wsgi-file',
    `${FIXTURES}/apps/slow_import.py`,
    '--env',
    'SLOW_IMPORT_SECONDS=3',
  ]);
  try {
    await tsgi.waitForLine(/tsgi: listening on/);
    assert.doesNotMatch(tsgi.output, /tsgi: ready/, 'the request goes out before the instance is ready');
    const r = await fetch(`${tsgi.url()}/early`, { signal: AbortSignal.timeout(15_000) });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'imported slowly /early\n');
    await tsgi.waitForLine(/tsgi: ready/);
  } finally {
    assert.equal(await tsgi.stop(), 0);
  }
});
