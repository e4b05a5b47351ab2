import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { closed, nextMessage, openWs, startAsgi, waitForEvent, wsUrl } from '../../helpers/asgi.js';
import {
  requireTool,
  runs,
  SYSTEM_PYTHON,
  startTsgi,
  type TsgiProcess,
  tempDir,
} from '../../helpers/tsgi.js';

const noPython = requireTool(() => runs(SYSTEM_PYTHON, ['-c', 'import asyncio']), 'python3');
const noWebsockets = requireTool(
  () => runs(SYSTEM_PYTHON, ['-c', 'import websockets']),
  'python3-websockets (Debian)',
);

/** The first close frame a raw client reads: its code (RFC 6455 §5.5.1), or -1 if the socket just closed. */
function rawCloseCode(url: string, frame: Buffer): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const t = setTimeout(() => {
      sock.destroy();
      reject(new Error('no close frame within 10 s'));
    }, 10_000);
    sock.on('connect', () =>
      sock.write(
        'GET /ws/echo HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.toString('latin1', 0, end), /^HTTP\/1\.1 101/);
        buf = buf.subarray(end + 4);
        upgraded = true;
        sock.write(frame);
      }
      if (buf.length >= 4 && (buf[0]! & 0x0f) === 0x8) {
        clearTimeout(t);
        sock.destroy();
        resolve(buf.readUInt16BE(2));
      }
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(-1);
    });
    sock.on('error', () => {});
  });
}

describe('WebSockets to a plain ASGI app', { skip: noPython }, () => {
  const dir = tempDir('tsgi-ws-');
  const ev = join(dir.path, 'events');
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startAsgi(
      'plain:app',
      ['--processes', '1', '--websockets-max-size', '2048', '--websockets-ping-freq', '1', '--harakiri', '2'],
      ev,
    );
    base = tsgi.url();
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
    dir.cleanup();
  });

  test('text and binary messages are echoed; subprotocol and accept headers reach the client', async () => {
    const ws = new WebSocket(wsUrl(base, '/ws/echo'), ['chat.v2', 'chat.v1']);
    const upgrade = new Promise<Record<string, unknown>>((r) => ws.once('upgrade', (res) => r(res.headers)));
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    assert.equal(ws.protocol, 'chat.v2');
    assert.equal((await upgrade)['x-tsgi-test'], 'yes');
    ws.send('héllo');
    const [text, isBinary] = await nextMessage(ws);
    assert.equal(text.toString(), 'héllo');
    assert.equal(isBinary, false);
    ws.send(Buffer.from([0, 1, 2, 255]));
    const [bin, isBin] = await nextMessage(ws);
    assert.deepEqual([...bin], [0, 1, 2, 255]);
    assert.equal(isBin, true);
    ws.close(1000);
    await closed(ws);
  });

  test('a large message sent in fragments arrives whole and comes back whole', async () => {
    const ws = await openWs(wsUrl(base, '/ws/echo'));
    const part = Buffer.alloc(64 * 1024);
    const parts: Buffer[] = [];
    for (let i = 0; i < 24; i++) {
      const p = Buffer.from(part.fill(i));
      parts.push(p);
      ws.send(p, { binary: true, fin: i === 23 });
    }
    const [echo] = await nextMessage(ws);
    assert.equal(echo.length, 24 * part.length);
    assert.ok(echo.equals(Buffer.concat(parts)));
    ws.close();
    await closed(ws);
  });

  test('a message over websockets-max-size closes the connection with 1009; the app sees it', async () => {
    const ws = await openWs(wsUrl(base, '/ws/echo'));
    ws.send(Buffer.alloc(2048 * 1024 + 1));
    const [code] = await closed(ws);
    assert.equal(code, 1009);
    await waitForEvent(ev, /^ws-disconnect \/ws\/echo 1009/);
  });

  test('pings from the client get pongs; the server pings every websockets-ping-freq', async () => {
    const ws = await openWs(wsUrl(base, '/ws/echo'));
    const pong = new Promise<Buffer>((r) => ws.once('pong', r));
    ws.ping(Buffer.from('are you there'));
    assert.equal((await pong).toString(), 'are you there');
    await new Promise<void>((r, j) => {
      const t = setTimeout(() => j(new Error('no ping from the server within 5 s')), 5000);
      ws.once('ping', () => {
        clearTimeout(t);
        r();
      });
    });
    ws.close();
    await closed(ws);
  });

  test('the closing handshake carries the client code and reason to the app', async () => {
    const ws = await openWs(wsUrl(base, '/ws/echo'));
    ws.close(4000, 'bye now');
    const [code, reason] = await closed(ws);
    assert.equal(code, 4000);
    assert.equal(reason, 'bye now');
    await waitForEvent(ev, /^ws-disconnect \/ws\/echo 4000 bye now$/);
  });

  test('the app closes with its own code and reason', async () => {
    const ws = await openWs(wsUrl(base, '/ws/close'));
    assert.deepEqual(await closed(ws), [4001, 'custom']);
  });

  test('websocket.close before accept refuses the handshake with 403', async () => {
    await assert.rejects(openWs(wsUrl(base, '/ws/reject')), { status: 403 });
  });

  test('the websocket.http.response extension answers the handshake with the app HTTP response', async () => {
    await assert.rejects(openWs(wsUrl(base, '/ws/deny')), { status: 401, body: 'no entry\n' });
  });

  test('an unmasked frame from a client is a protocol error (1002)', async () => {
    const unmasked = Buffer.from([0x81, 0x05, ...Buffer.from('hello')]);
    assert.equal(await rawCloseCode(base, unmasked), 1002);
  });

  test('harakiri does not cut an accepted WebSocket', async () => {
    const ws = await openWs(wsUrl(base, '/ws/echo'));
    await new Promise((r) => setTimeout(r, 3500));
    ws.send('still here');
    assert.equal((await nextMessage(ws))[0].toString(), 'still here');
    ws.close();
    await closed(ws);
    assert.doesNotMatch(tsgi.output, /HARAKIRI/);
  });

  test('a Python client (python3-websockets) talks to the app', { skip: noWebsockets }, async () => {
    const script = `
import asyncio, json, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], subprotocols=["py"]) as ws:
        await ws.send("from python")
        text = await ws.recv()
        await ws.send(bytes(range(10)))
        data = await ws.recv()
        print(json.dumps({"text": text, "bytes": list(data), "subprotocol": ws.subprotocol}))
asyncio.run(main())
`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(SYSTEM_PYTHON, ['-c', script, wsUrl(base, '/ws/echo')], { timeout: 20_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    assert.deepEqual(JSON.parse(out), {
      text: 'from python',
      bytes: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      subprotocol: 'py',
    });
  });
});

