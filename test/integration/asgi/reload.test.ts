import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  ASGI_FIXTURES,
  closed,
  events,
  nextMessage,
  openWs,
  startAsgi,
  waitForEvent,
  wsUrl,
} from '../../helpers/asgi.js';
import {
  fetchRaw,
  requireTool,
  runs,
  SYSTEM_PYTHON,
  startTsgi,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const noPython = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import asyncio']), 'python3');

describe('a graceful reload with open WebSockets', { skip: noPython }, () => {
  test('old sockets keep working until websockets-reload-mercy, new ones reach the new worker', async () => {
    const dir = tempDir('tsgi-ws-reload-');
    const ev = join(dir.path, 'events');
    const tsgi = await startAsgi('plain:app', ['--processes', '1', '--websockets-reload-mercy', '3'], ev);
    try {
      const base = tsgi.url();
      const old = await openWs(wsUrl(base, '/ws/pid'));
      const oldPid = Number((await nextMessage(old))[0].toString());
      const oldClosed = closed(old);

      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/tsgi: reload done/);

      // The retiring worker still serves its open socket...
      old.send('still served');
      assert.equal((await nextMessage(old))[0].toString(), 'still served');
      // ...while new sockets and requests go to the new worker.
      const fresh = await openWs(wsUrl(base, '/ws/pid'));
      const newPid = Number((await nextMessage(fresh))[0].toString());
      assert.notEqual(newPid, oldPid);
      assert.equal((await fetchRaw(`${base}/scope`)).status, 200);

      // After the mercy, tsgi closes the old socket with 1012 (service restart); the app sees it,
      // finishes, and its worker runs the lifespan shutdown and exits.
      assert.deepEqual(await oldClosed, [1012, 'the server is restarting']);
      await waitForEvent(ev, /^ws-disconnect \/ws\/pid 1012 the server is restarting$/);
      await tsgi.waitForLine(new RegExp(`worker 1 \\(pid ${oldPid}\\) exited \\(reload, exit code 0\\)`));
      assert.ok(events(ev).includes(`shutdown ${oldPid}`));

      fresh.send('new worker');
      assert.equal((await nextMessage(fresh))[0].toString(), 'new worker');

      // A graceful stop closes the remaining socket with 1001 after the same mercy.
      const freshClosed = closed(fresh);
      const stopped = tsgi.stop();
      assert.deepEqual(await freshClosed, [1001, 'the server is stopping']);
      assert.equal(await stopped, 0);
      await waitFor(
        () => events(ev).includes(`shutdown ${newPid}`),
        5000,
        'the new worker lifespan shutdown',
      );
      assert.doesNotMatch(tsgi.output, /502|killing it/);
    } finally {
      if (tsgi.exitCode === undefined) await tsgi.stop().catch(() => tsgi.kill());
      dir.cleanup();
    }
  });
});

describe('a reload whose lifespan startup fails', { skip: noPython }, () => {
  test('is abandoned with the app message in the log; the old worker and its WebSockets keep serving', async () => {
    const dir = tempDir('tsgi-asgi-badreload-');
    const ini = join(dir.path, 'app.ini');
    const write = (app: string) =>
      writeFileSync(
        ini,
        `[uwsgi]\nhttp-socket = 127.0.0.1:0\npython-bin = ${SYSTEM_PYTHON}\nchdir = ${ASGI_FIXTURES}\nasgi = ${app}\nprocesses = 1\n`,
      );
    write('plain:app');
    const tsgi = await startTsgi(['--ini', ini]);
    try {
      const base = tsgi.url();
      const ws = await openWs(wsUrl(base, '/ws/pid'));
      const pid = Number((await nextMessage(ws))[0].toString());
      write('failstart:app');
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload abandoned/);
      assert.match(tsgi.output, /the database is not there \(on purpose\)/);
      ws.send('still here');
      assert.equal((await nextMessage(ws))[0].toString(), 'still here');
      assert.equal((await fetchRaw(`${base}/scope`)).status, 200);
      assert.deepEqual(tsgi.workerPids(), [pid]);
      ws.close(1000);
      await closed(ws);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });
});

describe('an ASGI worker that dies', { skip: noPython }, () => {
  test('costs its open WebSockets a 1011 close; it is replaced and the next ones are served', async () => {
    const tsgi = await startAsgi('plain:app', ['--processes', '1']);
    try {
      const base = tsgi.url();
      const ws = await openWs(wsUrl(base, '/ws/pid'));
      const pid = Number((await nextMessage(ws))[0].toString());
      const gone = closed(ws);
      process.kill(pid, 'SIGKILL');
      assert.equal((await gone)[0], 1011);
      await waitFor(() => tsgi.workerPids().some((p) => p !== pid), 10_000, 'a new worker');
      const again = await openWs(wsUrl(base, '/ws/pid'));
      assert.notEqual(Number((await nextMessage(again))[0].toString()), pid);
      again.close(1000);
      await closed(again);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
