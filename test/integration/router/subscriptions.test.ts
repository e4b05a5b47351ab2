import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../../helpers/peers.js';
import {
  hasUwsgi,
  startFront,
  startUpstream,
  startUwsgi,
  startUwsgiNode,
  startVassal,
} from '../../helpers/router.js';
import { FIXTURES, fetchRaw, requireTool, startTsgi, TsgiProcess, waitFor } from '../../helpers/tsgi.js';

/**
 * Router mode with subscriptions, against real processes: uWSGI nodes announcing themselves to a
 * tsgi front (`subscribe-to`), tsgi vassals announcing to a tsgi front and to uWSGI's http router,
 * the fastrouter behind uWSGI's http router, and static `http-to` nodes.
 */

const APP = join(FIXTURES, 'apps', 'route_echo.py');
const skip = requireTool(hasUwsgi, 'uWSGI (uwsgi-core, uwsgi-plugin-python3)');

/** GET with a Host header through a front; resolves status and the X-Path the app saw. */
async function viaHost(base: string, host: string, path = '/x'): Promise<{ status: number; path: string }> {
  const r = await fetchRaw(`${base}${path}`, { headers: { Host: host } });
  return { status: r.status, path: String(r.headers['x-path'] ?? '') };
}

const routed = (base: string, host: string, want = 200) =>
  waitFor(async () => (await viaHost(base, host)).status === want, 15_000, `${host} → ${want}`);

describe('tsgi front, uWSGI nodes', () => {
  test('uWSGI subscribe-to: routed by Host; unsubscribe on stop; a killed node expires', {
    skip,
    timeout: 90_000,
  }, async () => {
    const { front, ss } = await startFront(['--subscription-tolerance', '2']);
    const a = await startUwsgiNode(ss, 'a.example');
    const b = await startUwsgiNode(ss, 'b.example');
    try {
      const base = front.url();
      await routed(base, 'a.example');
      await routed(base, 'b.example');
      assert.deepEqual(await viaHost(base, 'a.example', '/hello'), { status: 200, path: '/hello' });
      const unknown = await fetchRaw(`${base}/x`, { headers: { Host: 'nobody.example' } });
      assert.equal(unknown.status, 502);
      assert.match(unknown.text, /no node is subscribed for 'nobody\.example'/);
      await a.stop('SIGINT');
      await front.waitForLine(/a\.example => removing 127\.0\.0\.1:\d+ \(unsubscribed\)/);
      assert.equal((await viaHost(base, 'a.example')).status, 502);
      b.child.kill('SIGKILL');
      const expired = /b\.example => removing 127\.0\.0\.1:\d+ \(no announce received in 2 seconds\)/;
      await waitFor(
        async () => (await viaHost(base, 'b.example')).status === 502 && expired.test(front.output),
        15_000,
        'b.example to expire',
      );
    } finally {
      await a.stop();
      await b.stop();
      await front.stop();
    }
  });

  test('two nodes for one key share it (weighted round robin)', { skip, timeout: 60_000 }, async () => {
    const { front, ss } = await startFront();
    const nodes = await Promise.all([
      startUwsgiNode(ss, 'shared.example'),
      startUwsgiNode(ss, 'shared.example'),
    ]);
    try {
      await waitFor(
        () => (front.output.match(/shared\.example => new node/g) ?? []).length === 2,
        10_000,
        'two nodes',
      );
      for (let i = 0; i < 10; i++) {
        const r = await fetchRaw(`${front.url()}/shared-${i}`, { headers: { Host: 'shared.example' } });
        assert.equal(r.status, 200);
      }
      for (const n of nodes) {
        const served = (n.output.match(/GET \/shared-\d/g) ?? []).length;
        assert.ok(served >= 3, `each node serves its share (got ${served} of 10)`);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
      await front.stop();
    }
  });
});

describe('reload', () => {
  test('a graceful reload of the front keeps its subscription table and UDP port', {
    skip,
    timeout: 60_000,
  }, async () => {
    const { front, ss } = await startFront();
    const node = await startUwsgiNode(ss, 'keep.example');
    try {
      await routed(front.url(), 'keep.example');
      front.signal('SIGHUP');
      await front.waitForLine(/reload done/);
      assert.equal((await viaHost(front.url(), 'keep.example')).status, 200, 'no gap after the reload');
      const news = front.output.match(/keep\.example => new node/g) ?? [];
      assert.equal(news.length, 1, 'the node was not forgotten and re-added');
      assert.doesNotMatch(front.output, /EADDRINUSE/);
    } finally {
      await node.stop();
      await front.stop();
    }
  });
});

describe('tsgi vassals subscribing', () => {
  test("to a tsgi front (socket :0 announced with its real port) and to uWSGI's http router", {
    skip,
    timeout: 60_000,
  }, async () => {
    const { front, ss } = await startFront();
    const uwHttp = await freePort();
    const uwSs = await freePort();
    const uwFront = await startUwsgi(
      [
        '--plugin',
        'http',
        '--http',
        `127.0.0.1:${uwHttp}`,
        '--http-subscription-server',
        `127.0.0.1:${uwSs}`,
        '--master',
      ],
      uwHttp,
    );
    const vassal = await startVassal([
      '--subscribe-to',
      `${ss}:tsgi.example`,
      '--subscribe2',
      `server=127.0.0.1:${uwSs},key=uw.example`,
    ]);
    try {
      const bound = vassal.url('uwsgi').replace('uwsgi://', '');
      assert.match(
        vassal.output,
        new RegExp(`subscribing to ${ss.replace(/\./g, '\\.')}:tsgi\\.example as ${bound}`),
      );
      await routed(front.url(), 'tsgi.example');
      const uwBase = `http://127.0.0.1:${uwHttp}`;
      await routed(uwBase, 'uw.example');
      assert.deepEqual(await viaHost(uwBase, 'uw.example', '/through-uwsgi'), {
        status: 200,
        path: '/through-uwsgi',
      });
      await vassal.stop();
      await front.waitForLine(/tsgi\.example => removing .* \(unsubscribed\)/);
      await waitFor(
        () => /uw\.example => marking .* as failed/.test(uwFront.output),
        10_000,
        'uWSGI to drop the node',
      );
    } finally {
      await vassal.stop();
      await uwFront.stop();
      await front.stop();
    }
  });

  test('subscribe-to without a uwsgi socket is a config error', async () => {
    const p = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--subscribe-to',
      '127.0.0.1:9:x.example',
    ]);
    assert.equal(await p.wait(15_000), 1);
    assert.match(p.output, /option 'subscribe-to': subscribing needs a uwsgi socket/);
  });
});

