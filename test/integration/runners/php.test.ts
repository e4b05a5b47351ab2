import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { multipart } from '../../helpers/multipart.js';
import { metricsUrl, scrapeUntil } from '../../helpers/observe.js';
import { sampleValue } from '../../helpers/prometheus.js';
import {
  alive,
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  startTsgi,
  TsgiProcess as Tsgi,
  type TsgiProcess,
  waitFor,
} from '../../helpers/tsgi.js';

const DOCROOT = `${FIXTURES}/php-app`;
const skip = requireTool(() => runs('php-cgi', ['-v']), 'php-cgi (Debian php-cgi)');

function start(extra: string[] = []): Promise<TsgiProcess> {
  return startTsgi(['--http-socket', '127.0.0.1:0', '--php-docroot', DOCROOT, ...extra]);
}

describe('php runner: real PHP scripts in php-cgi workers', { skip }, () => {
  test('GET through php-index, and $_SERVER as PHP sees it', async () => {
    const tsgi = await start(['--php-var', 'MY_VAR=hello', '--processes', '2']);
    try {
      const base = tsgi.url();
      const home = await fetchRaw(`${base}/?a=1&b[]=2&b[]=3`);
      assert.equal(home.status, 200);
      assert.deepEqual(JSON.parse(home.text), {
        page: 'index',
        get: { a: '1', b: ['2', '3'] },
        method: 'GET',
        script_name: '/index.php',
        php_self: '/index.php',
      });
      const r = await fetchRaw(`${base}/server.php/extra/info?q=1`, {
        headers: { 'x-test': 'yes', proxy: 'http://evil:3128' },
      });
      const s = JSON.parse(r.text);
      assert.equal(s.sapi, 'cgi-fcgi');
      assert.equal(s.REQUEST_METHOD, 'GET');
      assert.equal(s.REQUEST_URI, '/server.php/extra/info?q=1');
      assert.equal(s.QUERY_STRING, 'q=1');
      assert.equal(s.SCRIPT_NAME, '/server.php');
      assert.equal(s.SCRIPT_FILENAME, `${DOCROOT}/server.php`);
      assert.equal(s.PATH_INFO, '/extra/info');
      assert.equal(s.PATH_TRANSLATED, `${DOCROOT}/extra/info`);
      assert.equal(s.PHP_SELF, '/server.php/extra/info');
      assert.equal(s.DOCUMENT_ROOT, DOCROOT);
      assert.equal(s.SERVER_PORT, new URL(base).port);
      assert.equal(s.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(s.SERVER_SOFTWARE, 'tsgi');
      assert.equal(s.GATEWAY_INTERFACE, 'CGI/1.1');
      assert.equal(s.REMOTE_ADDR, '127.0.0.1');
      assert.equal(s.HTTP_X_TEST, 'yes');
      assert.equal(s.HTTP_PROXY, null, 'httpoxy: the Proxy header is not passed as HTTP_PROXY');
      assert.equal(s.MY_VAR, 'hello');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('POST: a form, a JSON body, a chunked body, a multipart upload', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const form = await fetchRaw(`${base}/form.php`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'name=tsgi&tags[]=a&tags[]=b',
      });
      assert.deepEqual(JSON.parse(form.text).post, { name: 'tsgi', tags: ['a', 'b'] });

      const json = await fetchRaw(`${base}/form.php`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ deep: { list: [1, 2] } }),
      });
      assert.deepEqual(JSON.parse(json.text).json, { deep: { list: [1, 2] } });

      async function* pieces() {
        for (let i = 0; i < 10; i++) yield Buffer.alloc(50_000, 97 + i);
      }
      const chunked = await fetchRaw(`${base}/form.php`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'transfer-encoding': 'chunked' },
        body: pieces(),
      });
      assert.equal(JSON.parse(chunked.text).raw_bytes, 500_000);

      const file = Buffer.alloc(300_000);
      for (let i = 0; i < file.length; i++) file[i] = (i * 31) & 0xff;
      const up = await fetchRaw(`${base}/form.php`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=----tsgi' },
        body: multipart('----tsgi', [
          { name: 'title', data: Buffer.from('report') },
          { name: 'doc', filename: 'data.bin', data: file },
        ]),
      });
      assert.equal(up.status, 200);
      const u = JSON.parse(up.text);
      assert.deepEqual(u.post, { title: 'report' });
      assert.deepEqual(u.files.doc, {
        name: 'data.bin',
        size: file.length,
        error: 0,
        sha1: createHash('sha1').update(file).digest('hex'),
        uploaded: true,
      });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('sessions and cookies across requests', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const first = await fetchRaw(`${base}/session.php`);
      assert.equal(first.text, 'visit 1 cookie -\n');
      const cookies = (first.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!);
      assert.ok(
        cookies.some((c) => c.startsWith('PHPSESSID=')),
        `a session cookie in ${cookies}`,
      );
      assert.ok(cookies.includes('flavour=ginger'));
      const second = await fetchRaw(`${base}/session.php`, { headers: { cookie: cookies.join('; ') } });
      assert.equal(second.text, 'visit 2 cookie ginger\n');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a fatal error is a 500 with the PHP error in the log; statuses, redirects, streaming', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const pid = (await fetchRaw(`${base}/pid.php`)).text;
      const fatal = await fetchRaw(`${base}/fatal.php`);
      assert.equal(fatal.status, 500);
      assert.doesNotMatch(fatal.text, /not reached/);
      await tsgi.waitForLine(
        /PHP Fatal error: {2}Uncaught Error: Call to undefined function this_function_does_not_exist\(\)/,
      );
      assert.equal((await fetchRaw(`${base}/pid.php`)).text, pid, 'php-cgi goes on after a fatal error');

      const teapot = await fetchRaw(`${base}/status.php`);
      assert.equal(teapot.status, 418);
      assert.equal(teapot.headers['x-teapot'], 'yes');
      assert.equal(teapot.text, 'short and stout\n');
      const redirect = await fetchRaw(`${base}/status.php?do=redirect`);
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.location, '/index.php?from=status');

      assert.equal(
        (await fetchRaw(`${base}/stream.php`)).text,
        [0, 1, 2, 3, 4].map((i) => `piece ${i}\n`).join(''),
      );
      assert.equal((await fetchRaw(`${base}/stream.php?mb=8`)).body.length, 8 * 1024 * 1024);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('mapping: directory slash and index, 404, .php outside the docroot refused, only .php runs', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const dir = await fetchRaw(`${base}/sub?x=1`);
      assert.equal(dir.status, 301);
      assert.equal(dir.headers.location, '/sub/?x=1');
      assert.equal((await fetchRaw(`${base}/sub/`)).text, 'sub index, SCRIPT_NAME=/sub/index.php\n');
      assert.equal((await fetchRaw(`${base}/nope.php`)).status, 404);
      assert.equal((await fetchRaw(`${base}/nope/deeper.php`)).status, 404);
      const outside = await fetchRaw(`${base}/link.php`);
      assert.equal(outside.status, 403);
      assert.doesNotMatch(outside.text, /outside ran/);
      await tsgi.waitForLine(/PHP security error: .*php-outside\/evil\.php is not under the document root/);
      const txt = await fetchRaw(`${base}/notes.txt`);
      assert.equal(txt.status, 403, 'a file that is not .php is never run by PHP');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('static files beside the scripts served by the router (check-static, static-skip-ext)', async () => {
    const tsgi = await start(['--check-static', DOCROOT, '--static-skip-ext', '.php']);
    try {
      const base = tsgi.url();
      const css = await fetchRaw(`${base}/assets/style.css`);
      assert.equal(css.status, 200);
      assert.match(String(css.headers['content-type']), /^text\/css/);
      assert.equal(css.text, readFileSync(`${DOCROOT}/assets/style.css`, 'utf8'));
      assert.equal((await fetchRaw(`${base}/notes.txt`)).status, 200);
      const php = await fetchRaw(`${base}/status.php`);
      assert.equal(php.status, 418);
      assert.doesNotMatch(php.text, /<\?php/, 'a .php file is run, never sent as a file');
      assert.equal((await fetchRaw(`${base}/sub/`)).text, 'sub index, SCRIPT_NAME=/sub/index.php\n');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('php-app (front controller) and php-fallback2', async () => {
    const app = await start(['--php-app', `${DOCROOT}/server.php`]);
    try {
      const s = JSON.parse((await fetchRaw(`${app.url()}/any/route?x=1`)).text);
      assert.equal(s.SCRIPT_FILENAME, `${DOCROOT}/server.php`);
      assert.equal(s.SCRIPT_NAME, '');
      assert.equal(s.REQUEST_URI, '/any/route?x=1');
    } finally {
      assert.equal(await app.stop(), 0);
    }
    const fb = await start(['--php-fallback2', '/index.php', '--php-fallback-qs', 'route']);
    try {
      const r = JSON.parse((await fetchRaw(`${fb.url()}/pretty/url?x=1`)).text);
      assert.equal(r.page, 'index');
      assert.deepEqual(r.get, { route: '/pretty/url', x: '1' });
    } finally {
      assert.equal(await fb.stop(), 0);
    }
  });

  test('php-cgi missing: a clear error and exit 1', async () => {
    const tsgi = new Tsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--php-docroot',
      DOCROOT,
      '--php-cgi-bin',
      '/nonexistent/php-cgi',
    ]);
    assert.equal(await tsgi.wait(15_000), 1);
    assert.match(tsgi.output, /cannot run \/nonexistent\/php-cgi .*install php-cgi or set php-cgi-bin/);
  });
});

