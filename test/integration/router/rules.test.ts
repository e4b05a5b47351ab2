// biome-ignore-all lint/suspicious/noTemplateCurlyInString: uWSGI rule syntax uses ${VAR}
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { rawRequest } from '../../helpers/router.js';
import { FIXTURES, startTsgi, TsgiProcess, tempDir } from '../../helpers/tsgi.js';

/**
 * Internal routing in tsgi alone (the uWSGI comparison is the differential corpus): bad rules at
 * start, path traversal through static serving, conditional and partial static answers, and the
 * htpasswd formats tsgi accepts beyond uWSGI's.
 */

const APP = join(FIXTURES, 'apps', 'route_echo.py');
const HTPASSWD = join(FIXTURES, 'router', 'corpus', 'htpasswd');

function portOf(url: string): number {
  return Number(new URL(url).port);
}

const basic = (user: string, pass: string) =>
  ['Authorization', `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`] as [string, string];

describe('bad rules fail at start', () => {
  test('the error names the file, line, option and the wrong part; exit code 1', async () => {
    const dir = tempDir();
    try {
      const cases: Array<[string, RegExp]> = [
        [
          'route = ^/x frobnicate:1',
          /app\.ini:5: option 'route': unknown action 'frobnicate' in 'frobnicate:1'/,
        ],
        ['route = (broken redirect:/', /app\.ini:5: option 'route': bad regex '\(broken'/],
        [
          'route-if = equal:${PATH_INFO} return:403',
          /app\.ini:5: option 'route-if': 'equal' needs two operands/,
        ],
        [
          'route = ^/x signal:9',
          /app\.ini:5: option 'route': action 'signal' is a uWSGI action tsgi does not support/,
        ],
        [
          'response-route-run = redirect:/x',
          /app\.ini:5: option 'response-route-run': action 'redirect' cannot run on the response/,
        ],
        ['static-map = /nodir', /app\.ini:5: option 'static-map': expected MOUNTPOINT=DIRECTORY/],
        ['upstream = pool ftp://x:1', /app\.ini:5: option 'upstream': bad node 'ftp:\/\/x:1'/],
      ];
      for (const [line, re] of cases) {
        const ini = join(dir.path, 'app.ini');
        writeFileSync(
          ini,
          `[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = ${APP}\nroute = ^/ok continue:\n${line}\n`,
        );
        const p = new TsgiProcess(['--ini', ini]);
        assert.equal(await p.wait(15_000), 1, line);
        assert.match(p.output, re, line);
      }
    } finally {
      dir.cleanup();
    }
  });
});

