import assert from 'node:assert/strict';
import { readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  FIXTURES,
  fetchRaw,
  requireTool,
  startTsgi,
  TsgiProcess,
  tempDir,
  waitFor,
} from '../helpers/tsgi.js';
import { hasUwsgi, startUwsgiApp } from '../helpers/uwsgi-instance.js';

const APP = `${FIXTURES}/apps/observe.py`;

/** Send raw bytes to host:port, read until the server closes (`Connection: close`). */
function raw(hostPort: string, text: string | Buffer): Promise<string> {
  const [host, port] = hostPort.replace(/^http:\/\//, '').split(':');
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), host);
    let d = '';
    s.on('data', (c) => {
      d += c.toString('latin1');
    });
    s.on('end', () => resolve(d));
    s.on('error', reject);
    s.write(text);
  });
}

const REQUEST =
  'POST /echo?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: ua/1\r\nReferer: http://r/\r\n' +
  'X-Test: t1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';

/** The request lines (those starting with `prefix`) of a log. */
const lines = (out: string, prefix: RegExp) => out.split('\n').filter((l) => prefix.test(l));

/**
 * Everything in uWSGI's default line that depends on the process or the moment, blanked: pid, request
 * counters, the var count and size (tsgi's HTTP edge adds REMOTE_PORT, which uWSGI's does not), the
 * date and the time taken.
 */
const normalise = (l: string) =>
  l
    .replace(/\[pid: \d+\|app: \d+\|req: \d+\/\d+\]/, '[pid: P|app: 0|req: R]')
    .replace(/\{\d+ vars in \d+ bytes\}/, '{V vars in B bytes}')
    .replace(/\[\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\]/, '[DATE]')
    .replace(/in \d+ msecs/, 'in T msecs');

