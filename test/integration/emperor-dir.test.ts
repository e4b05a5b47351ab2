import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { descendants, EmperorProcess, readStats, writeVassal } from '../helpers/emperor.js';
import { alive, FIXTURES, fetchRaw, tempDir, waitFor } from '../helpers/tsgi.js';

const WHOAMI = join(FIXTURES, 'apps', 'whoami.py');
const FAST = ['--emperor-freq', '1', '--emperor-throttle', '200', '--emperor-max-throttle', '600'];

/** A vassal running whoami.py on a free port, tagged `tag`. */
function vassal(dir: string, file: string, tag: string, extra: Record<string, string | number> = {}): string {
  return writeVassal(dir, file, {
    'http-socket': '127.0.0.1:0',
    'wsgi-file': WHOAMI,
    env: `TAG=${tag}`,
    'worker-reload-mercy': 5,
    'reload-mercy': 5,
    ...extra,
  });
}

async function whoami(
  url: string,
): Promise<{ pid: number; tag: string; cwd: string; extra: string | null; set: string | null }> {
  const r = await fetchRaw(`${url}/`);
  assert.equal(r.status, 200);
  return JSON.parse(r.text);
}

/**
 * Run `body` against an emperor started with `args(dir)` on a fresh temp directory; the emperor and
 * everything below it are killed and the directory removed whatever happens.
 */
async function inEmperor(
  args: (dir: string) => string[],
  body: (emperor: EmperorProcess, dir: string) => Promise<void>,
  opts: { bin?: 'tsgi-emperor' } = {},
): Promise<void> {
  const dir = tempDir();
  const emperor = new EmperorProcess(args(dir.path), opts);
  try {
    await body(emperor, dir.path);
  } finally {
    emperor.kill();
    dir.cleanup();
  }
}

const refused = async (url: string) =>
  fetchRaw(url, { timeoutMs: 2000 }).then(
    () => false,
    () => true,
  );

