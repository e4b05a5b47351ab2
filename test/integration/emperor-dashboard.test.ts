import assert from 'node:assert/strict';
import { utimesSync } from 'node:fs';
import { type ClientRequest, request } from 'node:http';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { demoVassal, withDashboard } from '../helpers/dashboard.js';
import { FIXTURES, fetchRaw, waitFor } from '../helpers/tsgi.js';

interface Row {
  name: string;
  state: string;
  pid: number;
  busy: number;
  idle: number;
  rps: number;
  respawns: number;
  lastExit: string | null;
  listeners: Array<{ proto: string; address: string }>;
}

const three = (dir: string) => {
  for (const n of ['a', 'b', 'c']) demoVassal(dir, `${n}.ini`);
};

/** Read server-sent events from `url` until `until(name, data)` is true; returns every event seen. */
function readEvents(
  url: string,
  headers: Record<string, string>,
  until: (name: string, data: unknown) => boolean,
  timeoutMs = 20_000,
): Promise<Array<{ name: string; data: unknown }>> {
  return new Promise((resolve, reject) => {
    const seen: Array<{ name: string; data: unknown }> = [];
    const req = request(url, { headers, agent: false }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`events: HTTP ${res.statusCode}`));
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let end = buf.indexOf('\n\n');
        while (end >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          end = buf.indexOf('\n\n');
          const name = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!name || data === undefined) continue;
          const ev = { name, data: JSON.parse(data) as unknown };
          seen.push(ev);
          if (until(ev.name, ev.data)) {
            req.destroy();
            resolve(seen);
            return;
          }
        }
      });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no matching event within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The status of an event stream's response; the stream is closed at once. */
function streamStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const r = request(url, { headers, agent: false }, (res) => {
      resolve(res.statusCode ?? 0);
      r.destroy();
    });
    r.on('error', reject);
    r.end();
  });
}