describe('request logging', () => {
  test("uWSGI's default line and log-format variables give uWSGI's text for the same request", {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin'),
  }, async () => {
    const fields = [
      'method uri proto status addr user host uagent referer rsize hsize size cl headers',
      'modifier1 modifier2 switches core werr rerr ioerr var.HTTP_X_TEST var.HTTP_MISSING nosuchlogvar',
    ]
      .join(' ')
      .split(' ');
    // The same format also exercises uWSGI's parser: `%%(uri)`, `%x(y)` and a trailing `%(`.
    const format = `${fields.map((f) => `%(${f})`).join('|')}|%%(uri)|%x(y)|end%(`;
    const timeFormat =
      '%(ltime)|%(ctime)|%(time)|%(epoch)|%(secs)|%(msecs)|%(micros)|%(tmsecs)|%(tmicros)|%(wid)';
    const { uwsgi, url: uwsgiUrl } = await startUwsgiApp(APP, ['--logformat', `F ${format}`]);
    const { uwsgi: uwsgiDefault, url: uwsgiDefaultUrl } = await startUwsgiApp(APP);
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--log-format',
      `F ${format}`,
    ]);
    const tsgiTime = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--log-format',
      `T ${timeFormat}`,
    ]);
    const tsgiDefault = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', APP]);
    try {
      for (const addr of [uwsgiUrl, tsgi.url(), tsgiTime.url(), uwsgiDefaultUrl, tsgiDefault.url()])
        assert.match(await raw(addr, REQUEST), /^HTTP\/1\.[01] 200 OK/);
      const theirs = (await uwsgi.waitForLine(/^F .*$/m))[0];
      const ours = (await tsgi.waitForLine(/^F .*$/m))[0];
      assert.equal(ours, theirs);
      assert.equal(
        ours,
        'F POST|/echo?q=1|HTTP/1.1|200|127.0.0.1|-|example.test|ua/1|http://r/|5|59|64|5|1|0|0|1|0|0|0|0|t1|-|-|%/echo?q=1|%x(y)|end%(',
      );
      // Time variables: uWSGI's shapes, and consistent with each other.
      const t = (await tsgiTime.waitForLine(/^T .*$/m))[0].slice(2).split('|');
      const [ltime, ctime, time, epoch, secs, msecs, micros, tmsecs, tmicros, wid] = t;
      assert.match(ltime!, /^\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}$/);
      assert.match(ctime!, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
      assert.ok(Math.abs(Number(epoch) - Number(time)) <= 2);
      assert.match(secs!, /^\d+\.\d{6}$/);
      assert.equal(Math.floor(Number(micros) / 1000), Number(msecs));
      assert.equal(Math.floor(Number(tmicros) / 1000), Number(tmsecs));
      assert.equal(Math.floor(Number(tmsecs) / 1000), Number(time));
      assert.equal(wid, '1');
      // The default line.
      const theirDefault = (await uwsgiDefault.waitForLine(/^\[pid: .*$/m))[0];
      const ourDefault = (await tsgiDefault.waitForLine(/^\[pid: .*$/m))[0];
      assert.equal(normalise(ourDefault), normalise(theirDefault));
      assert.match(ourDefault, /^\[pid: \d+\|app: 0\|req: 1\/1\] /);
    } finally {
      await uwsgi.stop();
      await uwsgiDefault.stop();
      for (const p of [tsgi, tsgiTime, tsgiDefault]) assert.equal(await p.stop(), 0);
    }
  });

  test("log-encoder json: one JSON object per line, worker output included; uWSGI's record for the same message", {
    skip: requireTool(hasUwsgi, 'uWSGI with the python3 plugin'),
  }, async () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
    const enc = 'json {"unix":${unix},"msg":"${msg}","t":"${strftime:%Y}"}';
    const format = 'F %(method) %(uri) "%(uagent)"';
    const { uwsgi, url: uwsgiUrl } = await startUwsgiApp(APP, [
      '--logformat',
      format,
      '--log-encoder',
      enc,
      '--log-encoder',
      'nl',
    ]);
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--log-format',
      format,
      '--log-encoder',
      enc,
    ]);
    try {
      const req =
        'GET /q?a="b\\ HTTP/1.1\r\nHost: h\r\nUser-Agent: say "hi"\\\tthere\r\nConnection: close\r\n\r\n';
      await raw(uwsgiUrl, req);
      // tsgi's own lines are JSON records too: read the address out of one.
      await raw(/listening on http:\/\/([\d.]+:\d+)/.exec(tsgi.output)![1]!, req);
      const theirs = (await uwsgi.waitForLine(/^\{"unix":\d+,"msg":"F .*$/m))[0];
      const ours = (await tsgi.waitForLine(/^\{"unix":\d+,"msg":"F .*$/m))[0];
      const strip = (s: string) => s.replace(/"unix":\d+/, '"unix":N');
      assert.equal(strip(ours), strip(theirs));
      assert.equal((JSON.parse(ours) as { msg: string }).msg, 'F GET /q?a="b\\ "say "hi"\\\tthere"');
      // Worker output goes through the master too: a traceback becomes JSON records, line by line.
      await raw(
        /listening on http:\/\/([\d.]+:\d+)/.exec(tsgi.output)![1]!,
        'GET /raise HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
      );
      await tsgi.waitForLine(/^\{"unix":\d+,"msg":"RuntimeError: raised on purpose by the observe app"/m);
      // Every line tsgi wrote from the config on is one JSON object (lifecycle lines included).
      const from = tsgi.output.indexOf('{"unix"');
      const all = tsgi.output.slice(from).trim().split('\n');
      assert.ok(all.length >= 5);
      for (const l of all) assert.doesNotThrow(() => JSON.parse(l), l);
      assert.ok(all.some((l) => (JSON.parse(l) as { msg: string }).msg.startsWith('tsgi: ready')));
    } finally {
      await uwsgi.stop();
      assert.equal(await tsgi.stop(), 0);
    }
  });

  test('log-x-forwarded-for, disable-logging with log-4xx/log-5xx/log-slow exceptions, bytes that are not UTF-8', async () => {
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--log-x-forwarded-for',
      '--disable-logging',
      '--log-4xx',
      '--log-5xx',
      '--log-slow',
      '300',
    ]);
    try {
      const url = tsgi.url();
      await fetchRaw(`${url}/ok`);
      await fetchRaw(`${url}/status/404`, { headers: { 'X-Forwarded-For': '203.0.113.9, 10.0.0.1' } });
      await fetchRaw(`${url}/raise`);
      await fetchRaw(`${url}/sleep?0.4`);
      await raw(
        url,
        Buffer.concat([
          Buffer.from(
            'GET /status/400 HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\xc3\xa9 \xff\r\nConnection: close\r\n\r\n',
            'latin1',
          ),
        ]),
      );
      await tsgi.waitForLine(/GET \/status\/400 /);
      const reqLines = lines(tsgi.output, /^\[pid: /);
      assert.deepEqual(
        reqLines.map((l) => / (GET \S+) /.exec(l)![1]),
        ['GET /status/404', 'GET /raise', 'GET /sleep?0.4', 'GET /status/400'],
        '/ok is not logged; the 4xx, 5xx and slow ones are',
      );
      assert.match(reqLines[0]!, /\] 203\.0\.113\.9, 10\.0\.0\.1 \(\) \{/, 'X-Forwarded-For as the address');
      // A format that shows the agent: UTF-8 bytes shown as characters, a stray 0xff as U+FFFD.
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
    const agent = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      APP,
      '--log-format',
      'UA %(uagent)',
    ]);
    try {
      await raw(
        agent.url(),
        Buffer.from(
          'GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: caf\xc3\xa9 \xff\r\nConnection: close\r\n\r\n',
          'latin1',
        ),
      );
      assert.equal((await agent.waitForLine(/^UA .*$/m))[0], 'UA café \ufffd');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  test('logto is reopened on SIGHUP (logrotate) and when a touch-logreopen file changes', async () => {
    const dir = tempDir();
    try {
      const log = join(dir.path, 'app.log');
      const trigger = join(dir.path, 'reopen.trigger');
      writeFileSync(trigger, '');
      const tsgi = new TsgiProcess([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        APP,
        '--logto',
        log,
        '--touch-logreopen',
        trigger,
      ]);
      try {
        await waitFor(() => /tsgi: ready/.test(safeRead(log)), 15_000, 'ready in the log file');
        const url = `http://${/listening on http:\/\/(\S+)/.exec(safeRead(log))![1]}`;
        await fetchRaw(`${url}/one`);
        await waitFor(() => safeRead(log).includes('GET /one'), 5000, 'first line');
        renameSync(log, `${log}.1`);
        tsgi.signal('SIGHUP');
        await waitFor(() => safeRead(log).includes('reopened (SIGHUP)'), 5000, 'reopened file');
        await waitFor(() => /reload done/.test(safeRead(log)), 15_000, 'reload done');
        await fetchRaw(`${url}/two`);
        await waitFor(() => safeRead(log).includes('GET /two'), 5000, 'second line in the new file');
        assert.ok(!safeRead(`${log}.1`).includes('GET /two'));
        assert.ok(safeRead(`${log}.1`).includes('GET /one'));
        renameSync(log, `${log}.2`);
        const later = new Date(Date.now() + 5000);
        utimesSync(trigger, later, later);
        await waitFor(() => safeRead(log).includes('reopened'), 5000, 'reopened after the touch');
        await fetchRaw(`${url}/three`);
        await waitFor(() => safeRead(log).includes('GET /three'), 5000, 'third line in the newest file');
        assert.ok(!safeRead(`${log}.2`).includes('GET /three'));
      } finally {
        assert.equal(await tsgi.stop(), 0);
      }
    } finally {
      dir.cleanup();
    }
  });

  test('bad logging options fail the start naming the option', async () => {
    for (const [args, re] of [
      [['--log-format', 'x %(metric.core.busy_workers)'], /option 'log-format'.*metric/],
      [['--log-encoder', 'gzip'], /option 'log-encoder'.*unknown log encoder 'gzip'/],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
      [['--log-encoder', 'json {"m":"${mesage}"}'], /option 'log-encoder'.*unknown variable \$\{mesage\}/],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
      [['--log-encoder', 'json:default {"m":"${msg}"}'], /option 'log-encoder'.*named logger 'default'/],
    ] as const) {
      const p = new TsgiProcess(['--http-socket', '127.0.0.1:0', '--wsgi-file', APP, ...args]);
      assert.equal(await p.wait(10_000), 1, args.join(' '));
      assert.match(p.output, re);
    }
  });
});

function safeRead(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