describe('emperor: vassals from a directory', () => {
  test('drop, touch, edit, rename and remove a vassal file', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST],
      async (emperor, dir) => {
        vassal(dir, 'a.ini', 'v1');
        const a = await emperor.waitLoyal('a.ini');
        const first = await whoami(a.url);
        assert.equal(first.tag, 'v1');
        assert.ok(
          descendants(a.pid).includes(first.pid),
          'the worker belongs to the vassal the emperor reported',
        );
        assert.equal(first.cwd, dir, 'a vassal runs in the vassals directory, as in uWSGI');

        // touch: graceful reload of that vassal only (same master, new workers)
        const later = new Date(Date.now() + 2000);
        utimesSync(join(dir, 'a.ini'), later, later);
        await emperor.waitForLine(/vassal a\.ini reloaded/);
        const touched = await whoami(a.url);
        assert.ok(descendants(a.pid).includes(touched.pid), 'a reload keeps the vassal master');
        assert.notEqual(touched.pid, first.pid, 'a reload starts new workers');

        // edit: the new config is read on reload
        vassal(dir, 'a.ini', 'v2');
        await emperor.waitForLine(/vassal a\.ini reloaded/, 20_000, 2);
        assert.equal((await whoami(a.url)).tag, 'v2');

        // rename: the old name stops, the new name starts
        renameSync(join(dir, 'a.ini'), join(dir, 'b.ini'));
        const b = await emperor.waitLoyal('b.ini');
        await emperor.waitForLine(/vassal a\.ini stopped \(exit code 0\)/);
        assert.equal(alive(a.pid), false);
        assert.equal((await whoami(b.url)).tag, 'v2');
        assert.ok(await refused(a.url), 'the stopped vassal no longer answers');

        // remove: graceful stop
        rmSync(join(dir, 'b.ini'));
        await emperor.waitForLine(/vassal b\.ini stopped \(exit code 0\)/);
        assert.equal(alive(b.pid), false);
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('a crash-looping vassal is blacklisted with a growing delay while a healthy one keeps serving', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST, '--emperor-stats', '127.0.0.1:0'],
      async (emperor, dir) => {
        vassal(dir, 'good.ini', 'good');
        const good = await emperor.waitLoyal('good.ini');
        vassal(dir, 'bad.ini', 'bad', { 'wsgi-file': join(FIXTURES, 'apps', 'broken.py') });
        await emperor.waitForLine(
          /vassal bad\.ini exited before becoming loyal \(exit code 1\); blacklisted \(attempt 1\), next start in 200 ms/,
        );
        // keep the healthy vassal busy while the bad one loops
        const until = Date.now() + 1500;
        const statuses: number[] = [];
        while (Date.now() < until) statuses.push((await fetchRaw(`${good.url}/`)).status);
        assert.ok(statuses.length > 0 && statuses.every((s) => s === 200));
        await emperor.waitForLine(/blacklisted \(attempt 3\), next start in 600 ms/);
        await emperor.waitForLine(/blacklisted \(attempt 4\), next start in 600 ms/); // capped
        const stats = await readStats(await emperor.address('stats server'));
        const vassals = stats.vassals as Array<Record<string, unknown>>;
        const bad = vassals.find((v) => v.id === 'bad.ini')!;
        assert.ok(bad.state === 'blacklisted' || bad.state === 'spawning', `state ${bad.state}`);
        assert.equal(bad.loyal, 0);
        assert.ok((bad.respawns as number) >= 4);
        assert.deepEqual((bad.last_exit as { code: number }).code, 1);
        const entry = (stats.blacklist as Array<Record<string, unknown>>).find((e) => e.id === 'bad.ini')!;
        assert.ok((entry.attempt as number) >= 4);
        assert.equal(entry.delay_ms, 600);
        const goodStats = vassals.find((v) => v.id === 'good.ini')!;
        assert.equal(goodStats.state, 'loyal');
        assert.equal(goodStats.pid, good.pid);
        assert.equal(goodStats.respawns, 0);
        for (const key of [
          'id',
          'pid',
          'born',
          'last_mod',
          'loyal',
          'ready',
          'accepting',
          'cursed',
          'uid',
          'gid',
          'monitor',
        ])
          assert.ok(key in goodStats, `uWSGI stats key ${key}`);

        // fixing the config starts it at once and takes it off the blacklist
        vassal(dir, 'bad.ini', 'fixed');
        const fixed = await emperor.waitLoyal('bad.ini');
        assert.equal((await whoami(fixed.url)).tag, 'fixed');
        await emperor.waitForLine(/vassal bad\.ini left the blacklist/);
        assert.equal(good.pid, emperor.loyal('good.ini').pid, 'the healthy vassal was never restarted');
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('one Prometheus endpoint shows the emperor and every vassal with a vassal label', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST, '--emperor-prometheus', '127.0.0.1:0'],
      async (emperor, dir) => {
        vassal(dir, 'one.ini', '1');
        vassal(dir, 'two.ini', '2');
        const one = await emperor.waitLoyal('one.ini');
        await emperor.waitLoyal('two.ini');
        for (let i = 0; i < 3; i++) await whoami(one.url);
        const r = await fetchRaw(`http://${await emperor.address('prometheus metrics')}/metrics`);
        assert.equal(r.status, 200);
        assert.match(r.headers['content-type'] ?? '', /^text\/plain/);
        assert.match(r.text, /^tsgi_emperor_vassals\{state="loyal"\} 2$/m);
        assert.match(r.text, /^tsgi_emperor_spawns_total 2$/m);
        assert.match(r.text, /^tsgi_emperor_blacklistings_total 0$/m);
        for (const name of ['one.ini', 'two.ini'])
          assert.match(
            r.text,
            new RegExp(`^process_resident_memory_bytes\\{vassal="${name.replace('.', '\\.')}"\\} \\d+`, 'm'),
          );
        const served = r.text
          .split('\n')
          .filter((l) => l.startsWith('tsgi_requests_total{') && l.includes('vassal="one.ini"'))
          .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
        assert.equal(served, 3, "the vassal's own request counter, labelled with its name");
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('SIGHUP reloads every vassal; SIGTERM stops them all and leaves no process behind', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST],
      async (emperor, dir) => {
        vassal(dir, 'a.ini', 'a', { processes: 2 });
        vassal(dir, 'b.ini', 'b');
        const a = await emperor.waitLoyal('a.ini');
        const b = await emperor.waitLoyal('b.ini');
        emperor.signal('SIGUSR1');
        await emperor.waitForLine(
          new RegExp(`vassal a\\.ini pid ${a.pid} loyal loyal 1 respawns 0 blacklist - last exit -`),
        );
        emperor.signal('SIGHUP');
        await emperor.waitForLine(/vassal a\.ini reloaded/);
        await emperor.waitForLine(/vassal b\.ini reloaded/);
        assert.ok(descendants(a.pid).includes((await whoami(a.url)).pid));
        assert.ok(descendants(b.pid).includes((await whoami(b.url)).pid));
        const tree = emperor.noteTree();
        assert.ok(tree.length >= 5, `two masters and three workers, saw ${tree.join(' ')}`);
        assert.equal(await emperor.stop(), 0);
        assert.match(emperor.output, /the emperor is buried/);
      },
    );
  });

  test('a killed emperor leaves no orphans: its vassals stop on their own', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST],
      async (emperor, dir) => {
        vassal(dir, 'a.ini', 'a');
        await emperor.waitLoyal('a.ini');
        const tree = emperor.noteTree();
        assert.ok(tree.length >= 2);
        emperor.signal('SIGKILL');
        await emperor.wait();
        await waitFor(
          () => tree.every((p) => !alive(p)),
          15_000,
          `vassal processes ${tree.join(' ')} to exit`,
        );
      },
    );
  });

  test('an emperor killed while its vassal is still starting leaves no orphan either', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST],
      async (emperor, dir) => {
        vassal(dir, 'young.ini', 'young');
        const m = await emperor.waitForLine(/vassal young\.ini spawned \(pid (\d+)\)/);
        emperor.signal('SIGKILL'); // the vassal is most likely still loading its modules
        await emperor.wait();
        const pid = Number(m[1]);
        await waitFor(() => !alive(pid), 15_000, `vassal ${pid} to exit on its own`);
        await waitFor(
          () => [...emperor.seenPids].every((p) => !alive(p)),
          15_000,
          'everything it started to exit',
        );
      },
    );
  });

  test('tsgi-emperor DIR: a vassal whose heartbeats stop is killed and respawned', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST, '--emperor-required-heartbeat', '2'],
      async (emperor, dir) => {
        vassal(dir, 'hb.ini', 'hb', { heartbeat: 1 });
        const first = await emperor.waitLoyal('hb.ini');
        await new Promise((r) => setTimeout(r, 1500));
        process.kill(first.pid, 'SIGSTOP'); // a hung master: no heartbeat
        await emperor.waitForLine(
          /vassal hb\.ini sent no heartbeat in the last 2 s; killing and respawning it/,
        );
        const second = await emperor.waitLoyal('hb.ini', 2);
        assert.notEqual(second.pid, first.pid);
        assert.equal(alive(first.pid), false);
        assert.equal((await whoami(second.url)).tag, 'hb');
        assert.equal(await emperor.stop(), 0);
      },
      { bin: 'tsgi-emperor' },
    );
  });

  test('symlinks and files replaced by rename are seen; foreign config formats are named and ignored', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST],
      async (emperor, dir) => {
        const real = vassal(dir, 'real.conf', 'one');
        symlinkSync(real, join(dir, 'linked.ini'));
        writeFileSync(join(dir, 'other.yaml'), 'uwsgi:\n  processes: 1\n');
        const l = await emperor.waitLoyal('linked.ini');
        assert.equal((await whoami(l.url)).tag, 'one');
        await emperor.waitForLine(/other\.yaml: tsgi reads only \.ini vassal configs; ignored/);
        // an editor saving by writing a new file and renaming it over the old one
        const tmp = vassal(dir, '.real.conf.swp', 'two');
        copyFileSync(tmp, `${real}.new`);
        renameSync(`${real}.new`, real);
        await emperor.waitForLine(/vassal linked\.ini reloaded/);
        assert.equal((await whoami(l.url)).tag, 'two');
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('a quoted glob: every matching file is a vassal named by its path', async () => {
    await inEmperor(
      (dir) => [`glob://${dir}/*/vassal.ini`, ...FAST],
      async (emperor, dir) => {
        for (const app of ['shop', 'blog']) mkdirSync(join(dir, app));
        vassal(join(dir, 'shop'), 'vassal.ini', 'shop');
        vassal(join(dir, 'blog'), 'other.ini', 'ignored');
        const shop = await emperor.waitLoyal(join(dir, 'shop', 'vassal.ini'));
        assert.equal((await whoami(shop.url)).tag, 'shop');
        vassal(join(dir, 'blog'), 'vassal.ini', 'blog');
        const blog = await emperor.waitLoyal(join(dir, 'blog', 'vassal.ini'));
        assert.equal((await whoami(blog.url)).tag, 'blog');
        assert.doesNotMatch(emperor.output, /other\.ini/);
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('a cursed vassal that does not stop within the curse tolerance is killed with its workers', async () => {
    await inEmperor(
      (dir) => [dir, ...FAST, '--emperor-curse-tolerance', '1'],
      async (emperor, dir) => {
        vassal(dir, 'stuck.ini', 'stuck', { processes: 2 });
        const v = await emperor.waitLoyal('stuck.ini');
        const tree = emperor.noteTree();
        process.kill(v.pid, 'SIGSTOP'); // a master that cannot obey the stop message
        rmSync(join(dir, 'stuck.ini'));
        await emperor.waitForLine(
          /vassal stuck\.ini \(pid \d+\) is still alive 1 s after being cursed; killing it/,
        );
        await emperor.waitForLine(/vassal stuck\.ini stopped \(killed by SIGKILL\)/);
        await waitFor(() => tree.every((p) => !alive(p)), 10_000, 'the vassal and its workers to be gone');
        assert.equal(await emperor.stop(), 0);
      },
    );
  });

  test('%n and %d are the vassal file’s; vassals-include and vassal-set reach every vassal', async () => {
    const templates = tempDir();
    try {
      const tpl = join(templates.path, 'common.ini');
      writeFileSync(tpl, '[uwsgi]\nenv = EXTRA=from-template\n');
      await inEmperor(
        (dir) => [dir, ...FAST, '--vassals-include', tpl, '--vassal-set', 'env=SET=by-the-emperor'],
        async (emperor, dir) => {
          writeFileSync(
            join(dir, 'shop.ini'),
            `[uwsgi]\nhttp-socket = 127.0.0.1:0\nwsgi-file = ${WHOAMI}\nenv = TAG=%n@%d\n`,
          );
          const v = await emperor.waitLoyal('shop.ini');
          const w = await whoami(v.url);
          assert.equal(w.tag, `shop@${dir}/`);
          assert.equal(w.extra, 'from-template');
          assert.equal(w.set, 'by-the-emperor');
          assert.equal(await emperor.stop(), 0);
        },
      );
    } finally {
      templates.cleanup();
    }
  });
});
