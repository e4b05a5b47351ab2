import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { TsgiRequest } from '../../../core/request/request.js';
import type { WebSocketEvents, WebSocketHandshake, WebSocketLink } from '../../../core/request/websocket.js';
import { Frame, FrameReader, INITIAL_WINDOW } from '../../../core/transport/frames.js';
import { type StreamState, WebSocketStream } from '../../../core/transport/ws-stream.js';

interface Written {
  type: number;
  stream: number;
  payload: Buffer;
}

/** A transport socket that keeps the frames written to it. */
function transport(): { socket: Socket; frames: Written[] } {
  const frames: Written[] = [];
  const reader = new FrameReader((type, stream, buf, start, end) =>
    frames.push({ type, stream, payload: Buffer.from(buf.subarray(start, end)) }),
  );
  const socket = {
    destroyed: false,
    cork() {},
    uncork() {},
    write(b: Buffer) {
      reader.push(b);
      return true;
    },
  } as unknown as Socket;
  return { socket, frames };
}

/** An edge's accepted link that records what the stream asks of it. */
class FakeLink implements WebSocketLink {
  calls: string[] = [];
  sent: Array<[string, boolean]> = [];
  slow = false;
  send(data: Buffer, binary: boolean): boolean {
    this.sent.push([data.toString(), binary]);
    return !this.slow;
  }
  close(code: number, reason: string): void {
    this.calls.push(`close ${code} ${reason}`);
  }
  pause(): void {
    this.calls.push('pause');
  }
  resume(): void {
    this.calls.push('resume');
  }
  retire(stopping: boolean): void {
    this.calls.push(`retire ${stopping}`);
  }
}

function setup() {
  const { socket, frames } = transport();
  const st: StreamState = {
    id: 7,
    req: new TsgiRequest(new Map(), null, 0, 'http'),
    sendWindow: INITIAL_WINDOW,
    unacked: 0,
    blocked: false,
    finished: false,
  };
  const link = new FakeLink();
  const accepted: Array<[string | null, readonly string[]]> = [];
  const handshake: WebSocketHandshake = {
    subprotocols: ['a', 'b'],
    accept(sub, headers, _events: WebSocketEvents) {
      accepted.push([sub, headers]);
      return link;
    },
  };
  const ws = new WebSocketStream(st, socket, handshake);
  return { st, ws, link, frames, accepted };
}

test('accept: the subprotocol comes from the worker headers, the rest are passed on; the request is upgraded', () => {
  const { ws, st, accepted } = setup();
  assert.equal(ws.accept(['Sec-WebSocket-Protocol', 'b', 'X-Extra', '1']), true);
  assert.deepEqual(accepted, [['b', ['X-Extra', '1']]]);
  assert.equal(st.req.status, 101);
  assert.equal(st.req.upgraded, true);
});

test('client messages become WS_MESSAGE frames; a used-up window pauses the client until credit', () => {
  const { ws, st, link, frames } = setup();
  ws.accept([]);
  const big = Buffer.alloc(INITIAL_WINDOW / 2);
  ws.onMessage(Buffer.from('hi'), false);
  assert.deepEqual(frames[0], { type: Frame.WS_MESSAGE, stream: 7, payload: Buffer.from([1, 104, 105]) });
  ws.onMessage(big, true);
  assert.deepEqual(link.calls, []);
  ws.onMessage(big, true);
  assert.deepEqual(link.calls, ['pause']);
  assert.equal(frames.length, 3);
  assert.equal(frames[2]!.payload[0], 2);
  st.sendWindow += INITIAL_WINDOW;
  ws.windowOpened();
  assert.deepEqual(link.calls, ['pause', 'resume']);
  assert.equal(st.req.bytesIn, 2 + INITIAL_WINDOW);
});

test('worker messages reach the client; a slow client holds the credit back until it drains', () => {
  const { ws, st, link, frames } = setup();
  ws.accept([]);
  const msg = (kind: number, text: string) => Buffer.concat([Buffer.from([kind]), Buffer.from(text)]);
  const m = msg(1, 'hello');
  ws.fromWorker(m, 0, m.length, true);
  assert.deepEqual(link.sent, [['hello', false]]);
  assert.equal(frames.length, 0, 'no credit for a few bytes');
  link.slow = true;
  const b = msg(2, 'x'.repeat(1000));
  ws.fromWorker(b, 0, b.length, true);
  assert.equal(st.blocked, true);
  assert.equal(frames.length, 0);
  ws.onDrain();
  assert.equal(frames.length, 1);
  assert.equal(frames[0]!.type, Frame.CREDIT);
  assert.equal(frames[0]!.payload.readUInt32LE(0), 1005);
  assert.equal(st.req.bytesOut, 1005);
});

test('close codes: the client close goes to the worker; after the app closes, nothing more does', () => {
  const a = setup();
  a.ws.accept([]);
  a.ws.onClose(4000, 'bye');
  assert.equal(a.frames[0]!.type, Frame.WS_CLOSE);
  assert.equal(a.frames[0]!.payload.readUInt16LE(0), 4000);
  assert.equal(a.frames[0]!.payload.toString('utf8', 2), 'bye');
  const b = setup();
  b.ws.accept([]);
  b.ws.closeFromWorker(4001, 'custom');
  assert.deepEqual(b.link.calls, ['close 4001 custom']);
  b.ws.onMessage(Buffer.from('late'), false);
  b.ws.onClose(4001, 'custom');
  assert.equal(b.frames.length, 0);
});

test('END closes a socket the app left open with 1000; a lost worker closes with 1011; retire reaches the edge', () => {
  const a = setup();
  a.ws.accept([]);
  a.ws.end();
  assert.deepEqual(a.link.calls, ['close 1000 ']);
  const b = setup();
  b.ws.accept([]);
  b.ws.retire(false);
  b.ws.lost('the worker died');
  assert.deepEqual(b.link.calls, ['retire false', 'close 1011 the worker died']);
});
