import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, fetchRaw, startTsgi, type TsgiProcess } from '../helpers/tsgi.js';

/** Send raw bytes on a fresh connection and collect everything until the server closes (bounded). */
function rawExchange(url: string, data: string | Buffer, timeoutMs = 5000): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(port), hostname);
    let out = '';
    const t = setTimeout(() => {
      sock.destroy();
      resolve(out);
    }, timeoutMs);
    sock.on('data', (d) => {
      out += d.toString('latin1');
    });
    sock.on('close', () => {
      clearTimeout(t);
      resolve(out);
    });
    sock.on('error', reject);
    sock.write(data);
  });
}

describe('HTTP edge + Python WSGI worker (PEP 3333 under wsgiref.validate)', () => {
  let tsgi: TsgiProcess;
  let base: string;

  before(async () => {
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--processes',
      '2',
      '--limit-post',
      '1048576',
      '--buffer-size',
      '8192',
    ]);
    base = tsgi.url();
  });

  after(async () => {
    assert.equal(await tsgi.stop(), 0);
    assert.doesNotMatch(tsgi.output, /AssertionError|WSGIWarning/, 'wsgiref.validate found a violation');
  });

  test('GET serves the app with a complete environ', async () => {
    const r = await fetchRaw(`${base}/environ?a=1&b=%20`, { headers: { 'X-Custom': 'yes', Cookie: 'k=v' } });
    assert.equal(r.status, 200);
    const env = JSON.parse(r.text) as Record<string, string | boolean>;
    assert.equal(env.REQUEST_METHOD, 'GET');
    assert.equal(env.PATH_INFO, '/environ');
    assert.equal(env.QUERY_STRING, 'a=1&b=%20');
    assert.equal(env.REQUEST_URI, '/environ?a=1&b=%20');
    assert.equal(env.SCRIPT_NAME, '');
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.HTTP_X_CUSTOM, 'yes');
    assert.equal(env.HTTP_COOKIE, 'k=v');
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.equal(env.SERVER_PORT, new URL(base).port);
    assert.equal(env['wsgi.url_scheme'], 'http');
    assert.equal(env['wsgi.input_terminated'], true);
    assert.equal(env.CONTENT_LENGTH, undefined, 'no CONTENT_LENGTH without a body');
  });

  test('POST body with Content-Length reaches wsgi.input', async () => {
    const body = Buffer.from('x'.repeat(100_000));
    const r = await fetchRaw(`${base}/echo`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/plain' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-length'], String(body.length));
    assert.ok(r.body.equals(body));
  });

  test('chunked request body streams to the app without CONTENT_LENGTH', async () => {
    async function* chunks() {
      for (let i = 0; i < 50; i++) yield Buffer.from(`line ${i}\n`);
    }
    const r = await fetchRaw(`${base}/lines`, { method: 'POST', body: chunks() });
    assert.equal(r.status, 200);
    const lines = JSON.parse(r.text) as string[];
    assert.equal(lines.length, 50);
    assert.equal(lines[49], 'line 49\n');
  });

  test('wsgi.input iteration', async () => {
    const r = await fetchRaw(`${base}/iterlines`, { method: 'POST', body: 'a\nb\nc' });
    assert.equal(r.text, 'A\nB\nC');
  });

  test('HEAD gets headers and no body', async () => {
    const r = await fetchRaw(`${base}/cookies`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
  });

  test('streamed response (generator) arrives whole', async () => {
    const r = await fetchRaw(`${base}/stream?20`);
    assert.equal(r.text.split('\n').filter(Boolean).length, 20);
    assert.equal(r.text.split('\n')[19], 'chunk 19');
  });

  test('write() callable and returned iterable are both sent, in order', async () => {
    const r = await fetchRaw(`${base}/write`);
    assert.equal(r.text, 'written and returned\n');
  });

  test('a large response streams with its Content-Length', async () => {
    const r = await fetchRaw(`${base}/big?${5 * 1024 * 1024}`);
    assert.equal(r.body.length, 5 * 1024 * 1024);
    assert.equal(r.headers['content-length'], String(5 * 1024 * 1024));
  });

  test('wsgi.file_wrapper', async () => {
    const r = await fetchRaw(`${base}/file`);
    assert.match(r.text, /wsgiref.validate/);
  });

  test('repeated response headers (Set-Cookie) are kept', async () => {
    const r = await fetchRaw(`${base}/cookies`);
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  });

  test('custom status and reason pass through', async () => {
    const r = await fetchRaw(`${base}/status?418`);
    assert.equal(r.status, 418);
    assert.equal(r.text, 'status 418\n');
  });

  test('an exception in the app is a 500 and its traceback is logged', async () => {
    const r = await fetchRaw(`${base}/error`);
    assert.equal(r.status, 500);
    await tsgi.waitForLine(/RuntimeError: boom from the app/);
  });

  test('an exception after the head resets the connection (never a wrong response)', async () => {
    await assert.rejects(fetchRaw(`${base}/error-after-head`));
    await tsgi.waitForLine(/RuntimeError: boom mid-body/);
  });

  test('start_response with exc_info replaces the head', async () => {
    const r = await fetchRaw(`${base}/exc-info`);
    assert.equal(r.status, 500);
    assert.equal(r.text, 'error page\n');
  });

  test('PATH_INFO is percent-decoded to latin-1 bytes', async () => {
    const r = await fetchRaw(`${base}/latin1/caf%C3%A9%20x`);
    assert.ok(r.body.equals(Buffer.from('/latin1/café x', 'utf8')));
  });

  test('keep-alive: several requests on one connection, pipelined', async () => {
    const req = (p: string) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const out = await rawExchange(
      base,
      req('/a') + req('/b') + `GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(out.match(/HTTP\/1\.1 200 OK/g)?.length, 3);
    assert.ok(
      out.indexOf('hello /a') < out.indexOf('hello /b') && out.indexOf('hello /b') < out.indexOf('hello /c'),
    );
  });

  test('Expect: 100-continue gets 100 before the body is sent', async () => {
    const out = await rawExchange(
      base,
      'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      1500,
    );
    assert.match(out, /^HTTP\/1\.1 100 Continue/);
  });

  test('a malformed request gets 400 and the connection closes', async () => {
    const out = await rawExchange(base, 'GARBAGE\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 Bad Request/);
  });

  test('headers over buffer-size get 431', async () => {
    const out = await rawExchange(base, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(10_000)}\r\n\r\n`);
    assert.match(out, /^HTTP\/1\.1 431 /);
  });

  test('a body over limit-post gets 413 (declared and chunked)', async () => {
    const r = await fetchRaw(`${base}/echo`, { method: 'POST', body: Buffer.alloc(1048577) });
    assert.equal(r.status, 413);
    async function* big() {
      for (let i = 0; i < 40; i++) yield Buffer.alloc(65536);
    }
    const r2 = await fetchRaw(`${base}/echo`, { method: 'POST', body: big() }).catch(() => ({ status: 413 }));
    assert.equal(r2.status, 413);
  });

  test('a client that leaves mid-response does not wedge the worker', async () => {
    const { hostname, port } = new URL(base);
    await new Promise<void>((resolve) => {
      const s = connect(Number(port), hostname, () =>
        s.write('GET /big?104857600 HTTP/1.1\r\nHost: x\r\n\r\n'),
      );
      s.once('data', () => {
        s.destroy();
        resolve();
      });
    });
    // Both workers must still answer promptly.
    const rs = await Promise.all([fetchRaw(`${base}/pid`), fetchRaw(`${base}/pid`), fetchRaw(`${base}/pid`)]);
    for (const r of rs) assert.equal(r.status, 200);
  });
});