describe('fastrouter', () => {
  test("uWSGI's http router in front of a tsgi fastrouter with subscribed nodes", {
    skip,
    timeout: 60_000,
  }, async () => {
    const fr = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--fastrouter',
      '127.0.0.1:0',
      '--fastrouter-subscription-server',
      '127.0.0.1:0',
    ]);
    const ss = (await fr.waitForLine(/subscription server on udp:\/\/(\S+)/))[1]!;
    const frAddr = fr.url('fastrouter').replace('fastrouter://', '');
    const node = await startUwsgiNode(ss, 'fr.example');
    const httpPort = await freePort();
    const uwHttp = await startUwsgi(
      ['--plugin', 'http', '--http', `127.0.0.1:${httpPort}`, '--http-to', frAddr, '--master'],
      httpPort,
    );
    try {
      const base = `http://127.0.0.1:${httpPort}`;
      await routed(base, 'fr.example');
      assert.deepEqual(await viaHost(base, 'fr.example', '/via-fastrouter'), {
        status: 200,
        path: '/via-fastrouter',
      });
      assert.equal((await fetchRaw(`${base}/x`, { headers: { Host: 'other.example' } })).status, 502);
    } finally {
      await uwHttp.stop();
      await node.stop();
      await fr.stop();
    }
  });
});

describe('static nodes', () => {
  test('http-to: uwsgi and http:// nodes in turn; a dead node is skipped for the gracetime', {
    skip,
    timeout: 60_000,
  }, async () => {
    const port = await freePort();
    // No --master: SIGKILL must close the node's socket (a master's orphaned worker would go on).
    const uw = await startUwsgi(
      ['--plugin', 'python3', '--socket', `127.0.0.1:${port}`, '--wsgi-file', APP],
      port,
    );
    const up = await startUpstream(join(FIXTURES, 'router', 'upstream.mjs'), 'httpnode');
    const front = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--http-to',
      `127.0.0.1:${port}`,
      '--http-to',
      `http://${up.address}`,
      '--http-gracetime',
      '60',
    ]);
    try {
      const kinds = new Set<string>();
      for (let i = 0; i < 4; i++) {
        const r = await fetchRaw(`${front.url()}/name`);
        assert.equal(r.status, 200);
        kinds.add(r.headers['x-node'] === 'httpnode' ? 'http' : 'uwsgi');
      }
      assert.deepEqual([...kinds].sort(), ['http', 'uwsgi']);
      await uw.stop('SIGKILL');
      for (let i = 0; i < 6; i++) {
        const r = await fetchRaw(`${front.url()}/name`);
        assert.equal(r.status, 200, 'no failed request: the dead node costs a retry');
        assert.equal(r.text, 'httpnode');
      }
      await front.waitForLine(/marking 127\.0\.0\.1:\d+ as failed/); // log lines are written in 20 ms batches
      assert.equal((front.output.match(/marking 127\.0\.0\.1:\d+ as failed/g) ?? []).length, 1);
    } finally {
      await front.stop();
      await up.stop();
      await uw.stop();
    }
  });
});
