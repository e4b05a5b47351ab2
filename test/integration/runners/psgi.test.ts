import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { multipart } from '../../helpers/multipart.js';
import { metricsUrl, scrapeUntil } from '../../helpers/observe.js';
import { sampleValue } from '../../helpers/prometheus.js';
import { assertGracefulReload } from '../../helpers/reload.js';
import {
  alive,
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  startTsgi,
  TsgiProcess as Tsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const APP = `${FIXTURES}/psgi/app.psgi`;
const skip = requireTool(() => runs('perl', ['-MPlack::Util', '-e', '1']), 'perl with Plack (libplack-perl)');

function start(extra: string[] = [], app = APP): Promise<TsgiProcess> {
  return startTsgi(['--http-socket', '127.0.0.1:0', '--psgi', app, ...extra]);
}

describe('psgi runner: a real Plack app (with Plack::Middleware::Lint)', { skip }, () => {
  test('the environ: CGI keys, psgi.* keys, no HTTP_CONTENT_LENGTH, a mount sets SCRIPT_NAME', async () => {
    const tsgi = await start(['--processes', '2']);
    try {
      const base = tsgi.url();
      const port = new URL(base).port;
      const r = await fetchRaw(`${base}/env?a=1&a=2&b=%C3%A9`, { headers: { 'X-Test': 'yes' } });
      assert.equal(r.status, 200);
      const env = JSON.parse(r.text);
      assert.equal(env.REQUEST_METHOD, 'GET');
      assert.equal(env.SCRIPT_NAME, '');
      assert.equal(env.PATH_INFO, '/env');
      assert.equal(env.QUERY_STRING, 'a=1&a=2&b=%C3%A9');
      assert.equal(env.REQUEST_URI, '/env?a=1&a=2&b=%C3%A9');
      assert.equal(env.SERVER_PORT, port);
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.HTTP_X_TEST, 'yes');
      assert.equal(env['psgi.version'], '1.1');
      assert.equal(env['psgi.url_scheme'], 'http');
      assert.equal(env['psgi.multiprocess'], 1);
      assert.equal(env['psgi.multithread'], 0);
      assert.equal(env['psgi.streaming'], 1);
      assert.equal(env['psgi.nonblocking'], 0);
      assert.equal(env.input_can_read, 1);
      assert.equal(env.errors_can_print, 1);
      assert.equal(env.has_http_content_length, 0);
      assert.deepEqual(env.query, { a: ['1', '2'], b: 'é' });
      const mounted = await fetchRaw(`${base}/sub/x/y`);
      assert.deepEqual(JSON.parse(mounted.text), { script_name: '/sub', path_info: '/x/y' });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('psgi.input: a 3 MiB chunked upload read in 4 KiB pieces, a multipart upload, a form', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const blob = Buffer.alloc(3 * 1024 * 1024);
      for (let i = 0; i < blob.length; i++) blob[i] = (i * 7) & 0xff;
      async function* chunks() {
        for (let o = 0; o < blob.length; o += 100_000) yield blob.subarray(o, o + 100_000);
      }
      const echo = await fetchRaw(`${base}/echo`, {
        method: 'POST',
        headers: { 'transfer-encoding': 'chunked' },
        body: chunks(),
      });
      assert.equal(echo.status, 200);
      assert.deepEqual(JSON.parse(echo.text), {
        bytes: blob.length,
        sha1: createHash('sha1').update(blob).digest('hex'),
      });

      const file = Buffer.from('a file with bytes \x00\x01\xff\n'.repeat(5000), 'latin1');
      const body = multipart('XyZ', [
        { name: 'title', data: Buffer.from('hello') },
        { name: 'doc', filename: 'notes.bin', data: file },
      ]);
      const up = await fetchRaw(`${base}/form`, {
        method: 'POST',
        headers: { 'content-type': 'multipart/form-data; boundary=XyZ' },
        body,
      });
      assert.equal(up.status, 200);
      assert.deepEqual(JSON.parse(up.text), {
        params: { title: 'hello' },
        uploads: {
          doc: {
            filename: 'notes.bin',
            size: file.length,
            sha1: createHash('sha1').update(file).digest('hex'),
          },
        },
      });
      const form = await fetchRaw(`${base}/form`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'x=1&y=two+words&y=3',
      });
      assert.deepEqual(JSON.parse(form.text), { params: { x: '1', y: ['two words', '3'] }, uploads: {} });
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('responses: streaming writer, delayed, filehandle body, 4 MiB body, cookies', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const pieces: string[] = [];
      const streamed = await new Promise<string>((resolve, reject) => {
        request(`${base}/stream?n=10`, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => {
            pieces.push(d);
            text += d;
          });
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
      assert.equal(streamed, [...Array(10).keys()].map((i) => `part ${i + 1}\n`).join(''));
      assert.ok(pieces.length > 1, 'the streamed body arrived in several pieces');

      const delayed = await fetchRaw(`${base}/delayed`);
      assert.equal(delayed.status, 202);
      assert.equal(delayed.text, 'delayed whole');

      const fh = await fetchRaw(`${base}/fh`);
      assert.equal(fh.text, [...Array(1000).keys()].map((i) => `line ${i + 1}\n`).join(''));

      const big = await fetchRaw(`${base}/big?mb=4`);
      assert.equal(big.body.length, 4 * 1024 * 1024);

      const c = await fetchRaw(`${base}/cookies`, { headers: { cookie: 'seen=3' } });
      assert.equal(c.text, 'seen 3');
      assert.deepEqual([...(c.headers['set-cookie'] ?? [])].sort(), ['flavour=oatmeal; path=/', 'seen=4']);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('an app that dies gets 500 and the worker goes on; perl-no-plack with perl-arg', async () => {
    const tsgi = await start();
    try {
      const base = tsgi.url();
      const pid = (await fetchRaw(`${base}/pid`)).text;
      const r = await fetchRaw(`${base}/die`);
      assert.equal(r.status, 500);
      await tsgi.waitForLine(/psgi worker 1 \(pid \d+\): the app died: deliberate failure/);
      assert.equal((await fetchRaw(`${base}/pid`)).text, pid);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
    const plain = await start(
      ['--perl-no-plack', '--perl-arg', 'one', '--perl-args', 'two three'],
      `${FIXTURES}/psgi/plain.psgi`,
    );
    try {
      assert.equal((await fetchRaw(`${plain.url()}/`)).text, 'plain psgi, args: two three one, loaded: do');
    } finally {
      assert.equal(await plain.stop(), 0);
    }
  });

  test('a .psgi that does not compile: the Perl error in the log, exit 1', async () => {
    const tsgi = new Tsgi(['--http-socket', '127.0.0.1:0', '--psgi', `${FIXTURES}/psgi/broken.psgi`]);
    assert.equal(await tsgi.wait(15_000), 1);
    assert.match(
      tsgi.output,
      /could not load the app .*broken\.psgi:\n.*Global symbol "\$undeclared" requires/,
    );
    assert.match(tsgi.output, /the app could not be loaded/);
  });

  test('a reload onto a .psgi that no longer compiles is abandoned; the old workers keep serving', async () => {
    const dir = tempDir();
    const app = join(dir.path, 'app.psgi');
    copyFileSync(`${FIXTURES}/psgi/plain.psgi`, app);
    const tsgi = await start(['--perl-no-plack', '--processes', '2'], app);
    try {
      copyFileSync(`${FIXTURES}/psgi/broken.psgi`, app);
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload abandoned/);
      assert.match(tsgi.output, /Global symbol "\$undeclared" requires/);
      for (let i = 0; i < 4; i++) assert.match((await fetchRaw(`${tsgi.url()}/`)).text, /^plain psgi/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test('supervision: harakiri (504, replaced), kill -9 (502, respawned)', async () => {
    const tsgi = await start(['--harakiri', '1']);
    try {
      const base = tsgi.url();
      const first = Number((await fetchRaw(`${base}/pid`)).text);
      assert.equal((await fetchRaw(`${base}/sleep?s=30`)).status, 504);
      await tsgi.waitForLine(new RegExp(`HARAKIRI ON WORKER 1 \\(pid: ${first}, try: 1\\)`));
      await waitFor(() => !alive(first), 5000, 'the stuck worker to die');
      let second = 0;
      await waitFor(
        async () => {
          const r = await fetchRaw(`${base}/pid`).catch(() => null);
          second = r?.status === 200 ? Number(r.text) : 0;
          return second > 0;
        },
        10_000,
        'the replacement',
      );
      assert.notEqual(second, first);
      const pending = fetchRaw(`${base}/sleep?s=0.8`);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(second, 'SIGKILL');
      assert.equal((await pending).status, 502);
      await tsgi.waitForLine(new RegExp(`worker 1 \\(pid ${second}\\) died \\(killed by SIGKILL\\)`));
      await waitFor(
        async () => (await fetchRaw(`${base}/pid`).catch(() => ({ status: 0 }))).status === 200,
        10_000,
        'the respawned worker',
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('recycling (max-requests) and SIGHUP (in-flight requests finish), counted in the metrics', async () => {
    const tsgi = await start([
      '--processes',
      '2',
      '--max-requests',
      '3',
      '--min-worker-lifetime',
      '0',
      '--prometheus',
      '127.0.0.1:0',
    ]);
    try {
      const base = tsgi.url();
      const seen = new Set<number>();
      for (let i = 0; i < 6; i++) seen.add(Number((await fetchRaw(`${base}/pid`)).text));
      await tsgi.waitForLine(/recycling worker \d \(pid \d+\): max-requests reached \(3 >= 3\)/);
      await tsgi.waitForLine(/worker \d \(pid \d+\) exited \(max-requests, exit code 0\)/);
      let recycled = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_worker_respawns_total', { reason: 'max-requests' }) >= 1,
        'the recycling counted',
      );
      assert.equal(sampleValue(recycled, 'tsgi_worker_respawns_total', { reason: 'crash' }), 0);

      await assertGracefulReload(tsgi, '/sleep?s=1.5', 'slept', '/pid');
      recycled = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) => sampleValue(m, 'tsgi_worker_respawns_total', { reason: 'reload' }) >= 2,
        'the reload counted',
      );
      assert.equal(sampleValue(recycled, 'tsgi_worker_respawns_total', { reason: 'crash' }), 0);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
