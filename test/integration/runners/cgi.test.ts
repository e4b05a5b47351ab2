import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
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
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const BIN = `${FIXTURES}/cgi/bin`;
const skip = requireTool(() => runs('perl', ['-e', '1']) && runs('python3', ['-c', '1']), 'perl and python3');

/** `KEY=value` lines of env.sh into a record. */
function lines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of text.split('\n')) {
    const eq = l.indexOf('=');
    if (eq > 0) out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

/** The status line and head of a GET sent as written (no URL normalization of `..`). */
function rawGet(base: string, path: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname, () =>
      sock.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let text = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      text += d;
    });
    sock.on('end', () => resolve(text));
    sock.on('error', reject);
  });
}

function start(extra: string[], env?: NodeJS.ProcessEnv): Promise<TsgiProcess> {
  return startTsgi(
    ['--http-socket', '127.0.0.1:0', '--cgi', `/cgi-bin=${BIN}`, '--cgi-helper', '.pl=perl', ...extra],
    env ? { env } : {},
  );
}

describe('cgi runner: shell, Python and Perl scripts', { skip }, () => {
  test('RFC 3875 meta-variables, PATH_INFO, indexed query as argv, body on stdin, no HTTP_PROXY', async () => {
    const tsgi = await start([]);
    try {
      const base = tsgi.url();
      const r = await fetchRaw(`${base}/cgi-bin/env.sh/extra/path?a+b%20c`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'x-test': 'yes', proxy: 'http://evil:8080' },
        body: 'hello stdin',
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/plain');
      const env = lines(r.text);
      assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
      assert.equal(env.SERVER_SOFTWARE, 'tsgi');
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
      assert.equal(env.SERVER_PORT, new URL(base).port);
      assert.equal(env.REQUEST_METHOD, 'POST');
      assert.equal(env.QUERY_STRING, 'a+b%20c');
      assert.equal(env.SCRIPT_NAME, '/cgi-bin/env.sh');
      assert.equal(env.SCRIPT_FILENAME, `${BIN}/env.sh`);
      assert.equal(env.PATH_INFO, '/extra/path');
      assert.equal(env.PATH_TRANSLATED, `${BIN}/extra/path`);
      assert.equal(env.DOCUMENT_ROOT, BIN);
      assert.equal(env.REMOTE_ADDR, '127.0.0.1');
      assert.equal(env.CONTENT_TYPE, 'text/plain');
      assert.equal(env.CONTENT_LENGTH, '11');
      assert.equal(env.HTTP_X_TEST, 'yes');
      assert.equal(env.HTTP_PROXY, '<unset>');
      assert.equal(env.REDIRECT_STATUS, '200');
      assert.equal(env.PWD, BIN);
      assert.equal(env.ARGS, 'a b c');
      assert.equal(env.STDIN, 'hello stdin');

      // without extra path: PATH_INFO and PATH_TRANSLATED absent; a chunked body ends at EOF
      async function* body() {
        yield Buffer.from('chunked ');
        yield Buffer.from('upload');
      }
      const c = await fetchRaw(`${base}/cgi-bin/env.sh?x=1`, {
        method: 'PUT',
        headers: { 'transfer-encoding': 'chunked' },
        body: body(),
      });
      const e2 = lines(c.text);
      assert.equal(e2.PATH_INFO, '<unset>');
      assert.equal(e2.PATH_TRANSLATED, '<unset>');
      assert.equal(e2.CONTENT_LENGTH, '<unset>');
      assert.equal(e2.ARGS, '', 'a query with = gives no command line');
      assert.equal(e2.STDIN, 'chunked upload');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('response heads: Status, repeated headers, client and local redirects, an NPH script', async () => {
    const tsgi = await start([]);
    try {
      const base = tsgi.url();
      const s = await fetchRaw(`${base}/cgi-bin/status.sh`);
      assert.equal(s.status, 418);
      assert.deepEqual(s.headers['set-cookie'], ['a=1', 'b=2']);
      assert.equal(s.text, 'short and stout\n');

      const client = await fetchRaw(`${base}/cgi-bin/redirect.sh`);
      assert.equal(client.status, 302);
      assert.equal(client.headers.location, 'http://example.com/elsewhere');

      const local = await fetchRaw(`${base}/cgi-bin/redirect.sh?local`);
      assert.equal(local.status, 200, 'the server follows a local redirect itself');
      const env = lines(local.text);
      assert.equal(env.SCRIPT_NAME, '/cgi-bin/env.sh');
      assert.equal(env.PATH_INFO, '/after');
      assert.equal(env.QUERY_STRING, 'from=redirect');
      assert.equal(env.REQUEST_METHOD, 'GET');

      const nph = await fetchRaw(`${base}/cgi-bin/nph-raw.sh`);
      assert.equal(nph.status, 203);
      assert.equal(nph.headers['x-nph'], 'yes');
      assert.equal(nph.text, 'raw output\n');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a Python form handler, a Perl script through cgi-helper, 16 MiB of output', async () => {
    const tsgi = await start([]);
    try {
      const base = tsgi.url();
      const py = await fetchRaw(`${base}/cgi-bin/form.py/pi?q=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'x=1&y=two+words&y=3',
      });
      assert.equal(py.status, 200);
      assert.deepEqual(JSON.parse(py.text), {
        bytes: 19,
        form: { x: ['1'], y: ['two words', '3'] },
        method: 'POST',
        path_info: '/pi',
        query: { q: ['1'] },
      });
      const pl = await fetchRaw(`${base}/cgi-bin/hello.pl?name=tsgi`);
      assert.equal(pl.status, 200);
      assert.equal(pl.headers['x-script'], 'perl');
      assert.match(pl.text, /^<p>hello, tsgi, from Perl v5\.\d+\.\d+<\/p>\n$/);
      const big = await fetchRaw(`${base}/cgi-bin/big.sh`);
      assert.equal(big.body.length, 16 * 1024 * 1024);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('mapping: directory slash and cgi-index, 403 (not executable, outside via symlink, extension), 404, a file mount', async () => {
    const tsgi = await start([
      '--cgi-index',
      'index.sh',
      '--cgi-allowed-ext',
      '.sh',
      '--cgi-allowed-ext',
      '.pl',
      '--cgi',
      `/app=${BIN}/env.sh`,
    ]);
    try {
      const base = tsgi.url();
      const dir = await fetchRaw(`${base}/cgi-bin/sub?x=1`);
      assert.equal(dir.status, 301);
      assert.equal(dir.headers.location, '/cgi-bin/sub/?x=1');
      const index = await fetchRaw(`${base}/cgi-bin/sub/`);
      assert.equal(index.text, 'index of sub, SCRIPT_NAME=/cgi-bin/sub/index.sh\n');
      assert.equal((await fetchRaw(`${base}/cgi-bin/notexec.sh`)).status, 403);
      assert.equal((await fetchRaw(`${base}/cgi-bin/link-out.sh`)).status, 403);
      await tsgi.waitForLine(/CGI security error: .*outside\.sh is not under .*\/bin/);
      assert.equal((await fetchRaw(`${base}/cgi-bin/form.py`)).status, 403, 'cgi-allowed-ext');
      assert.equal((await fetchRaw(`${base}/cgi-bin/nope.sh`)).status, 404);
      assert.equal((await fetchRaw(`${base}/cgi-bin/nope/deeper.sh`)).status, 404);
      assert.match(await rawGet(base, '/cgi-bin/../outside.sh'), /^HTTP\/1\.1 403 /, 'a dot-dot walk out');
      assert.equal((await fetchRaw(`${base}/elsewhere`)).status, 404, 'no cgi entry for the path');
      const app = lines((await fetchRaw(`${base}/app/any/thing`)).text);
      assert.equal(app.SCRIPT_NAME, '/app');
      assert.equal(app.PATH_INFO, '/any/thing');
      assert.equal(app.SCRIPT_FILENAME, `${BIN}/env.sh`);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a uWSGI cgi mapping option tsgi does not do is a config error, not silently ignored', async () => {
    const tsgi = new Tsgi(['--http-socket', '127.0.0.1:0', '--cgi', BIN, '--cgi-from-docroot']);
    assert.equal(await tsgi.wait(15_000), 1);
    assert.match(tsgi.output, /option 'cgi-from-docroot': is a uWSGI option that tsgi does not support/);
  });

  test('stderr goes to the log; no response head is a 500', async () => {
    const tsgi = await start([]);
    try {
      const r = await fetchRaw(`${tsgi.url()}/cgi-bin/noheader.sh`);
      assert.equal(r.status, 500);
      await tsgi.waitForLine(/^noheader\.sh: something went wrong$/m);
      await tsgi.waitForLine(/end of script output before headers: .*noheader\.sh/);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a script that never ends: cgi-timeout kills its whole process group, 504', async () => {
    const dir = tempDir();
    const tsgi = await start(['--cgi-timeout', '1'], { CGI_PID_DIR: dir.path });
    try {
      const r = await fetchRaw(`${tsgi.url()}/cgi-bin/forever.sh`);
      assert.equal(r.status, 504);
      const script = Number(readFileSync(join(dir.path, 'forever.pid'), 'utf8'));
      const child = Number(readFileSync(join(dir.path, 'forever-child.pid'), 'utf8'));
      await waitFor(() => !alive(script) && !alive(child), 5000, 'the script and its child to die');
      await tsgi.waitForLine(/cgi-timeout: .*forever\.sh sent nothing for 1 s; its process group was killed/);
      // the slot is free again
      assert.equal((await fetchRaw(`${tsgi.url()}/cgi-bin/status.sh`)).status, 418);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test('output keeps a slow script alive past cgi-timeout (an inactivity timeout)', async () => {
    const tsgi = await start(['--cgi-timeout', '1']);
    try {
      const r = await fetchRaw(`${tsgi.url()}/cgi-bin/slow.sh`);
      assert.equal(r.status, 200);
      assert.equal(r.text, [...Array(10).keys()].map((i) => `tick ${i}\n`).join(''));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('concurrency is bounded by processes × threads; harakiri kills a stuck script', async () => {
    const dir = tempDir();
    const tsgi = await start(
      ['--processes', '1', '--threads', '2', '--harakiri', '4', '--cgi-timeout', '30'],
      {
        CGI_PID_DIR: dir.path,
      },
    );
    try {
      const base = tsgi.url();
      const rs = await Promise.all([...Array(6)].map(() => fetchRaw(`${base}/cgi-bin/concurrency.sh`)));
      for (const r of rs) assert.equal(r.status, 200);
      const seen = rs.map((r) => Number(r.text));
      assert.ok(Math.max(...seen) <= 2, `at most 2 scripts at once (saw ${seen.join(', ')})`);

      const stuck = await fetchRaw(`${base}/cgi-bin/forever.sh`);
      assert.equal(stuck.status, 504);
      await tsgi.waitForLine(/HARAKIRI ON WORKER 1 \(pid: \d+, try: 1\)/);
      const script = Number(readFileSync(join(dir.path, 'forever.pid'), 'utf8'));
      const child = Number(readFileSync(join(dir.path, 'forever-child.pid'), 'utf8'));
      await waitFor(() => !alive(script) && !alive(child), 5000, 'the stuck script group to die');
      await waitFor(
        async () => (await fetchRaw(`${base}/cgi-bin/status.sh`)).status === 418,
        10_000,
        'a replacement slot',
      );
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });

  test('slots are supervised like workers: recycling, SIGHUP with a script in flight, metrics', async () => {
    const dir = tempDir();
    const tsgi = await start(
      [
        '--processes',
        '2',
        '--max-requests',
        '3',
        '--min-worker-lifetime',
        '0',
        '--harakiri',
        '3',
        '--cgi-timeout',
        '30',
        '--prometheus',
        '127.0.0.1:0',
      ],
      { CGI_PID_DIR: dir.path },
    );
    try {
      const base = tsgi.url();
      for (let i = 0; i < 6; i++) assert.equal((await fetchRaw(`${base}/cgi-bin/status.sh`)).status, 418);
      await tsgi.waitForLine(/recycling worker \d \(pid \d+\): max-requests reached \(3 >= 3\)/);
      await tsgi.waitForLine(/worker \d \(pid \d+\) exited \(max-requests, exit code 0\)/);

      // a reload lets the running script finish its output on the old slot
      const slow = fetchRaw(`${base}/cgi-bin/slow.sh`);
      await new Promise((r) => setTimeout(r, 300));
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload done/);
      const r = await slow;
      assert.equal(r.status, 200);
      assert.match(r.text, /tick 0\n[\s\S]*tick 9\n$/);
      await tsgi.waitForLine(/exited \(reload, exit code 0\)/);

      // a script killed from outside costs only its request; the slot goes on serving
      const stuck = fetchRaw(`${base}/cgi-bin/forever.sh`);
      await waitFor(() => existsSync(join(dir.path, 'forever-child.pid')), 5000, 'the script to start');
      // its own session: the group id is the script's pid
      process.kill(-Number(readFileSync(join(dir.path, 'forever.pid'), 'utf8')), 'SIGKILL');
      const killed = await stuck;
      assert.equal(killed.status, 500, 'end of script output before headers');
      await tsgi.waitForLine(/cgi: .*forever\.sh \(pid \d+\) killed by SIGKILL/);
      assert.equal((await fetchRaw(`${base}/cgi-bin/status.sh`)).status, 418);

      assert.equal((await fetchRaw(`${base}/cgi-bin/forever.sh`)).status, 504);
      const metrics = await scrapeUntil(
        await metricsUrl(tsgi),
        (m) =>
          sampleValue(m, 'tsgi_harakiri_total') === 1 &&
          sampleValue(m, 'tsgi_worker_respawns_total', { reason: 'harakiri' }) === 1,
        'the harakiri counted',
      );
      assert.ok(sampleValue(metrics, 'tsgi_worker_respawns_total', { reason: 'max-requests' }) >= 1);
      assert.equal(sampleValue(metrics, 'tsgi_worker_respawns_total', { reason: 'reload' }), 2);
      assert.equal(sampleValue(metrics, 'tsgi_worker_respawns_total', { reason: 'crash' }), 0);
    } finally {
      assert.equal(await tsgi.stop(), 0);
      dir.cleanup();
    }
  });
});
