import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, createReadStream, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { metricsUrl, scrape, scrapeUntil, stats, statsAddr } from '../helpers/observe.js';
import { sampleValue as v } from '../helpers/prometheus.js';
import {
  FIXTURES,
  fetchRaw,
  ROOT,
  requireTool,
  runs,
  startTsgi,
  TSGI_BIN,
  TsgiProcess,
  tempDir,
  waitFor,
} from '../helpers/tsgi.js';

const APP = `${FIXTURES}/apps/observe.py`;
const base = (extra: string[] = []) => [
  '--http-socket',
  '127.0.0.1:0',
  '--wsgi-file',
  APP,
  '--prometheus',
  '127.0.0.1:0',
  '--stats',
  '127.0.0.1:0',
  ...extra,
];

type Workers = Array<Record<string, number | string>>;

describe('prometheus metrics, measured by causing each event', () => {
  test('statuses, durations, bytes and app exceptions (before and after the head)', async () => {
    const tsgi = await startTsgi(base());
    try {
      const url = tsgi.url();
      const metrics = await metricsUrl(tsgi);
      assert.equal((await fetchRaw(`${url}/ok`)).status, 200);
      assert.equal((await fetchRaw(`${url}/status/404`)).status, 404);
      assert.equal((await fetchRaw(`${url}/big?5000`)).body.length, 5000);
      assert.equal(
        (await fetchRaw(`${url}/echo`, { method: 'POST', body: 'x'.repeat(777) })).body.length,
        777,
      );
      const raised = await fetchRaw(`${url}/raise`);
      assert.equal(raised.status, 500);
      await assert.rejects(
        fetchRaw(`${url}/raise-late`),
        'a response cut after its head resets the connection',
      );
      await tsgi.waitForLine(/raised after the head on purpose/);

      const m = await scrapeUntil(
        metrics,
        (x) => v(x, 'tsgi_request_duration_seconds_count', { proto: 'http' }) === 6,
        'six requests counted',
      );
      assert.equal(
        v(m, 'tsgi_requests_total', { proto: 'http', code: '2xx' }),
        4,
        '/ok /big /echo /raise-late',
      );
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '4xx' }), 1);
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '5xx' }), 1);
      assert.equal(v(m, 'tsgi_app_exceptions_total'), 2);
      assert.equal(v(m, 'tsgi_request_body_bytes_total', { proto: 'http' }), 777);
      assert.ok(v(m, 'tsgi_response_body_bytes_total', { proto: 'http' }) >= 5000 + 777);
      assert.equal(v(m, 'tsgi_worker_requests_total', { worker: '1' }), 6);
      assert.ok(v(m, 'tsgi_request_duration_seconds_sum', { proto: 'http' }) > 0);
      assert.ok(v(m, 'tsgi_worker_rss_bytes', { worker: '1' }) > 1024 * 1024);
      assert.equal(v(m, 'tsgi_workers', { state: 'idle' }), 1);
      assert.equal(v(m, 'tsgi_config_generation'), 1);
      assert.ok(v(m, 'process_resident_memory_bytes') > 0, "the master's own process metrics");
      // The stats document counts the same exceptions for the worker.
      const doc = await stats(await statsAddr(tsgi));
      assert.equal((doc.workers as Workers)[0]!.exceptions, 2);
      // Every metric the Grafana dashboard in docs/ queries is one this instance exports.
      const dash = JSON.parse(readFileSync(join(ROOT, 'docs', 'grafana-dashboard.json'), 'utf8')) as {
        panels: Array<{ targets?: Array<{ expr: string }> }>;
      };
      const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
      assert.ok(exprs.length > 20);
      const used = new Set(exprs.flatMap((e) => e.match(/\b(?:tsgi|process|nodejs)_[a-z0-9_]+/g) ?? []));
      for (const name of used) {
        const family = name.replace(/_bucket$/, '');
        assert.ok(m.has(family), `the dashboard queries ${name}, which /metrics does not export`);
        for (const by of exprs
          .filter((e) => e.includes(name))
          .flatMap((e) => [...e.matchAll(/by \((\w+)\)/g)].map((x) => x[1]!)))
          if (by !== 'le')
            assert.ok(
              m.get(family)!.samples.some((x) => by in x.labels),
              `${name} has no '${by}' label`,
            );
      }
      // Only /metrics is served.
      const other = await fetchRaw(metrics.replace('/metrics', '/'));
      assert.equal(other.status, 404);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a crash: 502 for its request, respawns{reason="crash"} and the stats respawn_count', async () => {
    const tsgi = await startTsgi(base());
    try {
      const url = tsgi.url();
      const metrics = await metricsUrl(tsgi);
      const before = tsgi.workerPids();
      assert.equal((await fetchRaw(`${url}/exit`)).status, 502);
      await waitFor(
        () => tsgi.workerPids().length === 1 && tsgi.workerPids()[0] !== before[0],
        10_000,
        'respawn',
      );
      await waitFor(async () => (await fetchRaw(`${url}/ok`)).status === 200, 10_000, 'service back');
      const m = await scrape(metrics);
      assert.equal(v(m, 'tsgi_worker_respawns_total', { reason: 'crash' }), 1);
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '5xx' }), 1);
      assert.equal(v(m, 'tsgi_app_exceptions_total'), 0, 'a crash is not an app exception');
      const doc = await stats(await statsAddr(tsgi));
      assert.equal((doc.workers as Workers)[0]!.respawn_count, 2, 'uWSGI counts the first spawn too');
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a full backlog (--listen 1): queue depth, busy workers, in-flight, 503 rejections', async () => {
    const tsgi = await startTsgi(base(['--listen', '1']));
    try {
      const url = tsgi.url();
      const metrics = await metricsUrl(tsgi);
      const busy = fetchRaw(`${url}/sleep?2`);
      await scrapeUntil(metrics, (m) => v(m, 'tsgi_requests_in_flight') === 1, 'one request in flight');
      const queued = fetchRaw(`${url}/ok`);
      let m = await scrapeUntil(metrics, (x) => v(x, 'tsgi_backlog_requests') === 1, 'one request queued');
      assert.equal(v(m, 'tsgi_workers', { state: 'busy' }), 1);
      assert.equal(v(m, 'tsgi_backlog_limit'), 1);
      const doc = await stats(await statsAddr(tsgi));
      assert.equal(doc.listen_queue, 1);
      assert.equal((doc.workers as Workers)[0]!.status, 'busy');
      const rejected = await fetchRaw(`${url}/ok`);
      assert.equal(rejected.status, 503);
      assert.equal((await busy).status, 200);
      assert.equal((await queued).status, 200);
      m = await scrape(metrics);
      assert.equal(v(m, 'tsgi_backlog_rejections_total', { reason: 'queue-full' }), 1);
      assert.equal(v(m, 'tsgi_backlog_requests'), 0);
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '5xx' }), 1);
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '2xx' }), 2);
      assert.equal((await stats(await statsAddr(tsgi))).listen_queue_errors, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });

  // libuv absorbs EMFILE/ENFILE on accept (it closes a reserve descriptor, accepts and closes the
  // pending connections) and never reports them to Node, so running out of descriptors shows as
  // process_open_fds reaching the limit (process_max_fds, read at start) while connections are
  // closed unanswered; tsgi_listener_accept_errors_total counts the accept errors Node does report.
  test('descriptor exhaustion (prlimit): process_open_fds follows, connections are dropped, then recovery', {
    skip: requireTool(() => runs('prlimit', ['--version']), 'prlimit (util-linux)'),
  }, async () => {
    const tsgi = await startTsgi(base());
    const held: Socket[] = [];
    const hold = (n: number) => {
      const url = new URL(tsgi.url());
      const fresh: Socket[] = [];
      for (let i = 0; i < n; i++) {
        const s = connect(Number(url.port), url.hostname);
        s.on('error', () => {});
        fresh.push(s);
      }
      held.push(...fresh);
      return fresh;
    };
    try {
      const metrics = await metricsUrl(tsgi);
      let m = await scrape(metrics);
      assert.equal(v(m, 'tsgi_listener_accept_errors_total', { proto: 'http', listener: '127.0.0.1:0' }), 0);
      const before = v(m, 'process_open_fds');
      hold(10);
      m = await scrapeUntil(metrics, (x) => v(x, 'process_open_fds') >= before + 10, 'ten more descriptors');
      const soft = execFileSync('prlimit', [
        '--pid',
        String(tsgi.pid),
        '--nofile',
        '--raw',
        '--noheadings',
        '-o',
        'SOFT',
      ])
        .toString()
        .trim();
      const open = readdirSync(`/proc/${tsgi.pid}/fd`).length;
      assert.ok(
        runs('prlimit', ['--pid', String(tsgi.pid), `--nofile=${open + 1}:`]),
        'lower the soft limit',
      );
      const late = hold(5);
      const closed = (s: Socket) =>
        new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));
      await Promise.race([
        Promise.any(late.map(closed)),
        new Promise((_, rej) => setTimeout(() => rej(new Error('no connection was dropped')), 5000)),
      ]);
      for (const s of held) s.destroy();
      assert.ok(runs('prlimit', ['--pid', String(tsgi.pid), `--nofile=${soft}:`]), 'restore the soft limit');
      await waitFor(async () => (await fetchRaw(`${tsgi.url()}/ok`)).status === 200, 10_000, 'serving again');
      m = await scrapeUntil(metrics, (x) => v(x, 'process_open_fds') < before + 10, 'descriptors released');
    } finally {
      for (const s of held) s.destroy();
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('a log destination that stops reading costs log lines (counted), never requests', async () => {
    // stderr is a pipe this test stops reading: the kernel buffer fills, then the master's queue.
    const child = spawn(
      process.execPath,
      [TSGI_BIN, ...base(['--log-format', '%(method) %(uri) %(status) %(var.HTTP_X_PAD)'])],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let out = '';
    const onData = (d: Buffer) => {
      out += d.toString();
    };
    child.stderr!.on('data', onData);
    const proc = { pid: child.pid! };
    try {
      await waitFor(
        () => /tsgi: metrics on (http:\/\/\S+)/.test(out) && /listening on http:\/\/(\S+)/.test(out),
        15_000,
        'ready',
      );
      const url = `http://${/listening on http:\/\/(\S+)/.exec(out)![1]}`;
      const metrics = /tsgi: metrics on (http:\/\/\S+)/.exec(out)![1]!;
      child.stderr!.off('data', onData);
      child.stderr!.pause();
      const pad = 'p'.repeat(4000);
      let ok = 0;
      // 4 MiB of queue + the pipe buffer: about 1100 lines of 4 KB; send well over that.
      for (let i = 0; i < 1500; i++) {
        const r = await fetchRaw(`${url}/ok`, { headers: { 'X-Pad': pad } });
        if (r.status === 200) ok++;
      }
      assert.equal(ok, 1500, 'every request answered while the log was stuck');
      const m = await scrape(metrics);
      const dropped = v(m, 'tsgi_log_dropped_lines_total');
      assert.ok(dropped > 0, 'lines were dropped and counted');
      assert.ok(dropped < 1500);
      // Reading again: the queue drains and the master says how many lines were lost.
      let rest = '';
      child.stderr!.on('data', (d: Buffer) => {
        rest += d.toString();
      });
      child.stderr!.resume();
      await waitFor(() => /log line\(s\) dropped/.test(rest), 15_000, 'the dropped-lines notice');
      assert.match(rest, new RegExp(`tsgi: ${dropped} log line\\(s\\) dropped`));
    } finally {
      child.stderr!.resume();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      void proc;
    }
  });

  // stderr as a parent's pipe (a socketpair, as under the emperor or systemd) and as a FIFO (`| tee`).
  for (const kind of ['socket', 'fifo'] as const)
    test(`a log destination (${kind}) that never reads again does not keep a stopping instance alive`, async () => {
      const dir = tempDir();
      let fifoFd: number | null = null;
      let reader: Readable | null = null;
      if (kind === 'fifo') {
        const fifo = join(dir.path, 'log.fifo');
        execFileSync('mkfifo', [fifo]);
        fifoFd = openSync(fifo, 'r+'); // the instance's stderr; read-write, so opening never blocks
        reader = createReadStream(fifo);
      }
      const child = spawn(
        process.execPath,
        [TSGI_BIN, ...base(['--log-format', '%(uri) %(var.HTTP_X_PAD)'])],
        {
          stdio: ['ignore', 'ignore', fifoFd ?? 'pipe'],
        },
      );
      if (fifoFd !== null) closeSync(fifoFd);
      const log = reader ?? child.stderr!;
      let out = '';
      const onData = (d: Buffer | string) => {
        out += d.toString();
      };
      log.on('data', onData);
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      try {
        await waitFor(
          () => /tsgi: ready/.test(out) && /listening on http:\/\/(\S+)/.test(out),
          15_000,
          'ready',
        );
        const url = `http://${/listening on http:\/\/(\S+)/.exec(out)![1]}`;
        log.off('data', onData);
        log.pause();
        const pad = 'p'.repeat(4000);
        // Keep-alive requests (fetch): fast enough that a batch is being written when the pipe fills.
        for (let i = 0; i < 300; i++) {
          const r = await fetch(`${url}/ok`, { headers: { 'X-Pad': pad } });
          await r.arrayBuffer();
          assert.equal(r.status, 200);
        }
        child.kill('SIGTERM');
        const code = await Promise.race([
          exited,
          new Promise<'stuck'>((r) => setTimeout(() => r('stuck'), 15_000)),
        ]);
        assert.equal(code, 0, 'exited 0 within 15 s although its stderr is full');
      } finally {
        log.destroy();
        if (child.exitCode === null) child.kill('SIGKILL');
        dir.cleanup();
      }
    });

  test('a reload: new log-format, stats moved, prometheus added; reloads, generation and reload respawns counted', async () => {
    const dir = tempDir();
    try {
      const ini = join(dir.path, 'app.ini');
      const sock = join(dir.path, 'stats.sock');
      const common = `[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = ${APP}\nprocesses = 2\n`;
      writeFileSync(ini, `${common}stats = 127.0.0.1:0\nlog-format = ONE %(uri)\n`);
      const tsgi = await startTsgi(['--ini', ini]);
      try {
        const url = tsgi.url();
        const firstStats = await statsAddr(tsgi);
        await fetchRaw(`${url}/a`);
        await tsgi.waitForLine(/^ONE \/a$/m);
        writeFileSync(
          ini,
          `${common}stats = ${sock}\nprometheus = 127.0.0.1:0\nlog-format = TWO %(uri) %(status)\n`,
        );
        tsgi.signal('SIGHUP');
        await tsgi.waitForLine(/reload done/);
        const metrics = await metricsUrl(tsgi);
        await fetchRaw(`${url}/b`);
        await tsgi.waitForLine(/^TWO \/b 200$/m);
        const m = await scrapeUntil(
          metrics,
          (x) => v(x, 'tsgi_worker_respawns_total', { reason: 'reload' }) === 2,
          'both old workers counted',
        );
        assert.equal(v(m, 'tsgi_reloads_total', { result: 'ok' }), 1);
        assert.equal(v(m, 'tsgi_config_generation'), 2);
        assert.equal(v(m, 'tsgi_worker_respawns_total', { reason: 'crash' }), 0);
        const doc = await stats(sock);
        assert.equal((doc.tsgi as Record<string, number>).generation, 2);
        await assert.rejects(stats(firstStats), 'the old stats address is closed');
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('prometheus on a unix socket', async () => {
    const dir = tempDir();
    try {
      const sock = `${dir.path}/metrics.sock`;
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--prometheus',
        sock,
      ]);
      try {
        await tsgi.waitForLine(/tsgi: metrics on unix:/);
        const text = await new Promise<string>((resolve, reject) => {
          const s = connect(sock);
          let d = '';
          s.on('data', (c) => {
            d += c.toString();
          });
          s.on('end', () => resolve(d));
          s.on('error', reject);
          s.write('GET /metrics HTTP/1.0\r\n\r\n');
        });
        assert.match(text, /^HTTP\/1\.1 200 OK/);
        assert.match(text, /\ntsgi_requests_in_flight 0\n/);
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('a bad prometheus address is a config error naming the option', async () => {
    const tsgi = new TsgiProcess([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--prometheus',
      'host:notaport',
    ]);
    assert.equal(await tsgi.wait(10_000), 1);
    assert.match(tsgi.output, /option 'prometheus': port must be a number/);
  });

  test('harakiri: 504, tsgi_harakiri_total, respawns{reason="harakiri"} and the stats harakiri_count', async () => {
    const tsgi = await startTsgi(base(['--harakiri', '1']));
    try {
      const metrics = await metricsUrl(tsgi);
      const r = await fetchRaw(`${tsgi.url()}/sleep?5`);
      assert.equal(r.status, 504);
      const m = await scrapeUntil(
        metrics,
        (x) =>
          v(x, 'tsgi_harakiri_total') === 1 &&
          v(x, 'tsgi_worker_respawns_total', { reason: 'harakiri' }) === 1,
        'harakiri and its respawn counted (the respawn follows the kill)',
      );
      assert.equal(v(m, 'tsgi_worker_respawns_total', { reason: 'harakiri' }), 1);
      assert.equal(v(m, 'tsgi_requests_total', { proto: 'http', code: '5xx' }), 1);
      const doc = await stats(await statsAddr(tsgi));
      assert.equal((doc.workers as Workers)[0]!.harakiri_count, 1);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