describe('static files', () => {
  test('traversal through static actions and maps is refused: .., %2e%2e, symlinks out; static-safe allows', async () => {
    const dir = tempDir();
    try {
      const root = join(dir.path, 'root');
      mkdirSync(join(root, 'sub'), { recursive: true });
      writeFileSync(join(root, 'ok.txt'), 'ok\n');
      writeFileSync(join(dir.path, 'secret.txt'), 'secret\n');
      mkdirSync(join(dir.path, 'shared'));
      writeFileSync(join(dir.path, 'shared', 'logo.txt'), 'logo\n');
      symlinkSync(join(dir.path, 'secret.txt'), join(root, 'escape'));
      symlinkSync(join(dir.path, 'shared'), join(root, 'shared'));
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--static-map',
        `/m=${root}`,
        '--route',
        `^/a/(.*)$ static:${root}/$1`,
        '--route',
        `^/f/(.*)$ sendfile:filename=${root}/$1`,
        '--static-safe',
        join(dir.path, 'shared'),
      ]);
      try {
        const port = portOf(tsgi.url());
        const get = (t: string) => rawRequest(port, 'GET', t);
        for (const prefix of ['/m', '/a', '/f']) {
          assert.equal((await get(`${prefix}/ok.txt`)).status, 200, prefix);
          for (const attack of [
            '/../secret.txt',
            '/%2e%2e/secret.txt',
            '/sub/%2E%2E/%2e%2e/secret.txt',
            '/escape',
            '/sub/../../secret.txt',
          ]) {
            const r = await get(prefix + attack);
            assert.equal(r.status, 403, `${prefix}${attack}`);
            assert.doesNotMatch(r.body.toString(), /secret/, `${prefix}${attack}`);
          }
          const safe = await get(`${prefix}/shared/logo.txt`);
          assert.equal(safe.status, 200, `${prefix}: static-safe allows the symlinked directory`);
          assert.equal(safe.body.toString(), 'logo\n');
        }
        await tsgi.waitForLine(/security error/);
      } finally {
        await tsgi.stop();
      }
    } finally {
      dir.cleanup();
    }
  });

  test('Last-Modified/If-Modified-Since, ETag/If-None-Match, Range, If-Range, HEAD', async () => {
    const dir = tempDir();
    try {
      const body = Buffer.from('0123456789abcdef');
      writeFileSync(join(dir.path, 'data.txt'), body);
      utimesSync(join(dir.path, 'data.txt'), 1_700_000_000, 1_700_000_000);
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--static-map',
        `/s=${dir.path}`,
      ]);
      try {
        const port = portOf(tsgi.url());
        const get = (h: Array<[string, string]> = [], m = 'GET') => rawRequest(port, m, '/s/data.txt', h);
        const full = await get();
        const hv = (r: Awaited<ReturnType<typeof get>>, n: string) => r.headers.find(([k]) => k === n)?.[1];
        assert.equal(full.status, 200);
        assert.equal(hv(full, 'content-type'), 'text/plain');
        assert.equal(hv(full, 'last-modified'), 'Tue, 14 Nov 2023 22:13:20 GMT');
        const etag = hv(full, 'etag')!;
        assert.match(etag, /^"[0-9a-f]+-10"$/);
        assert.equal((await get([['If-None-Match', etag]])).status, 304);
        assert.equal((await get([['If-None-Match', '"other"']])).status, 200);
        assert.equal((await get([['If-Modified-Since', 'Tue, 14 Nov 2023 22:13:20 GMT']])).status, 304);
        assert.equal((await get([['If-Modified-Since', 'Mon, 13 Nov 2023 00:00:00 GMT']])).status, 200);
        const part = await get([['Range', 'bytes=2-5']]);
        assert.equal(part.status, 206);
        assert.equal(part.body.toString(), '2345');
        assert.equal(hv(part, 'content-range'), 'bytes 2-5/16');
        assert.equal((await get([['Range', 'bytes=-3']])).body.toString(), 'def');
        const bad = await get([['Range', 'bytes=99-']]);
        assert.equal(bad.status, 416);
        assert.equal(hv(bad, 'content-range'), 'bytes */16');
        assert.equal(
          (
            await get([
              ['Range', 'bytes=2-5'],
              ['If-Range', etag],
            ])
          ).status,
          206,
        );
        assert.equal(
          (
            await get([
              ['Range', 'bytes=2-5'],
              ['If-Range', '"stale"'],
            ])
          ).status,
          200,
        );
        const head = await get([], 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(hv(head, 'content-length'), '16');
        assert.equal(head.body.length, 0);
      } finally {
        await tsgi.stop();
      }
    } finally {
      dir.cleanup();
    }
  });
});

test('basicauth accepts every htpasswd format: DES, {SHA}, $apr1$, $1$, $2y$', async () => {
  const tsgi = await startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--wsgi-file',
    APP,
    '--route-run',
    `basicauth:Staff,${HTPASSWD}`,
  ]);
  try {
    const port = portOf(tsgi.url());
    const users: Array<[string, string]> = [
      ['alice', 'secret'],
      ['bob', 'hunter2'],
      ['carol', 'pass3'],
      ['dave', 'pass4'],
      ['erin', 'pass5'],
    ];
    for (const [u, p] of users) {
      const ok = await rawRequest(port, 'GET', '/x', [basic(u, p)]);
      assert.equal(ok.status, 200, u);
      assert.ok(
        ok.headers.some(([k, v]) => k === 'x-user' && v === u),
        u,
      );
      const bad = await rawRequest(port, 'GET', '/x', [basic(u, `${p}x`)]);
      assert.equal(bad.status, 401, `${u} with a wrong password`);
      assert.ok(bad.headers.some(([k, v]) => k === 'www-authenticate' && v === 'Basic realm="Staff"'));
    }
  } finally {
    await tsgi.stop();
  }
});
