import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { startObserved, stats, statsAddr } from '../helpers/observe.js';
import { FIXTURES, fetchRaw, requireTool, startTsgi, TSGI_BIN, tempDir } from '../helpers/tsgi.js';
import { hasUwsgi, startUwsgiApp } from '../helpers/uwsgi-instance.js';

const APP = `${FIXTURES}/apps/observe.py`;
type Json = Record<string, unknown>;

/** The JSON type of a value as uWSGI's stats writer produces it: integers are `int`. */
function kind(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return typeof v;
}

/**
 * Assert that `ours` has every key of `theirs` with the same JSON type, recursing into objects and
 * into the first element of lists both have; `extra` lists keys only tsgi may add. Returns the paths
 * compared (so the test can check the comparison reached the per-worker, app and core objects).
 */
function sameShape(ours: Json, theirs: Json, path: string, extra: ReadonlySet<string>, seen: string[]): void {
  seen.push(path);
  for (const [k, tv] of Object.entries(theirs)) {
    assert.ok(k in ours, `${path}.${k}: present in uWSGI's stats, missing in tsgi's`);
    const ov = ours[k];
    assert.equal(kind(ov), kind(tv), `${path}.${k}: uWSGI has ${kind(tv)}, tsgi has ${kind(ov)}`);
    if (kind(tv) === 'object') sameShape(ov as Json, tv as Json, `${path}.${k}`, extra, seen);
    if (kind(tv) === 'array') {
      const [o0] = ov as unknown[];
      const [t0] = tv as unknown[];
      if (o0 !== undefined && t0 !== undefined) {
        assert.equal(kind(o0), kind(t0), `${path}.${k}[0]`);
        if (kind(t0) === 'object') sameShape(o0 as Json, t0 as Json, `${path}.${k}[0]`, extra, seen);
      }
    }
  }
  for (const k of Object.keys(ours))
    assert.ok(k in theirs || extra.has(`${path}.${k}`), `${path}.${k}: tsgi adds a key uWSGI does not have`);
}

describe('uWSGI-compatible stats', () => {
  test('the stats JSON has real uWSGI 2.0 keys and types (top level, sockets, workers, apps, cores)', {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin (uwsgi-core, uwsgi-plugin-python3)'),
  }, async () => {
    const common = ['--processes', '2', '--threads', '2'];
    const {
      uwsgi,
      url,
      statsAddr: uwsgiStats,
    } = await startUwsgiApp(APP, ['--memory-report', ...common], {
      stats: true,
      workers: 2,
    });
    const tsgi = await startObserved([...common]);
    try {
      assert.equal((await fetchRaw(`${url}/ok`)).status, 200);
      assert.equal((await fetchRaw(`${tsgi.url()}/ok`)).status, 200);
      const theirs = await stats(uwsgiStats);
      const ours = await stats(await statsAddr(tsgi));
      const seen: string[] = [];
      sameShape(ours, theirs, '$', new Set(['$.tsgi']), seen);
      for (const p of ['$.workers[0]', '$.workers[0].apps[0]', '$.workers[0].cores[0]', '$.sockets[0]'])
        assert.ok(seen.includes(p), `compared ${p}`);
      // Same key order in each worker, as uwsgitop's column code does not care but diffing people do.
      const w = (d: Json) => Object.keys((d.workers as Json[])[0]!);
      assert.deepEqual(w(ours), w(theirs));
      assert.equal((ours.workers as Json[]).length, 2);
      assert.equal(((ours.workers as Json[])[0]!.cores as Json[]).length, 2, 'one core per thread');
      assert.equal((ours.workers as Json[])[0]!.respawn_count, 1, 'uWSGI counts the first spawn');
      assert.ok(((ours.workers as Json[])[0]!.rss as number) > 0);
      assert.equal(ours.pid, tsgi.pid);
    } finally {
      await uwsgi.stop();
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test("stats-http: both answer a GET with uWSGI's HTTP/1.0 head; the body is the same document", {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin'),
  }, async () => {
    const { uwsgi, statsAddr: uwsgiStats } = await startUwsgiApp(APP, ['--stats-http'], { stats: true });
    const tsgi = await startObserved(['--stats-http']);
    try {
      const theirs = await fetchRaw(`http://${uwsgiStats}/`);
      const ours = await fetchRaw(`http://${await statsAddr(tsgi)}/`);
      for (const r of [theirs, ours]) {
        assert.equal(r.status, 200);
        assert.equal(r.headers['content-type'], 'application/json');
        assert.equal(r.headers['access-control-allow-origin'], '*');
        assert.equal(r.headers.connection, 'close');
      }
      assert.deepEqual(
        Object.keys(JSON.parse(ours.text)).slice(0, 12),
        Object.keys(JSON.parse(theirs.text)).slice(0, 12),
      );
      // curl, as people use it.
      const viaCurl = execFileSync('curl', ['-s', `http://${await statsAddr(tsgi)}/`], {
        timeout: 10_000,
      }).toString();
      assert.equal((JSON.parse(viaCurl) as Json).pid, tsgi.pid);
    } finally {
      await uwsgi.stop();
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('stats on a unix socket, minified, without cores; an in-flight request shows its vars', async () => {
    const dir = tempDir();
    try {
      const sock = `${dir.path}/stats.sock`;
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--stats',
        sock,
        '--stats-minified',
      ]);
      try {
        const pending = fetchRaw(`${tsgi.url()}/sleep?1.5`, { headers: { 'X-Marker': 'seen-in-stats' } });
        await new Promise((r) => setTimeout(r, 400));
        const raw = execFileSync('node', [
          '-e',
          `const s=require('net').connect(${JSON.stringify(sock)});let d='';s.on('data',c=>d+=c);s.on('end',()=>process.stdout.write(d))`,
        ]).toString();
        assert.ok(!/[\n\t]/.test(raw), 'minified: no whitespace');
        const doc = JSON.parse(raw) as Json;
        const core = ((doc.workers as Json[])[0]!.cores as Json[])[0]!;
        assert.equal(core.in_request, 1);
        assert.ok((core.vars as string[]).includes('HTTP_X_MARKER=seen-in-stats'));
        assert.equal((core.vars as string[]).at(-1), '', "uWSGI ends the vars list with ''");
        assert.equal(typeof (core.req_info as Json).request_start, 'number');
        assert.equal((doc.workers as Json[])[0]!.status, 'busy');
        assert.equal((await pending).status, 200);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
      const noCores = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--stats',
        sock,
        '--stats-no-cores',
      ]);
      try {
        const doc = await stats(sock);
        assert.ok(!('cores' in (doc.workers as Json[])[0]!));
      } finally {
        assert.equal(await noCores.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('tsgi top reads real uWSGI stats too (one snapshot when stdout is not a terminal)', {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin'),
  }, async () => {
    const { uwsgi, statsAddr: uwsgiStats } = await startUwsgiApp(APP, ['--processes', '2'], {
      stats: true,
      workers: 2,
    });
    try {
      const out = execFileSync(process.execPath, [TSGI_BIN, 'top', uwsgiStats], {
        timeout: 10_000,
      }).toString();
      assert.match(out, /2\.0\.\d+/, "uWSGI's version in the header");
      assert.match(out, /^WID\s+%\s+PID\s+REQ/m);
      assert.equal((out.match(/^\s*[12]\s+\d/gm) ?? []).length, 2, 'two worker rows');
    } finally {
      await uwsgi.stop();
    }
  });
});