describe('emperor dashboard: HTTP API', () => {
  test('token, login cookie, CSRF, endpoints, bad input, actions logged with who', async () => {
    await withDashboard(three, ['--emperor-throttle', '60000'], async (d) => {
      assert.match(d.base, /^http:\/\/127\.0\.0\.1:\d+$/, ':port binds loopback only');
      assert.match(d.token, /^[\w-]{43}$/, 'a generated token is logged');
      for (const n of ['a.ini', 'b.ini', 'c.ini']) await d.emperor.waitLoyal(n);

      // --- access control
      const page = await d.call('/', { auth: false });
      assert.equal(page.status, 303);
      assert.equal(page.headers.location, '/login');
      const anon = await d.call('/api/vassals', { auth: false });
      assert.equal(anon.status, 401);
      assert.match(String(anon.headers['www-authenticate']), /^Bearer/);
      const wrong = await d.call('/api/vassals', { auth: false, headers: { authorization: 'Bearer nope' } });
      assert.equal(wrong.status, 401);
      const login = await d.call('/login', { auth: false });
      assert.equal(login.status, 200);
      assert.match(String(login.headers['content-security-policy']), /default-src 'none'/);
      const asset = await d.call('/assets/app.js', { auth: false });
      assert.equal(asset.status, 200);
      assert.match(String(asset.headers['content-type']), /javascript/);
      assert.equal((await d.call('/assets/nope.js', { auth: false })).status, 404);
      assert.equal((await d.call('/assets/login.html', { auth: false })).status, 404);

      const bad = await d.call('/login', {
        auth: false,
        method: 'POST',
        body: 'token=nope&name=eve',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(bad.status, 401);
      assert.equal(bad.headers['set-cookie'], undefined);
      const ok = await d.call('/login', {
        auth: false,
        method: 'POST',
        body: new URLSearchParams({ token: d.token, name: 'alice' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      assert.equal(ok.status, 303);
      const setCookie = String(ok.headers['set-cookie']);
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Strict/);
      const cookie = setCookie.split(';')[0]!;
      const session = JSON.parse(
        (await d.call('/api/session', { auth: false, headers: { cookie } })).text,
      ) as { who: string; csrf: string };
      assert.match(session.who, /^alice \(session/);
      assert.equal((await d.call('/', { auth: false, headers: { cookie } })).status, 200);

      // --- the table
      const rows = JSON.parse((await d.call('/api/vassals')).text) as Row[];
      assert.deepEqual(
        rows.map((r) => [r.name, r.state]),
        [
          ['a.ini', 'loyal'],
          ['b.ini', 'loyal'],
          ['c.ini', 'loyal'],
        ],
      );
      const a = rows[0]!;
      assert.equal(a.pid, d.emperor.loyal('a.ini').pid);
      assert.equal(a.listeners[0]!.proto, 'http');
      // traffic shows up as requests per second once sampled (every 5 s)
      for (let i = 0; i < 20; i++)
        assert.equal((await fetchRaw(`http://${a.listeners[0]!.address}/`)).status, 200);
      let lastRows = '';
      await waitFor(
        async () => {
          lastRows = (await d.call('/api/vassals')).text;
          const r = JSON.parse(lastRows) as Row[];
          return r[0]!.rps > 0 && r[0]!.idle === 2;
        },
        15_000,
        'a.ini requests per second in the table',
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${lastRows}`);
      });

      // --- the vassal page
      const detail = JSON.parse((await d.call('/api/vassals/a.ini')).text) as {
        row: Row;
        points: Array<{ rps: number }>;
      };
      assert.equal(detail.row.name, 'a.ini');
      assert.ok(
        detail.points.some((p) => p.rps > 0),
        'a chart point carries the traffic',
      );
      const config = JSON.parse((await d.call('/api/vassals/a.ini/config')).text) as { text: string };
      assert.match(config.text, /^\n;uWSGI instance configuration\n\[uwsgi\]\n/);
      assert.match(config.text, /^processes = 2$/m);
      assert.match(config.text, /^env = DB_PASSWORD=\(hidden\)$/m);
      assert.ok(!config.text.includes('hunter2'), 'secrets are not shown');
      const workers = JSON.parse((await d.call('/api/vassals/a.ini/workers')).text) as Array<{ pid: number }>;
      assert.equal(workers.length, 2);
      const log = JSON.parse((await d.call('/api/vassals/a.ini/log')).text) as Array<{
        n: number;
        text: string;
      }>;
      assert.ok(
        log.some((l) => /ready \(pid \d+, 2 worker/.test(l.text)),
        'the vassal log tail',
      );
      const later = JSON.parse(
        (await d.call(`/api/vassals/a.ini/log?after=${log.at(-1)!.n}`)).text,
      ) as unknown[];
      assert.equal(later.length, 0);

      // --- bad input
      assert.equal((await d.call('/api/vassals/zzz')).status, 404);
      assert.equal((await d.call('/api/vassals/zzz/log')).status, 404);
      assert.equal((await d.call('/api/vassals/zzz/reload', { method: 'POST' })).status, 404);
      assert.equal((await d.call('/api/events?vassal=zzz')).status, 404);
      assert.equal((await d.call('/api/vassals/a.ini/explode', { method: 'POST' })).status, 404);
      assert.equal((await d.call('/api/nothing')).status, 404);
      assert.equal((await d.call('/api/vassals/%E0%A4%A')).status, 400);
      const get = await d.call('/api/vassals/a.ini/reload');
      assert.equal(get.status, 405);
      assert.equal(get.headers.allow, 'POST');
      assert.equal((await d.call('/api/vassals', { method: 'DELETE' })).status, 405);
      assert.equal((await d.call('/api/vassals/a.ini', { method: 'POST' })).status, 405);
      assert.equal((await d.call('/api/blacklist/clear')).status, 405);
      const big = await d.call('/api/vassals/a.ini/reload', { method: 'POST', body: 'x'.repeat(10_000) });
      assert.equal(big.status, 413);
      assert.equal(
        (await d.call('/login', { auth: false, method: 'POST', body: 'x'.repeat(5000) })).status,
        413,
      );
      assert.equal((await d.call('/api/vassals/a.ini/unblacklist', { method: 'POST' })).status, 409);

      // --- CSRF: a cookie session needs the header; a foreign Origin is refused
      const noCsrf = await d.call('/api/vassals/a.ini/reload', {
        auth: false,
        method: 'POST',
        headers: { cookie },
      });
      assert.equal(noCsrf.status, 403);
      const badCsrf = await d.call('/api/vassals/a.ini/reload', {
        auth: false,
        method: 'POST',
        headers: { cookie, 'x-csrf-token': 'guess' },
      });
      assert.equal(badCsrf.status, 403);
      const foreign = await d.call('/api/vassals/a.ini/reload', {
        auth: false,
        method: 'POST',
        headers: { cookie, 'x-csrf-token': session.csrf, origin: 'http://evil.example' },
      });
      assert.equal(foreign.status, 403);
      assert.equal(d.emperor.count(/asked for/), 0, 'no refused request acted');

      // --- actions, each logged with who asked
      const csrfOk = { cookie, 'x-csrf-token': session.csrf, origin: d.base };
      const reload = await d.call('/api/vassals/a.ini/reload', {
        auth: false,
        method: 'POST',
        headers: csrfOk,
      });
      assert.equal(reload.status, 202, reload.text);
      await d.emperor.waitForLine(
        /alice \(session \S+ from 127\.0\.0\.1\) asked for a graceful reload of vassal a\.ini/,
      );
      await d.emperor.waitForLine(/vassal a\.ini reloaded/);
      await waitFor(
        async () => {
          const ws = JSON.parse((await d.call('/api/vassals/a.ini/workers')).text) as Array<{ pid: number }>;
          return ws.length === 2 && ws.every((w) => !workers.some((o) => o.pid === w.pid));
        },
        15_000,
        'new workers after the reload',
      );

      assert.equal((await d.call('/api/vassals/b.ini/chain-reload', { method: 'POST' })).status, 202);
      await d.emperor.waitForLine(/bearer token from 127\.0\.0\.1 asked for a chain reload of vassal b\.ini/);
      await d.emperor.waitForLine(/chain reload done/);

      const oldC = d.emperor.loyal('c.ini').pid;
      assert.equal((await d.call('/api/vassals/c.ini/stop', { method: 'POST' })).status, 202);
      await d.emperor.waitForLine(/vassal c\.ini stopped .*; it stays stopped until started/);
      const stopped = (JSON.parse((await d.call('/api/vassals')).text) as Row[])[2]!;
      assert.equal(stopped.state, 'stopped');
      assert.equal(stopped.pid, 0);
      assert.equal((await d.call('/api/vassals/c.ini/stop', { method: 'POST' })).status, 409);
      assert.equal((await d.call('/api/vassals/c.ini/reload', { method: 'POST' })).status, 409);
      assert.equal((await d.call('/api/vassals/c.ini/config')).status, 409);
      // a stopped vassal stays stopped when its file changes
      const t = new Date(Date.now() + 5000);
      utimesSync(join(d.dir, 'c.ini'), t, t);
      assert.equal((await d.call('/api/vassals/c.ini/start', { method: 'POST' })).status, 202);
      const c = await d.emperor.waitLoyal('c.ini', 2);
      assert.notEqual(c.pid, oldC, 'start runs a new process');

      // --- logout ends the session
      assert.equal((await d.call('/logout', { auth: false, method: 'POST', headers: csrfOk })).status, 303);
      assert.equal((await d.call('/api/session', { auth: false, headers: { cookie } })).status, 401);
    });
  });

  test('server-sent events: a touched vassal file arrives as a state change', async () => {
    await withDashboard(
      (dir) => demoVassal(dir, 'a.ini'),
      ['--emperor-dashboard-token', 'fixed-token-1', '--emperor-dashboard-secrets'],
      async (d) => {
        assert.equal(d.token, 'fixed-token-1');
        assert.doesNotMatch(d.emperor.output, /fixed-token-1/, 'a token given by option is not logged');
        await d.emperor.waitLoyal('a.ini');
        const shown = JSON.parse((await d.call('/api/vassals/a.ini/config')).text) as {
          text: string;
          secretsShown: boolean;
        };
        assert.ok(shown.secretsShown);
        assert.match(shown.text, /^env = DB_PASSWORD=hunter2$/m, 'emperor-dashboard-secrets shows them');
        const headers = { authorization: `Bearer ${d.token}` };
        const first = await readEvents(`${d.base}/api/events`, headers, (n) => n === 'rows');
        assert.equal((first[0]!.data as Row[])[0]!.state, 'loyal');
        const touched = readEvents(`${d.base}/api/events?vassal=a.ini`, headers, (n, data) => {
          return n === 'rows' && (data as Row[])[0]!.state === 'reloading';
        });
        await new Promise((r) => setTimeout(r, 300));
        const t = new Date(Date.now() + 5000);
        utimesSync(join(d.dir, 'a.ini'), t, t);
        const seen = await touched;
        assert.ok(seen.some((e) => e.name === 'rows'));
        // the log tail of that vassal is live on the same stream
        const logs = readEvents(
          `${d.base}/api/events?vassal=a.ini`,
          headers,
          (n, data) => n === 'log' && /reload done/.test((data as { text: string }).text),
        );
        await new Promise((r) => setTimeout(r, 300));
        assert.equal((await d.call('/api/vassals/a.ini/reload', { method: 'POST' })).status, 202);
        assert.ok((await logs).some((e) => e.name === 'log'));
        const unauth = await fetchRaw(`${d.base}/api/events`);
        assert.equal(unauth.status, 401);

        // a bounded number of open streams: past it, 503 (and the others keep going)
        const open: ClientRequest[] = [];
        try {
          for (let i = 0; i < 64; i++)
            open.push(
              await new Promise<ClientRequest>((resolve, reject) => {
                const r = request(`${d.base}/api/events`, { headers, agent: false }, (res) => {
                  assert.equal(res.statusCode, 200);
                  res.resume();
                  resolve(r);
                });
                r.on('error', reject);
                r.end();
              }),
            );
          assert.equal((await d.call('/api/events')).status, 503);
          assert.equal((await d.call('/api/vassals')).status, 200);
        } finally {
          for (const r of open) r.destroy();
        }
        await waitFor(
          async () => (await streamStatus(`${d.base}/api/events`, headers)) === 200,
          5000,
          'streams freed',
        );
      },
    );
  });

  test('a blacklisted vassal shows its time left; unblacklist and clear are logged', async () => {
    await withDashboard(
      (dir) =>
        demoVassal(dir, 'bad.ini', { 'wsgi-file': join(FIXTURES, 'apps', 'broken.py'), 'need-app': 'true' }),
      ['--emperor-throttle', '60000'],
      async (d) => {
        await d.emperor.waitForLine(/vassal bad\.ini exited before becoming loyal.*blacklisted/);
        const row = (
          JSON.parse((await d.call('/api/vassals')).text) as Array<Row & { blacklistLeftMs: number }>
        )[0]!;
        assert.equal(row.state, 'blacklisted');
        assert.ok(row.blacklistLeftMs > 30_000 && row.blacklistLeftMs <= 60_000, String(row.blacklistLeftMs));
        assert.ok(row.lastExit, 'the last exit reason');
        assert.equal((await d.call('/api/vassals/bad.ini/unblacklist', { method: 'POST' })).status, 202);
        await d.emperor.waitForLine(/asked for the end of the blacklisting of vassal bad\.ini/);
        await d.emperor.waitForLine(/vassal bad\.ini exited before becoming loyal/, 20_000, 2);
        assert.equal((await d.call('/api/blacklist/clear', { method: 'POST' })).status, 202);
        await d.emperor.waitForLine(/bearer token from 127\.0\.0\.1 asked to clear the blacklist/);
      },
    );
  });
});
