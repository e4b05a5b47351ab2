import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { freePort, startPeer } from '../../helpers/peers.js';
import { hasRedis, hasUwsgi, startRedis, startUwsgi } from '../../helpers/router.js';
import { FIXTURES, fetchRaw, requireTool, runs, startTsgi } from '../../helpers/tsgi.js';

/**
 * The `uwsgi:` and `fcgi:` proxy actions through the protocol plugins' clients, against real
 * uWSGI and php-cgi, and the `redis:` action against a real redis-server.
 */

const APP = join(FIXTURES, 'apps', 'route_echo.py');
const PHP = join(FIXTURES, 'php', 'index.php');

describe('uwsgi action', () => {
  const skip = requireTool(hasUwsgi, 'uWSGI (uwsgi-core, uwsgi-plugin-python3)');
  test('to real uWSGI nodes: rewritten vars reach the app; a pool fails over', {
    skip,
    timeout: 60_000,
  }, async () => {
    const ports = [await freePort(), await freePort()];
    // No --master: each node is one process, so SIGKILL really closes its socket (with a master,
    // its orphaned worker would still accept for a moment and drop the request: a 502, not a failover).
    const nodes = await Promise.all(
      ports.map((p) =>
        startUwsgi(['--plugin', 'python3', '--socket', `127.0.0.1:${p}`, '--wsgi-file', APP], p),
      ),
    );
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--need-app=false',
      '--upstream',
      `apps uwsgi://127.0.0.1:${ports[0]} uwsgi://127.0.0.1:${ports[1]}`,
      '--route',
      '^/one/(.*)$ rewrite:/rewritten/$1',
      '--route',
      `^/rewritten/ uwsgi:127.0.0.1:${ports[0]},0,0`,
      '--route',
      '^/pool/ uwsgi:apps,0,0',
      '--route',
      '^/app/ addvar:ROUTE_SEEN=yes',
      '--route',
      '^/app/ uwsgi:apps,0,0',
    ]);
    try {
      const r = await fetchRaw(`${tsgi.url()}/one/page?q=1`);
      assert.equal(r.status, 200, `tsgi said:\n${tsgi.output}\nuWSGI said:\n${nodes[0]!.output}`);
      assert.equal(r.headers['x-path'], '/rewritten/page');
      assert.equal(r.headers['x-query'], 'q=1');
      const v = await fetchRaw(`${tsgi.url()}/app/x`);
      assert.equal(v.headers['x-var-seen'], 'yes', 'vars set by rules reach the upstream app');
      await nodes[0]!.stop('SIGKILL');
      for (let i = 0; i < 6; i++) assert.equal((await fetchRaw(`${tsgi.url()}/pool/${i}`)).status, 200);
      await tsgi.waitForLine(/apps => marking 127\.0\.0\.1:\d+ as failed/);
    } finally {
      await tsgi.stop();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});

describe('fcgi action', () => {
  const skip = requireTool(() => runs('php-cgi', ['-v']), 'php-cgi');
  test('to php-cgi: SCRIPT_FILENAME from a rule, PATH_INFO and query through', {
    skip,
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    const php = await startPeer('php-cgi', ['-b', `127.0.0.1:${port}`], port, {
      env: { PHP_FCGI_CHILDREN: '2' },
    });
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--need-app=false',
      '--route',
      `^/php(/.*)?$ addvar:SCRIPT_FILENAME=${PHP}`,
      '--route',
      '^/php(/.*)?$ addvar:SCRIPT_NAME=/php',
      '--route',
      '^/php(/.*)?$ setpathinfo:$1',
      '--route-uri',
      `^/php fcgi:127.0.0.1:${port}`,
    ]);
    try {
      const r = await fetchRaw(`${tsgi.url()}/php/hello?x=1`);
      assert.equal(r.status, 200, r.text);
      const data = JSON.parse(r.text) as Record<string, unknown>;
      assert.equal(data.path_info, '/hello');
      assert.equal(data.script_name, '/php');
      assert.equal(data.query, 'x=1');
      const missing = await fetchRaw(`${tsgi.url()}/php/missing`);
      assert.equal(missing.status, 404);
      const body = Buffer.alloc(300_000, 0x41);
      const digest = await fetchRaw(`${tsgi.url()}/php/digest`, { method: 'POST', body });
      assert.equal((JSON.parse(digest.text) as { bytes: number }).bytes, body.length);
    } finally {
      await tsgi.stop();
      await php.stop();
    }
  });
});

describe('redis action', () => {
  const skip = requireTool(hasRedis, 'redis-server');
  test("answers with a key's value; a missing key or Redis down goes on to the next rule", {
    skip,
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    const redis = await startRedis(port);
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await client.connect();
    await client.set('page:/cached', 'from redis\n');
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--need-app=false',
      '--route-run',
      `redis:addr=127.0.0.1:${port},key=page:\${PATH_INFO},content_type=text/plain`,
      '--route-run',
      'return:404',
    ]);
    try {
      const hit = await fetchRaw(`${tsgi.url()}/cached`);
      assert.equal(hit.status, 200);
      assert.equal(hit.text, 'from redis\n');
      assert.equal(hit.headers['content-type'], 'text/plain');
      assert.equal((await fetchRaw(`${tsgi.url()}/nothing`)).status, 404);
      await client.quit();
      await redis.stop('SIGKILL');
      assert.equal((await fetchRaw(`${tsgi.url()}/cached`)).status, 404, 'Redis down: the next rule answers');
    } finally {
      await tsgi.stop();
      await redis.stop();
    }
  });
});