describe('WebSocket idle and lifetime limits', { skip: noPython }, () => {
  test('websockets-idle-timeout closes a quiet connection with 1001; pings do not count', async () => {
    const tsgi = await startAsgi('plain:app', [
      '--websockets-idle-timeout',
      '2',
      '--websockets-ping-freq',
      '1',
    ]);
    try {
      const ws = await openWs(wsUrl(tsgi.url(), '/ws/echo'));
      assert.deepEqual(await closed(ws), [1001, 'idle timeout']);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a client that does not answer pings is dropped after websockets-pong-tolerance', async () => {
    const tsgi = await startAsgi('plain:app', [
      '--websockets-ping-freq',
      '1',
      '--websockets-pong-tolerance',
      '1',
    ]);
    try {
      const ws = await openWs(wsUrl(tsgi.url(), '/ws/echo'), [], { autoPong: false });
      const [code] = await closed(ws);
      assert.equal(code, 1006);
      await tsgi.waitForLine(/websocket GET \/ws\/echo: no pong within 1 s; dropping it/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('websockets-max-lifetime closes even a busy connection with 1001', async () => {
    const tsgi = await startAsgi('plain:app', ['--websockets-max-lifetime', '2']);
    try {
      const ws = await openWs(wsUrl(tsgi.url(), '/ws/echo'));
      const chatter = setInterval(() => ws.send('x'), 100);
      const [code, reason] = await closed(ws);
      clearInterval(chatter);
      assert.deepEqual([code, reason], [1001, 'connection lifetime limit']);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('WebSockets and the internal router', { skip: noPython }, () => {
  test('header rules (add-header, del-header) shape the 101 as any response, and the socket works', async () => {
    const tsgi = await startAsgi('plain:app', [
      '--add-header',
      'X-Frame-Options: DENY',
      '--del-header',
      'X-Tsgi-Test',
      '--route',
      '^/ws/refused$ return:403',
    ]);
    try {
      const base = tsgi.url();
      const ws = await openWs(wsUrl(base, '/ws/echo'));
      const upgrade = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
        const c = new WebSocket(wsUrl(base, '/ws/echo'));
        c.once('upgrade', (res) => {
          c.close();
          resolve(res.headers);
        });
        c.once('error', reject);
      });
      assert.equal(upgrade['x-frame-options'], 'DENY', 'add-header applies to the 101');
      assert.equal(upgrade['x-tsgi-test'], undefined, 'del-header applies to the 101');
      ws.send('through the rules');
      assert.equal((await nextMessage(ws))[0].toString(), 'through the rules');
      ws.close(1000);
      assert.equal((await closed(ws))[0], 1000);
      await assert.rejects(openWs(wsUrl(base, '/ws/refused')), { status: 403 });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});

describe('a tsgi front proxying to a tsgi ASGI app', { skip: noPython }, () => {
  test('passes WebSockets through (http action) and the app sees the client close', async () => {
    const dir = tempDir('tsgi-ws-front-');
    const ev = join(dir.path, 'events');
    const app = await startAsgi('plain:app', [], ev);
    const front = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--need-app=false',
      '--route',
      `^/ws/ http:${new URL(app.url()).host}`,
    ]);
    try {
      const ws = await openWs(wsUrl(front.url(), '/ws/echo'), ['chat']);
      assert.equal(ws.protocol, 'chat');
      ws.send(Buffer.alloc(300_000, 7));
      const [data, binary] = await nextMessage(ws);
      assert.ok(binary);
      assert.equal(data.length, 300_000);
      ws.close(4321, 'through the front');
      assert.equal((await closed(ws))[0], 4321);
      await waitForEvent(ev, /^ws-disconnect \/ws\/echo 4321 through the front$/);
    } finally {
      assert.equal(await front.stop(), 0);
      assert.equal(await app.stop(), 0);
      dir.cleanup();
    }
  });
});
