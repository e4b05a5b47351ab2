import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ASGI_FIXTURES, closed, nextMessage, openWs, startAsgi, wsUrl } from '../../helpers/asgi.js';
import { EmperorProcess, writeVassal } from '../../helpers/emperor.js';
import { metricsUrl, scrapeUntil } from '../../helpers/observe.js';
import { sampleValue as v } from '../../helpers/prometheus.js';
import { fetchRaw, requireTool, runs, SYSTEM_PYTHON, tempDir } from '../../helpers/tsgi.js';

const noPython = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import asyncio']), 'python3');

describe('WebSocket and ASGI metrics', { skip: noPython }, () => {
  test('open connections, messages and bytes each way; app exceptions', async () => {
    const tsgi = await startAsgi('plain:app', ['--prometheus', '127.0.0.1:0']);
    try {
      const base = tsgi.url();
      const metrics = await metricsUrl(tsgi);
      const a = await openWs(wsUrl(base, '/ws/echo'));
      const b = await openWs(wsUrl(base, '/ws/echo'));
      for (const text of ['0123456789', 'abcdefghij', 'ABCDEFGHIJ']) {
        a.send(text);
        assert.equal((await nextMessage(a))[0].toString(), text);
      }
      b.send(Buffer.alloc(5));
      await nextMessage(b);
      let m = await scrapeUntil(
        metrics,
        (x) => v(x, 'tsgi_websocket_messages_total', { direction: 'out' }) === 4,
        'four echoes counted',
      );
      assert.equal(v(m, 'tsgi_websocket_connections'), 2);
      assert.equal(v(m, 'tsgi_websocket_connections_total'), 2);
      assert.equal(v(m, 'tsgi_websocket_messages_total', { direction: 'in' }), 4);
      assert.equal(v(m, 'tsgi_websocket_bytes_total', { direction: 'in' }), 35);
      assert.equal(v(m, 'tsgi_websocket_bytes_total', { direction: 'out' }), 35);
      a.close();
      await closed(a);
      m = await scrapeUntil(metrics, (x) => v(x, 'tsgi_websocket_connections') === 1, 'one left open');
      // An app exception on a WebSocket (1011 to the client) and on an http request (500).
      const boom = await openWs(wsUrl(base, '/ws/boom'));
      assert.equal((await closed(boom))[0], 1011);
      assert.equal((await fetchRaw(`${base}/boom`)).status, 500);
      m = await scrapeUntil(metrics, (x) => v(x, 'tsgi_app_exceptions_total') === 2, 'two app exceptions');
      b.close();
      await closed(b);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('WebSocket metrics through the emperor', { skip: noPython }, () => {
  test("one Prometheus endpoint shows each vassal's WebSockets with its vassal label", async () => {
    const dir = tempDir();
    const options = {
      'http-socket': '127.0.0.1:0',
      'python-bin': SYSTEM_PYTHON,
      chdir: ASGI_FIXTURES,
      asgi: 'plain:app',
    };
    writeVassal(dir.path, 'chat.ini', options);
    writeVassal(dir.path, 'quiet.ini', options);
    const emperor = new EmperorProcess([
      dir.path,
      '--emperor-freq',
      '1',
      '--emperor-prometheus',
      '127.0.0.1:0',
    ]);
    try {
      const chat = await emperor.waitLoyal('chat.ini');
      await emperor.waitLoyal('quiet.ini');
      const ws = await openWs(wsUrl(chat.url, '/ws/echo'));
      ws.send('hello');
      assert.equal((await nextMessage(ws))[0].toString(), 'hello');
      const url = `http://${await emperor.address('prometheus metrics')}/metrics`;
      const m = await scrapeUntil(
        url,
        (x) => {
          try {
            return v(x, 'tsgi_websocket_messages_total', { direction: 'out', vassal: 'chat.ini' }) === 1;
          } catch {
            return false; // the vassal's answer missed this scrape
          }
        },
        "the chat vassal's echo counted under its name",
      );
      assert.equal(v(m, 'tsgi_websocket_connections', { vassal: 'chat.ini' }), 1);
      assert.equal(v(m, 'tsgi_websocket_bytes_total', { direction: 'in', vassal: 'chat.ini' }), 5);
      assert.equal(v(m, 'tsgi_websocket_connections', { vassal: 'quiet.ini' }), 0);
      ws.close();
      await closed(ws);
      assert.equal(await emperor.stop(), 0);
    } finally {
      emperor.kill();
      dir.cleanup();
    }
  });
});
