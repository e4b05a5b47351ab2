import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { addressOf, establishedTo, freePort, hasNginx, type Nginx, startNginx } from '../../helpers/peers.js';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  runs,
  startTsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

const skip = requireTool(hasNginx, 'nginx') || requireTool(() => runs('curl', ['--version']), 'curl');

/** The nginx front ends under test: name → what its server block passes to. */
type Front = 'uwsgi-tcp' | 'uwsgi-unix' | 'fastcgi-tcp-keepalive' | 'fastcgi-unix';

describe('nginx in front of tsgi: uwsgi_pass and fastcgi_pass, TCP and unix sockets', { skip }, () => {
  let tsgi: TsgiProcess;
  let nginx: Nginx;
  const tmp = tempDir('tsgi-nginx-');
  const ports = {} as Record<Front, number>;
  let fcgiTcpPort = 0;

  before(async () => {
    chmodSync(tmp.path, 0o755);
    const uSock = join(tmp.path, 'u.sock');
    const fSock = join(tmp.path, 'f.sock');
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--socket',
      '127.0.0.1:0',
      '--uwsgi-socket',
      uSock,
      '--fastcgi-socket',
      '127.0.0.1:0',
      '--fastcgi-socket',
      fSock,
      '--chmod-socket=666',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--processes',
      '2',
    ]);
    const uTcp = addressOf(tsgi.url('uwsgi', 0));
    const fTcp = addressOf(tsgi.url('fastcgi', 0));
    fcgiTcpPort = Number(fTcp.split(':')[1]);
    for (const f of ['uwsgi-tcp', 'uwsgi-unix', 'fastcgi-tcp-keepalive', 'fastcgi-unix'] as Front[])
      ports[f] = await freePort();
    const common = 'client_max_body_size 64m; location / {';
    nginx = await startNginx(
      join(tmp.path, 'nginx'),
      `
  upstream fcgi_keep { server ${fTcp}; keepalive 4; }
  server { listen 127.0.0.1:${ports['uwsgi-tcp']}; ${common} include /etc/nginx/uwsgi_params; uwsgi_pass ${uTcp}; } }
  server { listen 127.0.0.1:${ports['uwsgi-unix']}; ${common} include /etc/nginx/uwsgi_params; uwsgi_pass unix:${uSock}; } }
  server { listen 127.0.0.1:${ports['fastcgi-tcp-keepalive']}; ${common} include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass fcgi_keep; } }
  server { listen 127.0.0.1:${ports['fastcgi-unix']}; ${common} include /etc/nginx/fastcgi_params; fastcgi_pass unix:${fSock}; } }
`,
      Object.values(ports),
    );
  });

  after(async () => {
    await nginx?.stop();
    if (tsgi) assert.equal(await tsgi.stop(), 0);
    tmp.cleanup();
  });

  const fronts: Front[] = ['uwsgi-tcp', 'uwsgi-unix', 'fastcgi-tcp-keepalive', 'fastcgi-unix'];
  const base = (f: Front) => `http://127.0.0.1:${ports[f]}`;

  for (const f of fronts) {
    describe(f, () => {
      test('GET with a query string: the app sees the request as nginx got it', async () => {
        const r = await fetchRaw(`${base(f)}/environ?a=1&b=%20x`, {
          headers: { 'X-Custom': 'yes', Cookie: 'k=v' },
        });
        assert.equal(r.status, 200, r.text);
        const env = JSON.parse(r.text) as Record<string, string>;
        assert.equal(env.REQUEST_METHOD, 'GET');
        assert.equal(env.PATH_INFO, '/environ');
        assert.equal(env.SCRIPT_NAME, '');
        assert.equal(env.QUERY_STRING, 'a=1&b=%20x');
        assert.equal(env.REQUEST_URI, '/environ?a=1&b=%20x');
        assert.equal(env.HTTP_X_CUSTOM, 'yes');
        assert.equal(env.HTTP_COOKIE, 'k=v');
        assert.equal(env.SERVER_PORT, String(ports[f]));
        assert.equal(env.REMOTE_ADDR, '127.0.0.1');
        assert.equal(env['wsgi.url_scheme'], 'http');
      });

      test('HEAD gets the headers and no body', async () => {
        const r = await fetchRaw(`${base(f)}/cookies`, { method: 'HEAD' });
        assert.equal(r.status, 200);
        assert.equal(r.body.length, 0);
        assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
      });

      test('a 10 MB POST reaches the app whole', async () => {
        const body = randomBytes(10 * 1024 * 1024);
        const r = await fetchRaw(`${base(f)}/digest`, { method: 'POST', body, timeoutMs: 60_000 });
        assert.equal(r.status, 200, `${r.text}\n${nginx.errorLog}\n${tsgi.output.slice(-3000)}`);
        assert.deepEqual(JSON.parse(r.text), {
          bytes: body.length,
          sha256: createHash('sha256').update(body).digest('hex'),
        });
      });

      test('a chunked upload sent by curl reaches the app whole', () => {
        const file = join(tmp.path, `upload-${f}`);
        const body = randomBytes(300_000);
        writeFileSync(file, body);
        const out = execFileSync(
          'curl',
          [
            '-sS',
            '--max-time',
            '30',
            '-H',
            'Transfer-Encoding: chunked',
            '--data-binary',
            `@${file}`,
            `${base(f)}/digest`,
          ],
          { encoding: 'utf8' },
        );
        assert.deepEqual(JSON.parse(out), {
          bytes: body.length,
          sha256: createHash('sha256').update(body).digest('hex'),
        });
      });

      test('404 and 500 from the app pass through with their bodies', async () => {
        const nf = await fetchRaw(`${base(f)}/status?404`);
        assert.equal(nf.status, 404);
        assert.equal(nf.text, 'status 404\n');
        const err = await fetchRaw(`${base(f)}/error`);
        assert.equal(err.status, 500);
      });

      test('repeated response headers (Set-Cookie) are kept', async () => {
        const r = await fetchRaw(`${base(f)}/cookies`);
        assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
        assert.equal(r.text, 'two cookies\n');
      });

      test('a large streamed response arrives whole', async () => {
        const r = await fetchRaw(`${base(f)}/big?${3 * 1024 * 1024}`, { timeoutMs: 30_000 });
        assert.equal(r.status, 200);
        assert.equal(r.body.length, 3 * 1024 * 1024);
      });
    });
  }

  test('FastCGI keep-alive: nginx reuses one connection to tsgi for sequential requests', async () => {
    for (let i = 0; i < 5; i++)
      assert.equal((await fetchRaw(`${base('fastcgi-tcp-keepalive')}/pid`)).status, 200);
    // The connection stays open between requests: exactly one, idle, from nginx's single worker.
    assert.equal(establishedTo(fcgiTcpPort), 1);
    const before = tsgi.output.length;
    for (let i = 0; i < 5; i++) await fetchRaw(`${base('fastcgi-tcp-keepalive')}/pid`);
    assert.equal(establishedTo(fcgiTcpPort), 1, 'still the same single connection');
    assert.doesNotMatch(tsgi.output.slice(before), /fastcgi: .*closing/);
  });

  test('uwsgi: tsgi closes each connection after its response', async () => {
    const uPort = Number(addressOf(tsgi.url('uwsgi', 0)).split(':')[1]);
    for (let i = 0; i < 3; i++) await fetchRaw(`${base('uwsgi-tcp')}/pid`);
    await waitFor(() => establishedTo(uPort) === 0, 5000, 'uwsgi connections to close');
  });

  test("nginx's error log has no upstream errors", () => {
    assert.doesNotMatch(nginx.errorLog, /upstream prematurely closed|upstream sent|\[crit\]|\[alert\]/);
  });
});
