import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  headerName,
  rawResponseHead,
  requestHeaders,
  requestTarget,
  responseHeaders,
} from '../../../../plugins/node/headers.js';

const vars = (o: Record<string, string>) => new Map(Object.entries(o));

describe('node runner: CGI vars ↔ HTTP/1.1', () => {
  test('HTTP_* var names become header names', () => {
    assert.equal(headerName('HTTP_USER_AGENT'), 'User-Agent');
    assert.equal(headerName('HTTP_X_FORWARDED_FOR'), 'X-Forwarded-For');
    assert.equal(headerName('HTTP_DNT'), 'Dnt');
  });

  test('the request target is REQUEST_URI, else rebuilt and percent-encoded from the path vars', () => {
    assert.equal(requestTarget(vars({ REQUEST_URI: '/a%20b?x=1', PATH_INFO: '/a b' })), '/a%20b?x=1');
    assert.equal(
      requestTarget(vars({ SCRIPT_NAME: '/app', PATH_INFO: '/caf\xc3\xa9 x', QUERY_STRING: 'q=1' })),
      '/app/caf%C3%A9%20x?q=1',
    );
    assert.equal(requestTarget(vars({})), '/');
  });

  test('headers: hop-by-hop and framing vars dropped, Host kept or made, proxy headers added', () => {
    const h = requestHeaders(
      vars({
        REQUEST_METHOD: 'POST',
        HTTP_HOST: 'example.com',
        HTTP_CONNECTION: 'keep-alive',
        HTTP_TRANSFER_ENCODING: 'chunked',
        HTTP_EXPECT: '100-continue',
        HTTP_CONTENT_LENGTH: '99',
        HTTP_X_FORWARDED_FOR: '203.0.113.7',
        HTTP_X_FORWARDED_PROTO: 'https',
        HTTP_COOKIE: 'a=1; b=2',
        CONTENT_TYPE: 'application/json',
        REMOTE_ADDR: '10.0.0.2',
      }),
      12,
    );
    assert.deepEqual(h, [
      'Host',
      'example.com',
      'Cookie',
      'a=1; b=2',
      'Content-Type',
      'application/json',
      'Content-Length',
      '12',
      'X-Forwarded-For',
      '203.0.113.7, 10.0.0.2',
      'X-Forwarded-Proto',
      'http',
    ]);
    const noHost = requestHeaders(vars({ SERVER_NAME: 'srv', SERVER_PORT: '8080', HTTPS: 'on' }), -1);
    assert.deepEqual(noHost, ['Host', 'srv:8080', 'X-Forwarded-Proto', 'https']);
  });

  test('response headers lose the hop-by-hop ones, keep order and repeats', () => {
    assert.deepEqual(
      responseHeaders([
        'Set-Cookie',
        'a=1',
        'Connection',
        'keep-alive',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Set-Cookie',
        'b=2',
        'Content-Length',
        '3',
      ]),
      ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '3'],
    );
  });

  test('a raw response head for a taken-over connection', () => {
    assert.equal(
      rawResponseHead(101, 'Switching Protocols', ['Upgrade', 'websocket', 'Sec-WebSocket-Accept', 'x=']),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x=\r\n\r\n',
    );
    assert.equal(rawResponseHead(101, '', []), 'HTTP/1.1 101 \r\n\r\n');
  });
});
