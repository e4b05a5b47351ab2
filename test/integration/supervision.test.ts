import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, fetchRaw, rssBytes, startTsgi, TsgiProcess, tempDir, waitFor } from '../helpers/tsgi.js';

const CRASHY = `${FIXTURES}/apps/crashy.py`;

describe('master supervision', () => {
  test('kill -9 of a busy worker: its request gets 502, the worker is replaced, service resumes', async () => {
    const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', CRASHY, '--processes', '2']);
    try {
      const base = tsgi.url();
      const before = tsgi.workerPids();
      assert.equal(before.length, 2);
      const pending = fetchRaw(`${base}/sleep?30`);
      // Find the worker that is busy: the one the request went to (lowest id first).
      await tsgi.waitForLine(/spawned worker 2/);
      await new Promise((r) => setTimeout(r, 300));
      const busy = before[0]!;
      process.kill(busy, 'SIGKILL');
      const r = await pending;
      assert.equal(r.status, 502);
      await tsgi.waitForLine(/worker 1 \(pid \d+\) died \(killed by SIGKILL\)/);
      await waitFor(
        () => tsgi.workerPids().length === 2 && !tsgi.workerPids().includes(busy),
        10_000,
        'respawn',
      );
      const rs = await Promise.all([1, 2, 3, 4].map(() => fetchRaw(`${base}/ok`)));
      for (const x of rs) assert.equal(x.status, 200);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a worker that exits mid-request costs that request a 502 only', async () => {
    const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', CRASHY, '--processes', '1']);
    try {
      const base = tsgi.url();
      const r = await fetchRaw(`${base}/exit`);
      assert.equal(r.status, 502);
      await waitFor(
        async () => (await fetchRaw(`${base}/ok`).catch(() => ({ status: 0 }))).status === 200,
        10_000,
        'service back',
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('an app that cannot be imported: clear message with the traceback, exit 1, no respawn loop', async () => {
    const tsgi = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/broken.py`,
      '--processes',
      '2',
    ]);
    const code = await tsgi.wait(15_000);
    assert.equal(code, 1);
    assert.match(tsgi.output, /ModuleNotFoundError: No module named 'this_module_does_not_exist'/);
    assert.match(tsgi.output, /the app could not be loaded/);
    // One import attempt per worker at most (the prototype imports once for all): no respawn loop.
    assert.ok((tsgi.output.match(/spawned worker 1/g) ?? []).length <= 1, 'no respawn loop at boot');
    assert.ok((tsgi.output.match(/ModuleNotFoundError/g) ?? []).length <= 2, 'no respawn loop at boot');
  });

  test('SIGHUP while requests are in flight: none fails, new workers serve new code', async () => {
    const dir = tempDir();
    try {
      const app = join(dir.path, 'version.py');
      writeFileSync(app, (await import('node:fs')).readFileSync(`${FIXTURES}/apps/version.py`));
      writeFileSync(join(dir.path, 'version.txt'), 'v1');
      const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', app, '--processes', '2']);
      try {
        const base = tsgi.url();
        assert.match((await fetchRaw(`${base}/`)).text, /^v1 /);
        const slow = [fetchRaw(`${base}/sleep?1.5`), fetchRaw(`${base}/sleep?1.5`)];
        await new Promise((r) => setTimeout(r, 200));
        writeFileSync(join(dir.path, 'version.txt'), 'v2');
        tsgi.signal('SIGHUP');
        // Keep traffic going during the reload.
        const during: Promise<{ status: number }>[] = [];
        const until = Date.now() + 2500;
        while (Date.now() < until) {
          during.push(fetchRaw(`${base}/`));
          await new Promise((r) => setTimeout(r, 20));
        }
        for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
        for (const r of await Promise.all(during)) assert.equal(r.status, 200);
        await tsgi.waitForLine(/reload done/);
        await tsgi.waitForLine(/exited \(reload/);
        for (let i = 0; i < 4; i++) assert.match((await fetchRaw(`${base}/`)).text, /^v2 /);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('SIGHUP with an app that no longer imports: reload abandoned, old workers keep serving', async () => {
    const dir = tempDir();
    try {
      const app = join(dir.path, 'version.py');
      writeFileSync(app, (await import('node:fs')).readFileSync(`${FIXTURES}/apps/version.py`));
      writeFileSync(join(dir.path, 'version.txt'), 'v1');
      const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', app]);
      try {
        writeFileSync(app, 'raise ImportError("broken deploy")\n');
        tsgi.signal('SIGHUP');
        await tsgi.waitForLine(/reload abandoned/);
        assert.match(tsgi.output, /ImportError: broken deploy/);
        assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^v1 /);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('SIGTERM: in-flight requests finish, then the master exits 0 and no worker survives', async () => {
    const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', CRASHY, '--processes', '2']);
    const base = tsgi.url();
    const pending = fetchRaw(`${base}/sleep?1`);
    await new Promise((r) => setTimeout(r, 200));
    tsgi.signal('SIGTERM');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(await tsgi.stop(), 0);
    await assert.rejects(fetchRaw(`${base}/`, { timeoutMs: 2000 }), 'listener closed');
  });

  test('SIGQUIT stops at once', async () => {
    const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', CRASHY]);
    const pending = fetchRaw(`${tsgi.url()}/sleep?30`).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 200));
    tsgi.signal('SIGQUIT');
    const code = await tsgi.wait(5000);
    assert.equal(code, 0);
    assert.ok((await pending) instanceof Error || true);
    await tsgi.stop();
  });

  test('a 200 MB upload streams through: the master does not buffer it', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
    ]);
    try {
      const base = tsgi.url();
      await fetchRaw(`${base}/`);
      const rssBefore = rssBytes(tsgi.pid);
      let peak = rssBefore;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(tsgi.pid));
      }, 20);
      const total = 200 * 1024 * 1024;
      const block = Buffer.alloc(1024 * 1024, 7);
      async function* body() {
        for (let sent = 0; sent < total; sent += block.length) yield block;
      }
      const r = await fetchRaw(`${base}/digest`, { method: 'POST', body: body(), timeoutMs: 120_000 });
      clearInterval(sampler);
      assert.equal(r.status, 200);
      assert.equal((JSON.parse(r.text) as { bytes: number }).bytes, total);
      const growth = peak - rssBefore;
      assert.ok(growth < 50 * 1024 * 1024, `master RSS grew by ${(growth / 1048576).toFixed(1)} MB`);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a full queue answers 503 at once and the instance recovers', async () => {
    const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', CRASHY, '--listen', '2']);
    try {
      const base = tsgi.url();
      const slow = [1, 2, 3].map(() => fetchRaw(`${base}/sleep?1`));
      await new Promise((r) => setTimeout(r, 200));
      const rejected = await fetchRaw(`${base}/now`);
      assert.equal(rejected.status, 503);
      for (const r of await Promise.all(slow)) assert.equal(r.status, 200);
      assert.equal((await fetchRaw(`${base}/ok`)).status, 200);
      assert.match(tsgi.output, /request queue full/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
