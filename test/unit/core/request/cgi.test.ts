import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestError } from '../../../../core/errors.js';
import {
  addRequestVar,
  completeEdgeVars,
  parseContentLength,
  percentDecode,
} from '../../../../core/request/cgi.js';

const conn = () => ({ serverName: 'host', serverPort: '80', remoteAddr: '10.0.0.1', remotePort: '5555' });

describe('edge vars', () => {
  test("nginx's stock fastcgi_params (no PATH_INFO): SCRIPT_NAME is '' and PATH_INFO comes from DOCUMENT_URI", () => {
    const v = new Map([
      ['SCRIPT_NAME', '/app/x'],
      ['DOCUMENT_URI', '/app/x'],
      ['REQUEST_URI', '/app/x?q=1'],
      ['REQUEST_METHOD', 'GET'],
    ]);
    completeEdgeVars(v, conn);
    assert.equal(v.get('SCRIPT_NAME'), '');
    assert.equal(v.get('PATH_INFO'), '/app/x');
  });

  test('without DOCUMENT_URI, PATH_INFO is REQUEST_URI without the query, percent-decoded', () => {
    const v = new Map([['REQUEST_URI', '/caf%C3%A9/a%2Fb?x=%20']]);
    completeEdgeVars(v, conn);
    assert.equal(v.get('PATH_INFO'), '/caf\xc3\xa9/a/b');
    const none = new Map<string, string>();
    completeEdgeVars(none, conn);
    assert.equal(none.get('PATH_INFO'), '/');
  });

  test('a PATH_INFO the server sent is kept, even empty; SCRIPT_NAME too', () => {
    const v = new Map([
      ['SCRIPT_NAME', '/app'],
      ['PATH_INFO', ''],
    ]);
    completeEdgeVars(v, conn);
    assert.equal(v.get('SCRIPT_NAME'), '/app');
    assert.equal(v.get('PATH_INFO'), '');
  });

  test('app-loading vars are dropped and reported; UWSGI_SCHEME stays', () => {
    const v = new Map([
      ['UWSGI_FILE', '/tmp/evil.py'],
      ['UWSGI_MODULE', 'evil'],
      ['UWSGI_SETENV', 'A=b'],
      ['UWSGI_SCHEME', 'https'],
    ]);
    assert.deepEqual(completeEdgeVars(v, conn).sort(), ['UWSGI_FILE', 'UWSGI_MODULE', 'UWSGI_SETENV']);
    assert.deepEqual(
      [...v.keys()].filter((k) => k.startsWith('UWSGI_')),
      ['UWSGI_SCHEME'],
    );
  });

  test('PEP 3333 vars are filled from the connection only where absent; an empty CONTENT_LENGTH and HTTP_CONTENT_* are removed', () => {
    const v = new Map([
      ['REMOTE_ADDR', '1.2.3.4'],
      ['CONTENT_LENGTH', ''],
      ['HTTP_CONTENT_LENGTH', '5'],
      ['HTTP_CONTENT_TYPE', 'text/plain'],
    ]);
    completeEdgeVars(v, conn);
    assert.equal(v.get('REMOTE_ADDR'), '1.2.3.4');
    assert.equal(v.get('REMOTE_PORT'), '5555');
    assert.equal(v.get('SERVER_NAME'), 'host');
    assert.equal(v.get('REQUEST_METHOD'), 'GET');
    assert.equal(v.get('SERVER_PROTOCOL'), 'HTTP/1.0');
    assert.equal(v.has('CONTENT_LENGTH'), false);
    assert.equal(v.has('HTTP_CONTENT_LENGTH'), false);
    assert.equal(v.has('HTTP_CONTENT_TYPE'), false);
  });

  test('CONTENT_LENGTH: digits, absent or empty; anything else is a 400', () => {
    assert.equal(parseContentLength('0'), 0);
    assert.equal(parseContentLength('10485760'), 10485760);
    assert.equal(parseContentLength(undefined), -1);
    assert.equal(parseContentLength(''), -1);
    for (const bad of ['-1', '1e3', ' 5', '0x10', '1234567890123456'])
      assert.throws(
        () => parseContentLength(bad),
        (e: unknown) => e instanceof RequestError && e.statusCode === 400,
        bad,
      );
  });

  test('repeated HTTP_* vars join like headers; percentDecode keeps malformed escapes', () => {
    const v = new Map<string, string>();
    addRequestVar(v, 'HTTP_X', 'a');
    addRequestVar(v, 'HTTP_X', 'b');
    addRequestVar(v, 'HTTP_COOKIE', 'a=1');
    addRequestVar(v, 'HTTP_COOKIE', 'b=2');
    assert.equal(v.get('HTTP_X'), 'a, b');
    assert.equal(v.get('HTTP_COOKIE'), 'a=1; b=2');
    assert.equal(percentDecode('/%zz%4'), '/%zz%4');
  });
});
