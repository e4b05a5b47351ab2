import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite, test } from 'node:test';
import { freePort } from '../../helpers/peers.js';
import { hasUwsgi, type RawReply, rawRequest, startUwsgi } from '../../helpers/router.js';
import { FIXTURES, requireTool, startTsgi } from '../../helpers/tsgi.js';

/**
 * The router's differential corpus: each `test/fixtures/router/corpus/*.ini` is a uWSGI rule set with
 * the requests to try in `; request:` comments. The same ini runs under real uWSGI (Debian's
 * uwsgi-core with its router plugins, the python3 plugin and an echo app) and under tsgi; every
 * request must get the same status, the same headers (the app echoes what routing left in its
 * environ as X-* headers, so rewrites and vars are compared too; Date, lengths, connection headers
 * and tsgi's static-file validators are left out) and the same body. `; departure:` lines are
 * requests where tsgi knowingly differs (docs/compat.md): both answers are checked as stated.
 *
 * Request syntax: `METHOD TARGET | Header: value | ...`; departures add `=> TSGI_STATUS / UWSGI_STATUS`
 * (`empty` for a connection closed without an answer).
 */

const CORPUS = join(FIXTURES, 'router', 'corpus');
const APP = join(FIXTURES, 'apps', 'route_echo.py');
/** Headers that describe the transfer, not the routing. */
const IGNORED = new Set([
  'date',
  'content-length',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'etag',
  'accept-ranges',
]);

interface Req {
  readonly method: string;
  readonly target: string;
  readonly headers: Array<[string, string]>;
  readonly text: string;
}

interface Departure extends Req {
  readonly tsgi: number | 'empty';
  readonly uwsgi: number | 'empty';
}

function parseRequest(text: string): Req {
  const [line = '', ...hs] = text.split('|').map((s) => s.trim());
  const [method = 'GET', target = '/'] = line.split(/\s+/);
  const headers = hs.map((h) => {
    const c = h.indexOf(':');
    return [h.slice(0, c).trim(), h.slice(c + 1).trim()] as [string, string];
  });
  return { method, target, headers, text };
}

function parseCase(file: string): { requests: Req[]; departures: Departure[] } {
  const requests: Req[] = [];
  const departures: Departure[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const r = /^;\s*request:\s*(.+)$/.exec(line);
    if (r) requests.push(parseRequest(r[1]!));
    const d = /^;\s*departure:\s*(.+?)\s*=>\s*(\S+)\s*\/\s*(\S+)\s*$/.exec(line);
    if (d) {
      const status = (s: string) => (s === 'empty' ? 'empty' : Number(s));
      departures.push({ ...parseRequest(d[1]!), tsgi: status(d[2]!), uwsgi: status(d[3]!) });
    }
  }
  return { requests, departures };
}

/** What is compared: status, routing-relevant headers (sorted, own port normalised), body. */
function view(r: RawReply, port: number): { status: number | 'empty'; headers: string[]; body: string } {
  const norm = (s: string) => s.split(`:${port}`).join(':PORT');
  return {
    status: r.status,
    headers: r.headers
      .filter(([n]) => !IGNORED.has(n))
      .map(([n, v]) => `${n}: ${norm(v)}`)
      .sort(),
    body: norm(r.body.toString('latin1')),
  };
}

const skip = requireTool(hasUwsgi, 'uWSGI (uwsgi-core, uwsgi-plugin-python3)');
const cases = readdirSync(CORPUS)
  .filter((f) => f.endsWith('.ini'))
  .sort();

test('the corpus has at least 30 rule sets', () => {
  assert.ok(cases.length >= 30, `only ${cases.length} rule sets in ${CORPUS}`);
});

suite('router differential against uWSGI', { concurrency: 2 }, () => {
  for (const name of cases) {
    test(name, { skip, timeout: 90_000 }, async () => {
      const file = join(CORPUS, name);
      const { requests, departures } = parseCase(file);
      assert.ok(requests.length + departures.length > 0, `${name} has no request`);
      const uport = await freePort();
      const uw = await startUwsgi(
        ['--ini', file, '--http-socket', `127.0.0.1:${uport}`, '--wsgi-file', APP],
        uport,
        {
          cwd: CORPUS,
        },
      );
      let ts: Awaited<ReturnType<typeof startTsgi>> | null = null;
      try {
        ts = await startTsgi(['--ini', file, '--http-socket', '127.0.0.1:0', '--wsgi-file', APP], {
          cwd: CORPUS,
        });
        const tport = Number(new URL(ts.url()).port);
        for (const r of requests) {
          const u = view(await rawRequest(uport, r.method, r.target, r.headers), uport);
          const t = view(await rawRequest(tport, r.method, r.target, r.headers), tport);
          assert.deepEqual(t, u, `${name}: ${r.text}\n--- uWSGI output:\n${uw.output.slice(-2000)}`);
        }
        for (const d of departures) {
          const u = await rawRequest(uport, d.method, d.target, d.headers);
          const t = await rawRequest(tport, d.method, d.target, d.headers);
          assert.equal(u.status, d.uwsgi, `${name}: uWSGI on ${d.text}`);
          assert.equal(t.status, d.tsgi, `${name}: tsgi on ${d.text}`);
        }
      } finally {
        await uw.stop();
        await ts?.stop();
      }
    });
  }
});
