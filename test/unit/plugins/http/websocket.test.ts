import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import {
  isWebSocketUpgrade,
  offeredSubprotocols,
  refuseHandshake,
} from '../../../../plugins/http/websocket.js';

/** A handshake request as node:http parses it (only what the checks read). */
function handshake(over: Partial<{ method: string; minor: number; headers: Record<string, string> }> = {}) {
  return {
    method: over.method ?? 'GET',
    httpVersionMajor: 1,
    httpVersionMinor: over.minor ?? 1,
    headers: {
      connection: 'keep-alive, Upgrade',
      upgrade: 'WebSocket',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      ...over.headers,
    },
  } as unknown as IncomingMessage;
}

test('a valid handshake passes (RFC 6455 §4.2.1); Upgrade and Connection match in any case', () => {
  assert.equal(isWebSocketUpgrade(handshake()), true);
  assert.equal(refuseHandshake(handshake()), null);
});

test('other upgrades are not WebSocket ones', () => {
  assert.equal(isWebSocketUpgrade(handshake({ headers: { upgrade: 'h2c' } })), false);
});

test('each broken part of a handshake is refused with its status', () => {
  assert.equal(refuseHandshake(handshake({ method: 'POST' }))?.status, 400);
  assert.equal(refuseHandshake(handshake({ minor: 0 }))?.status, 400);
  assert.equal(refuseHandshake(handshake({ headers: { connection: 'keep-alive' } }))?.status, 400);
  assert.equal(refuseHandshake(handshake({ headers: { 'sec-websocket-key': 'short' } }))?.status, 400);
  const v = refuseHandshake(handshake({ headers: { 'sec-websocket-version': '8' } }));
  assert.equal(v?.status, 426);
  assert.deepEqual(v?.headers, ['Sec-WebSocket-Version', '13']);
  assert.equal(refuseHandshake(handshake({ headers: { 'sec-websocket-protocol': 'a b' } }))?.status, 400);
});

test('subprotocols: comma-separated tokens in order; anything else is malformed', () => {
  assert.deepEqual(offeredSubprotocols(undefined), []);
  assert.deepEqual(offeredSubprotocols('chat.v2, chat.v1'), ['chat.v2', 'chat.v1']);
  assert.equal(offeredSubprotocols('chat, chat'), null);
  assert.equal(offeredSubprotocols('a;b'), null);
  assert.equal(offeredSubprotocols(''), null);
});
