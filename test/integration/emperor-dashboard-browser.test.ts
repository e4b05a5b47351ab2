import assert from 'node:assert/strict';
import { existsSync, mkdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { demoVassal, withDashboard } from '../helpers/dashboard.js';
import { ROOT, requireTool, waitFor } from '../helpers/tsgi.js';

/** Debian's Chromium, driven by playwright-core (no downloaded browser). */
const CHROMIUM = '/usr/bin/chromium';
/** Where the overview screenshot is saved (kept after the run). */
const ARTIFACTS = process.env.TSGI_TEST_ARTIFACTS ?? join(ROOT, '.tmp', 'artifacts');
/** First-load budget of the page (HTML, CSS, JS, icon), bytes, uncompressed. */
const PAGE_BUDGET = 40 * 1024;

/** The demo vassals of `vassals/` (their apps; listeners on free ports, no subscription). */
const DEMOS = ['hello', 'notes', 'sysinfo'];

const skip = requireTool(() => existsSync(CHROMIUM), 'chromium (/usr/bin/chromium)');

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu'],
    timeout: 60_000,
  });
}

/** The text of cell `col` in the overview row of vassal `name`. */
const cell = (page: Page, name: string, col: string) =>
  page.locator(`#vassals tr[data-vassal="${name}"] td[data-col="${col}"]`);

