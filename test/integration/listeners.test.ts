import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FIXTURES, startTsgi, TsgiProcess, tempDir } from '../helpers/tsgi.js';

const APP = `${FIXTURES}/apps/crashy.py`;

/** GET over a unix socket. */
function getUnix(path: string, url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: url, agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => {
        text += d;
      });
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('listeners, pidfile, vacuum', () => {
  test('unix http-socket with chmod-socket; pidfile; vacuum removes both at exit', async () => {
    const dir = tempDir();
    try {
      const sock = join(dir.path, 'app.sock');
      const pid = join(dir.path, 'app.pid');
      const tsgi = await startTsgi([
        '--http-socket',
        sock,
        '--chmod-socket=660', // an optional argument takes `=` (GNU getopt, as uWSGI)
        '--pidfile',
        pid,
        '--vacuum',
        '--wsgi-file',
        APP,
      ]);
      assert.match(tsgi.output, new RegExp(`listening on http://${sock}`));
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      assert.equal(readFileSync(pid, 'utf8').trim(), String(tsgi.pid));
      const r = await getUnix(sock, '/hi');
      assert.equal(r.status, 200);
      assert.match(r.text, /\/hi/);
      assert.equal(await tsgi.stop(), 0);
      assert.equal(existsSync(sock), false, 'vacuum removed the socket');
      assert.equal(existsSync(pid), false, 'vacuum removed the pidfile');
    } finally {
      dir.cleanup();
    }
  });

  test('a stale socket file is replaced; a live one and a regular file are refused', async () => {
    const dir = tempDir();
    try {
      const sock = join(dir.path, 'stale.sock');
      // A stale socket: bound once, then its server closed without unlinking.
      const srv = createServer();
      await new Promise<void>((r) => srv.listen(sock, r));
      const live = new TsgiProcess(['--http-socket', sock, '--wsgi-file', APP]);
      assert.equal(await live.wait(15_000), 1, 'a live server on the path is refused');
      assert.match(live.output, /in use by a running server/);
      srv.close();
      // net.Server unlinks on close; recreate a stale file by binding in a child and killing it.
      const { spawnSync } = await import('node:child_process');
      spawnSync(process.execPath, [
        '-e',
        `require('net').createServer().listen(${JSON.stringify(sock)}, () => process.kill(process.pid, 'SIGKILL'))`,
      ]);
      assert.ok(existsSync(sock), 'stale socket file left behind');
      const tsgi = await startTsgi(['--http-socket', sock, '--wsgi-file', APP]);
      assert.equal((await getUnix(sock, '/')).status, 200);
      assert.equal(await tsgi.stop(), 0);
      const file = join(dir.path, 'not-a-socket');
      writeFileSync(file, 'data');
      const bad = new TsgiProcess(['--http-socket', file, '--wsgi-file', APP]);
      assert.equal(await bad.wait(15_000), 1);
      assert.match(bad.output, /exists and is not a socket/);
      assert.equal(readFileSync(file, 'utf8'), 'data', 'the file is untouched');
    } finally {
      dir.cleanup();
    }
  });

  test('several listeners in one instance; a busy port is a clear error', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
    ]);
    try {
      const a = tsgi.url('http', 0);
      const b = tsgi.url('http', 1);
      assert.notEqual(a, b);
      for (const u of [a, b]) assert.equal((await fetch(`${u}/x`)).status, 200);
      const port = new URL(a).port;
      const clash = new TsgiProcess(['--http-socket', `127.0.0.1:${port}`, '--wsgi-file', APP]);
      assert.equal(await clash.wait(15_000), 1);
      assert.match(clash.output, new RegExp(`cannot bind http listener 127.0.0.1:${port}: EADDRINUSE`));
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a bad config value names the option and where it came from', async () => {
    const p = new TsgiProcess(['--http-socket', '127.0.0.1:0', '--wsgi-file', APP, '--processes', 'four']);
    assert.equal(await p.wait(10_000), 1);
    assert.match(p.output, /command line \(arg \d+\): option 'processes': expected an integer, got 'four'/);
    const q = new TsgiProcess(['--http-socket', '127.0.0.1:0', '--wsgi-file', APP, '--procesess', '2']);
    assert.equal(await q.wait(10_000), 1);
    assert.match(q.output, /option 'procesess': unknown option \(did you mean 'processes'\?\)/);
  });

  test('an instance with no listener or no app says so and exits 1', async () => {
    const p = new TsgiProcess(['--wsgi-file', APP]);
    assert.equal(await p.wait(10_000), 1);
    assert.match(p.output, /no listener is configured/);
    const q = new TsgiProcess(['--http-socket', '127.0.0.1:0']);
    assert.equal(await q.wait(10_000), 1);
    assert.match(q.output, /no app is configured/);
  });
});
