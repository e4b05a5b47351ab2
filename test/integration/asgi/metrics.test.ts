import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { closed, nextMessage, openWs, startAsgi, wsUrl } from '../../helpers/asgi.js';
import { metricsUrl, scrapeUntil } from '../../helpers/observe.js';
import { sampleValue as v } from '../../helpers/prometheus.js';
import { fetchRaw, requireTool, runs, SYSTEM_PYTHON } from '../../helpers/tsgi.js';

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