describe('php runner: php-cgi workers supervised like every worker', { skip }, () => {
  test('max-requests: php-cgi exits after PHP_FCGI_MAX_REQUESTS, counted as recycling; no request fails', async () => {
    const tsgi = await start(['--max-requests', '3', '--prometheus', '127.0.0.1:0']);
    try {
      const base = tsgi.url();
      const pids: number[] = [];
      for (let i = 0; i < 9; i++) {
        const r = await fetchRaw(`${base}/pid.php`);
        assert.equal(r.status, 200, `request ${i + 1}`);
        pids.push(Number(r.text));
      }
      assert.equal(new Set(pids).size, 3, `three php-cgi processes served three requests each: ${pids}`);
      for (let i = 0; i < 9; i += 3) assert.equal(new Set(pids.slice(i, i + 3)).size, 1);
      await tsgi.waitForLine(/worker 1 \(pid \d+\) exited \(max-requests, exit code 0\)/);
      assert.doesNotMatch(tsgi.output, /died/);
      const metrics = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_worker_respawns_total', { reason: 'max-requests' }) >= 2,
        'two recycles counted',
      );
      assert.equal(sampleValue(metrics, 'tsgi_worker_respawns_total', { reason: 'crash' }), 0);
      assert.equal(sampleValue(metrics, 'tsgi_worker_requests_total', { worker: '1' }), 9);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('harakiri kills a stuck php-cgi (504) and a new one serves', async () => {
    const tsgi = await start(['--harakiri', '1']);
    try {
      const base = tsgi.url();
      const before = Number((await fetchRaw(`${base}/pid.php`)).text);
      assert.equal((await fetchRaw(`${base}/sleep.php?s=30`)).status, 504);
      await tsgi.waitForLine(new RegExp(`HARAKIRI ON WORKER 1 \\(pid: ${before}, try: 1\\)`));
      await waitFor(() => !alive(before), 5000, 'the stuck php-cgi to die');
      let after = 0;
      await waitFor(
        async () => {
          const r = await fetchRaw(`${base}/pid.php`).catch(() => null);
          after = r?.status === 200 ? Number(r.text) : 0;
          return after > 0;
        },
        10_000,
        'a new php-cgi',
      );
      assert.notEqual(after, before);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('kill -9 mid-request: 502, php-cgi respawned; SIGHUP replaces every php-cgi', async () => {
    const tsgi = await start(['--processes', '2']);
    try {
      const base = tsgi.url();
      const pending = fetchRaw(`${base}/sleep.php?s=2`);
      await new Promise((r) => setTimeout(r, 400));
      for (const p of tsgi.workerPids()) process.kill(p, 'SIGKILL');
      assert.equal((await pending).status, 502);
      await tsgi.waitForLine(/died \(killed by SIGKILL\)/);
      await waitFor(
        async () => (await fetchRaw(`${base}/pid.php`).catch(() => ({ status: 0 }))).status === 200,
        10_000,
        'respawned php-cgi',
      );
      const old = new Set(tsgi.workerPids());
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload done/);
      await waitFor(() => tsgi.workerPids().every((p) => !old.has(p)), 10_000, 'old php-cgi to exit');
      assert.equal((await fetchRaw(`${base}/pid.php`)).status, 200);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