test('emperor dashboard in a real browser: log in, watch, act', { skip, timeout: 180_000 }, async () => {
  await withDashboard(
    (dir) => {
      // the repo's demo apps, on ports of their own
      for (const n of DEMOS)
        demoVassal(dir, `${n}.ini`, { 'wsgi-file': join(ROOT, 'vassals', 'apps', `${n}.py`) });
    },
    [],
    async (d) => {
      for (const n of DEMOS) await d.emperor.waitLoyal(`${n}.ini`);
      const browser = await launch();
      try {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        const external: string[] = [];
        let bytes = 0;
        page.on('request', (r) => {
          if (!r.url().startsWith(d.base)) external.push(r.url());
        });
        page.on('response', async (r) => {
          if (r.url().startsWith(`${d.base}/assets/`) || r.url() === `${d.base}/`)
            bytes += (await r.body().catch(() => Buffer.alloc(0))).length;
        });
        const errors: string[] = [];
        page.on('pageerror', (e) => errors.push(e.message));

        // log in with the token
        await page.goto(`${d.base}/`);
        assert.equal(new URL(page.url()).pathname, '/login');
        await page.fill('input[name=token]', 'not the token');
        await page.click('button[type=submit]');
        await page.waitForSelector('.error');
        await page.fill('input[name=token]', d.token);
        await page.fill('input[name=name]', 'browser-op');
        bytes = 0;
        await page.click('button[type=submit]');
        await page.waitForURL(`${d.base}/`);
        const cookies = await context.cookies();
        const session = cookies.find((c) => c.name === 'tsgi_dashboard')!;
        assert.ok(session.httpOnly);
        assert.equal(session.sameSite, 'Strict');

        // three demo vassals, loyal
        for (const n of DEMOS) await cell(page, `${n}.ini`, 'state').filter({ hasText: 'loyal' }).waitFor();
        assert.equal(await page.locator('#vassals tbody tr').count(), 3);
        await page.waitForSelector('#conn.live');
        assert.ok(bytes > 0 && bytes <= PAGE_BUDGET, `first load ${bytes} bytes (budget ${PAGE_BUDGET})`);
        mkdirSync(ARTIFACTS, { recursive: true });
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-overview.png'), fullPage: true });

        // a touched vassal file arrives live (no page reload)
        await page.evaluate('window.marker = 42');
        // record every text the state cell of notes.ini shows (the same cell, updated in place)
        await page.evaluate(`(() => {
          const td = document.querySelector('#vassals tr[data-vassal="notes.ini"] td[data-col="state"]');
          window.seen = [td.textContent];
          new MutationObserver(() => window.seen.push(td.textContent)).observe(td, { childList: true, characterData: true, subtree: true });
        })()`);
        const t = new Date(Date.now() + 5000);
        utimesSync(join(d.dir, 'notes.ini'), t, t);
        await cell(page, 'notes.ini', 'respawns').filter({ hasText: /^1$/ }).waitFor({ timeout: 20_000 });
        assert.equal(await page.evaluate('window.marker'), 42, 'no page reload');
        await cell(page, 'notes.ini', 'state').filter({ hasText: 'loyal' }).waitFor();
        const seen = (await page.evaluate('window.seen')) as string[];
        assert.equal(seen[0], 'loyal');
        assert.ok(seen.includes('reloading'), `the state cell went through reloading: ${seen.join(', ')}`);

        // filter and sort
        await page.fill('#filter', 'sys');
        await waitFor(
          async () => (await page.locator('#vassals tbody tr').count()) === 1,
          5000,
          'filtered rows',
        );
        await page.fill('#filter', '');
        await page.click('#vassals th[data-key="name"] button');
        assert.equal(
          await page.locator('#vassals tbody tr').first().getAttribute('data-vassal'),
          'sysinfo.ini',
        );

        // refused without the CSRF value (same cookie), and without the token (no cookie)
        const noCsrf = await page.evaluate(async () => {
          const r = await fetch('/api/vassals/hello.ini/reload', { method: 'POST' });
          return r.status;
        });
        assert.equal(noCsrf, 403);
        const anon = await browser.newContext();
        const anonPage = await anon.newPage();
        await anonPage.goto(`${d.base}/login`);
        const noToken = await anonPage.evaluate(async () => {
          const r = await fetch('/api/vassals/hello.ini/reload', { method: 'POST' });
          return r.status;
        });
        assert.equal(noToken, 401);
        await anon.close();
        assert.equal(d.emperor.count(/asked for/), 0, 'nothing was done for the refused requests');

        // the vassal page: config without secrets, workers, log tail; reload from the page
        await page.click('#vassals a[href="#/vassal/hello.ini"]');
        await page.waitForSelector('#vassal:not([hidden])');
        await page.locator('#config').filter({ hasText: 'processes = 2' }).waitFor();
        const config = await page.locator('#config').textContent();
        assert.match(config!, /env = DB_PASSWORD=\(hidden\)/);
        assert.ok(!config!.includes('hunter2'));
        await page
          .locator('#log')
          .filter({ hasText: /ready \(pid \d+/ })
          .waitFor();
        await waitFor(
          async () => (await page.locator('#workers tbody tr').count()) === 2,
          10_000,
          'worker rows',
        );
        const pidsBefore = await page.locator('#workers tbody tr td:nth-child(2)').allTextContents();

        await page.click('#v-actions button[data-action="reload"]');
        await page.waitForSelector('#confirm[open]');
        await page.click('#confirm-ok');
        await d.emperor.waitForLine(
          /browser-op \(session \S+ from 127\.0\.0\.1\) asked for a graceful reload of vassal hello\.ini/,
        );
        await page
          .locator('#log')
          .filter({ hasText: /reload done/ })
          .waitFor({ timeout: 20_000 });
        await waitFor(
          async () => {
            const now = await page.locator('#workers tbody tr td:nth-child(2)').allTextContents();
            return now.length === 2 && now.every((p) => !pidsBefore.includes(p));
          },
          20_000,
          'new worker pids on the page',
        );

        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-vassal.png'), fullPage: true });

        // stop and start from the page: the vassal gets a new master pid
        const pidBefore = d.emperor.loyal('hello.ini').pid;
        await page.click('#v-actions button[data-action="stop"]');
        await page.click('#confirm-ok');
        await page.locator('#v-summary dd.state-stopped').waitFor({ timeout: 30_000 });
        await page.click('#v-actions button[data-action="start"]');
        await page.click('#confirm-ok');
        await page.locator('#v-summary dd.state-loyal').waitFor({ timeout: 30_000 });
        const pidAfter = Number(await page.locator('#v-summary').getAttribute('data-pid'));
        assert.ok(pidAfter > 0 && pidAfter !== pidBefore, `new pid ${pidAfter} (was ${pidBefore})`);
        assert.equal(pidAfter, d.emperor.loyal('hello.ini').pid);

        // cancel asks and does nothing
        const asked = d.emperor.count(/asked for/);
        await page.click('#v-actions button[data-action="reload"]');
        await page.click('#confirm button[value=cancel]');
        assert.equal(d.emperor.count(/asked for/), asked);

        // phone width: no sideways scrolling of the page; dark mode is dark
        await page.setViewportSize({ width: 375, height: 700 });
        await page.goto(`${d.base}/#/`);
        await cell(page, 'hello.ini', 'state').waitFor();
        const overflow = (await page.evaluate(
          'document.documentElement.scrollWidth - window.innerWidth',
        )) as number;
        assert.ok(overflow <= 0, `page wider than the phone by ${overflow}px`);
        await page.emulateMedia({ colorScheme: 'dark' });
        const bg = (await page.evaluate('getComputedStyle(document.body).backgroundColor')) as string;
        const [r, g, b] = (bg.match(/\d+/g) ?? []).map(Number);
        assert.ok(r! + g! + b! < 150, `dark background, got ${bg}`);
        await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone-dark.png') });

        // keyboard: Tab reaches the filter, then the sort buttons
        await page.emulateMedia({ colorScheme: 'light' });
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.locator('body').focus();
        let reached = false;
        for (let i = 0; i < 10 && !reached; i++) {
          await page.keyboard.press('Tab');
          reached = (await page.evaluate("document.activeElement?.id === 'filter'")) as boolean;
        }
        assert.ok(reached, 'the filter is reachable by keyboard');

        assert.deepEqual(external, [], 'no third-party requests');
        assert.deepEqual(errors, [], 'no script errors');
      } finally {
        await browser.close();
      }
    },
  );
});
