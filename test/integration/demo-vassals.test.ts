import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmperorProcess, freePort } from '../helpers/emperor.js';
import { fetchRaw, ROOT, tempDir } from '../helpers/tsgi.js';

/**
 * The repo's demo vassals (what `npm start` runs), copied with their fixed ports replaced by free
 * ones: every vassal becomes loyal, answers on its own address, and the front routes to each by Host.
 */
test('the demo vassals: each answers, and the front routes to each by Host', {
  timeout: 90_000,
}, async () => {
  const dir = tempDir();
  const vassals = join(dir.path, 'vassals');
  cpSync(join(ROOT, 'vassals'), vassals, { recursive: true });
  const fixed = new Set<string>();
  const inis = readdirSync(vassals).filter((f) => f.endsWith('.ini'));
  for (const f of inis)
    for (const m of readFileSync(join(vassals, f), 'utf8').matchAll(/127\.0\.0\.1:([1-9]\d+)/g))
      fixed.add(m[1]!);
  const ports = new Map<string, string>();
  for (const p of fixed) ports.set(p, String(await freePort()));
  const rewrite = (text: string) =>
    text.replace(/(127\.0\.0\.1|localhost):([1-9]\d+)/g, (_, h, p) => `${h}:${ports.get(p) ?? p}`);
  for (const f of inis) writeFileSync(join(vassals, f), rewrite(readFileSync(join(vassals, f), 'utf8')));
  const emperor = new EmperorProcess([vassals], { bin: 'tsgi-emperor' });
  try {
    assert.ok(inis.includes('front.ini'), 'a front vassal is among the demos');
    const urls = new Map<string, string>();
    for (const f of inis) urls.set(f, (await emperor.waitLoyal(f, 1, 60_000)).url);
    for (const [f, url] of urls) {
      const r = await fetchRaw(`${url}/`);
      if (f === 'front.ini') assert.equal(r.status, 502, 'the front has no app of its own');
      else assert.equal(r.status, 200, `${f} answers on ${url}`);
    }
    const front = urls.get('front.ini')!;
    const frontPort = new URL(front).port;
    const subscribed = inis.filter((f) => /^subscribe-to\s*=/m.test(readFileSync(join(vassals, f), 'utf8')));
    assert.ok(subscribed.length >= 3, 'the demo apps subscribe to the front');
    for (const f of subscribed) {
      const host = `${f.replace(/\.ini$/, '')}.localhost:${frontPort}`;
      const direct = await fetchRaw(`${urls.get(f)}/`);
      // Subscriptions arrive a moment after the vassal is loyal: retry briefly.
      let routed = await fetchRaw(`${front}/`, { headers: { Host: host } });
      for (let i = 0; i < 50 && routed.status === 502; i++) {
        await new Promise((r) => setTimeout(r, 200));
        routed = await fetchRaw(`${front}/`, { headers: { Host: host } });
      }
      assert.equal(routed.status, 200, `${host} through the front`);
      assert.equal(
        routed.headers['content-type'],
        direct.headers['content-type'],
        `${f}: the same app answers`,
      );
    }
  } finally {
    const code = await emperor.stop();
    assert.equal(code, 0);
    dir.cleanup();
  }
});
