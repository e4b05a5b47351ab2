import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type WebSocket from 'ws';
import { closed, nextMessage, openWs, startAsgi, wsUrl } from '../../helpers/asgi.js';
import { fetchRaw, requireTool, rssBytes, runs, SYSTEM_PYTHON, waitFor } from '../../helpers/tsgi.js';

const noPython = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import asyncio']), 'python3');

/** What the master may hold per idle WebSocket, bytes: socket, `ws` state, stream and request. */
const MASTER_BYTES_PER_IDLE_SOCKET = 64 * 1024;

/** The plain app's counters (messages the flood route sent, messages the slow route took). */
async function counts(base: string): Promise<{ flood: number; slow: number }> {
  return JSON.parse((await fetchRaw(`${base}/counts`)).text);
}

describe('many WebSockets and slow peers', { skip: noPython }, () => {
  test(`1000 idle WebSockets on one worker cost the master under ${MASTER_BYTES_PER_IDLE_SOCKET / 1024} KiB each`, async () => {
    // 1100 sockets (100 to warm up) and room for one more request.
    const tsgi = await startAsgi('plain:app', ['--processes', '1', '--asgi-concurrency', '1200']);
    const sockets: WebSocket[] = [];
    try {
      const base = tsgi.url();
      const openBatch = async (n: number) => {
        const batch = await Promise.all(Array.from({ length: n }, () => openWs(wsUrl(base, '/ws/echo'))));
        // Each one is really served: an echo comes back through the worker.
        await Promise.all(
          batch.map(async (ws, i) => {
            ws.send(`hello ${i}`);
            assert.equal((await nextMessage(ws))[0].toString(), `hello ${i}`);
          }),
        );
        sockets.push(...batch);
      };
      // Warm up (code paths, buffers, the worker's 1000 slots), then measure 1000 more.
      await openBatch(100);
      await new Promise((r) => setTimeout(r, 500));
      const before = rssBytes(tsgi.pid);
      for (let i = 0; i < 10; i++) await openBatch(100);
      await new Promise((r) => setTimeout(r, 500));
      const after = rssBytes(tsgi.pid);
      const perSocket = (after - before) / 1000;
      process.stderr.write(`master RSS per idle WebSocket: ${(perSocket / 1024).toFixed(1)} KiB\n`);
      assert.ok(
        perSocket < MASTER_BYTES_PER_IDLE_SOCKET,
        `${(perSocket / 1024).toFixed(1)} KiB per socket (RSS ${before} → ${after})`,
      );
      assert.equal(tsgi.workerPids().length, 1);
      assert.equal((await fetchRaw(`${base}/scope`)).status, 200);
    } finally {
      for (const ws of sockets) ws.terminate();
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a client that does not read stops the app sending: the master buffers a bounded amount', async () => {
    const tsgi = await startAsgi('plain:app', ['--processes', '1']);
    try {
      const base = tsgi.url();
      const before = rssBytes(tsgi.pid);
      const ws = await openWs(wsUrl(base, '/ws/flood'));
      ws.pause(); // read nothing: the socket buffers fill, then the app must be held back
      let last = -1;
      let now = 0;
      await waitFor(
        async () => {
          now = (await counts(base)).flood;
          const still = now > 0 && now === last;
          last = now;
          return still;
        },
        20_000,
        'the flood to stop',
        1000,
      );
      const sentMiB = (now * 64) / 1024;
      const grewMiB = (rssBytes(tsgi.pid) - before) / 1048576;
      process.stderr.write(
        `flood held at ${sentMiB.toFixed(1)} MiB sent; master RSS +${grewMiB.toFixed(1)} MiB\n`,
      );
      // Sent = the kernel's socket buffers + one 256 KiB window + what node queued before pausing.
      assert.ok(sentMiB < 32, `the app sent ${sentMiB} MiB to a client that reads nothing`);
      assert.ok(grewMiB < 24, `the master grew by ${grewMiB} MiB`);
      ws.resume();
      ws.close();
      await closed(ws);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('an app that does not read makes tsgi stop reading the client', async () => {
    const tsgi = await startAsgi('plain:app', ['--processes', '1', '--websockets-reload-mercy', '1']);
    try {
      const base = tsgi.url();
      const before = rssBytes(tsgi.pid);
      const ws = await openWs(wsUrl(base, '/ws/slow'));
      const message = Buffer.alloc(256 * 1024);
      for (let i = 0; i < 256; i++) ws.send(message); // 64 MiB; the app takes one message a second
      await new Promise((r) => setTimeout(r, 2000));
      const queuedMiB = ws.bufferedAmount / 1048576;
      const grewMiB = (rssBytes(tsgi.pid) - before) / 1048576;
      const taken = (await counts(base)).slow;
      process.stderr.write(
        `client still holds ${queuedMiB.toFixed(1)} MiB; master RSS +${grewMiB.toFixed(1)} MiB; app took ${taken}\n`,
      );
      assert.ok(queuedMiB > 24, `only ${queuedMiB} MiB held back at the client`);
      assert.ok(grewMiB < 24, `the master grew by ${grewMiB} MiB`);
      ws.terminate();
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
