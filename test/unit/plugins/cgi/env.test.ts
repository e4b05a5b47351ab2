import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { scriptEnv, searchWords } from '../../../../plugins/cgi/env.js';
import type { CgiScript } from '../../../../plugins/cgi/map.js';

const script: CgiScript = {
  kind: 'script',
  file: '/srv/cgi/env.sh',
  helper: null,
  root: '/srv/cgi',
  scriptName: '/cgi-bin/env.sh',
  pathInfo: '/x/y',
  isFile: false,
  nph: false,
};

describe('cgi runner: the script environment (RFC 3875 §4.1)', () => {
  test('request vars over the worker environment, then the script vars; HTTP_PROXY and cgi-unset removed', () => {
    const env = scriptEnv(
      { PATH: '/usr/bin', SECRET: 's', DOCUMENT_ROOT: '/from/the/shell' },
      new Map([
        ['REQUEST_METHOD', 'GET'],
        ['HTTP_PROXY', 'http://evil'],
        ['PATH_INFO', '/cgi-bin/env.sh/x/y'],
        ['HTTP_X_NAME', 'caf\xc3\xa9'],
      ]),
      script,
      ['SECRET'],
    );
    assert.equal(env.PATH, '/usr/bin');
    assert.equal(env.SECRET, undefined);
    assert.equal(env.HTTP_PROXY, undefined);
    assert.equal(env.REQUEST_METHOD, 'GET');
    assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
    assert.equal(env.REDIRECT_STATUS, '200');
    assert.equal(env.SCRIPT_NAME, '/cgi-bin/env.sh');
    assert.equal(env.SCRIPT_FILENAME, '/srv/cgi/env.sh');
    assert.equal(env.PATH_INFO, '/x/y');
    assert.equal(
      env.DOCUMENT_ROOT,
      '/srv/cgi',
      "the worker environment's DOCUMENT_ROOT is not the request's",
    );
    assert.equal(env.PATH_TRANSLATED, '/srv/cgi/x/y');
    assert.equal(env.HTTP_X_NAME, 'café', 'UTF-8 bytes reach the script as those bytes');
  });

  test('without extra path, PATH_INFO and PATH_TRANSLATED are absent; the request DOCUMENT_ROOT wins', () => {
    const env = scriptEnv(
      {},
      new Map([
        ['PATH_INFO', '/cgi-bin/env.sh'],
        ['DOCUMENT_ROOT', '/var/www'],
      ]),
      { ...script, pathInfo: null },
      [],
    );
    assert.equal(env.PATH_INFO, undefined);
    assert.equal(env.PATH_TRANSLATED, undefined);
    assert.equal(env.DOCUMENT_ROOT, '/var/www');
  });

  test('an indexed query becomes command-line words (RFC 3875 §4.4); a query with = does not', () => {
    assert.deepEqual(searchWords('a+b%20c+%2B'), ['a', 'b c', '+']);
    assert.deepEqual(searchWords('x=1'), []);
    assert.deepEqual(searchWords(''), []);
    assert.deepEqual(searchWords('bad%zz'), ['bad%zz']);
  });
});
