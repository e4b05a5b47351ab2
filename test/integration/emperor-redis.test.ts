import assert from 'node:assert/strict';
import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmperorProcess, freePort, hasRedis, RedisServer } from '../helpers/emperor.js';
import { alive, FIXTURES, fetchRaw, requireTool, SYSTEM_PYTHON, tempDir } from '../helpers/tsgi.js';

const skip = requireTool(hasRedis, 'redis-server');
const WHOAMI = join(FIXTURES, 'apps', 'whoami.py');
const ROOT_EMPEROR = process.getuid?.() === 0;
const KEY = 'tsgi:test:vassals';

/**
 * The ini text of a Redis vassal. A root emperor runs Redis vassals only as the non-root uid/gid in
 * their config, so the tests name `nobody` (and Debian's python, which nobody can run).
 */
function ini(tag: string, extra = ''): string {
  return [
    '[uwsgi]',
    'http-socket = 127.0.0.1:0',
    `wsgi-file = ${WHOAMI}`,
    `python-bin = ${SYSTEM_PYTHON}`,
    `env = TAG=${tag}`,
    'env = EXTRA=%n',
    'reload-mercy = 5',
    'worker-reload-mercy = 5',
    'uid = nobody',
    'gid = nogroup',
    extra,
  ].join('\n');
}

async function whoami(url: string): Promise<{ tag: string; cwd: string; uid: number; extra: string }> {
  const r = await fetchRaw(`${url}/`);
  assert.equal(r.status, 200);
  return JSON.parse(r.text);
}

/** An emperor on `url`; `dir` (the Redis vassals' base) is opened to the vassals' user. */
function emperorOn(url: string, dir: string): EmperorProcess {
  chmodSync(dir, 0o755);
  return new EmperorProcess([
    `${url}?key=${encodeURIComponent(KEY)}`,
    '--emperor-freq',
    '2',
    '--emperor-redis-dir',
    dir,
    '--emperor-throttle',
    '200',
  ]);
}

describe('emperor: vassals from Redis', { skip }, () => {
  let redis: RedisServer;
  before(async () => {
    redis = await RedisServer.start();
  });
  after(async () => {
    await redis?.stop();
  });

  test('two emperors on one hash: add, change and delete a field start, reload and stop it on both', async () => {
    redis.cli('DEL', KEY);
    const dirA = tempDir();
    const dirB = tempDir();
    const a = emperorOn(redis.url, dirA.path);
    const b = emperorOn(redis.url, dirB.path);
    try {
      await a.waitForLine(/emperor starting/);
      await b.waitForLine(/emperor starting/);
      redis.cli('HSET', KEY, 'shop', ini('v1'));
      const [va, vb] = await Promise.all([a.waitLoyal('shop'), b.waitLoyal('shop')]);
      for (const [v, dir] of [
        [va, dirA.path],
        [vb, dirB.path],
      ] as const) {
        const w = await whoami(v.url);
        assert.equal(w.tag, 'v1');
        assert.equal(w.cwd, join(dir, 'shop'), 'a Redis vassal runs in <emperor-redis-dir>/<name>');
        assert.equal(w.extra, 'shop', '%n is the field name');
        if (ROOT_EMPEROR) assert.equal(w.uid, 65534, 'it runs as the uid of its config');
      }
      redis.cli('HSET', KEY, 'shop', ini('v2'));
      await Promise.all([a.waitForLine(/vassal shop reloaded/), b.waitForLine(/vassal shop reloaded/)]);
      assert.equal((await whoami(va.url)).tag, 'v2');
      assert.equal((await whoami(vb.url)).tag, 'v2');
      assert.equal(a.loyal('shop').pid, va.pid, 'a change reloads, it does not respawn');

      if (ROOT_EMPEROR) {
        redis.cli('HSET', KEY, 'rooty', ini('r').replace('uid = nobody', '').replace('gid = nogroup', ''));
        await a.waitForLine(
          /vassal rooty refused: a Redis vassal run by a root or tyrant emperor needs a non-root `uid`/,
        );
      }
      redis.cli('HSET', KEY, '../escape', ini('x'));
      await a.waitForLine(/redis field '\.\.\/escape' is not a valid vassal name/);

      redis.cli('HDEL', KEY, 'shop');
      await Promise.all([a.waitForLine(/vassal shop stopped/), b.waitForLine(/vassal shop stopped/)]);
      assert.equal(alive(va.pid), false);
      assert.equal(alive(vb.pid), false);
      assert.ok(existsSync(join(dirA.path, 'shop')));
      assert.equal(await a.stop(), 0);
      assert.equal(await b.stop(), 0);
    } finally {
      a.kill();
      b.kill();
      dirA.cleanup();
      dirB.cleanup();
    }
  });

  test('Redis killed and restarted mid-run: vassals keep serving, the emperor reconnects', async () => {
    redis.cli('DEL', KEY);
    const dir = tempDir();
    const e = emperorOn(redis.url, dir.path);
    try {
      redis.cli('HSET', KEY, 'api', ini('before'));
      const v = await e.waitLoyal('api');
      await redis.crash();
      await e.waitForLine(/redis redis:\/\/127\.0\.0\.1:\d+\/0\?key=\S+ is unreachable/);
      // keep asking while Redis is down: the vassal answers, the emperor does not spin
      for (let i = 0; i < 10; i++) assert.equal((await whoami(v.url)).tag, 'before');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(e.count(/is unreachable/), 1, 'the outage is logged once');
      await redis.up(); // empty: a new run_id
      await e.waitForLine(/is reachable again/);
      await e.waitForLine(
        /vassal api is missing from .* after a Redis restart \(new run_id\); keeping it running/,
      );
      assert.equal((await whoami(v.url)).tag, 'before');
      assert.equal(e.loyal('api').pid, v.pid, 'the vassal was never restarted');
      // the connection works again: a new field starts a vassal
      redis.cli('HSET', KEY, 'late', ini('late'));
      const late = await e.waitLoyal('late');
      assert.equal((await whoami(late.url)).tag, 'late');
      // and writing the kept field again puts it back under Redis' control
      redis.cli('HSET', KEY, 'api', ini('after'));
      await e.waitForLine(/vassal api reloaded/);
      assert.equal((await whoami(v.url)).tag, 'after');
      redis.cli('HDEL', KEY, 'api');
      await e.waitForLine(/vassal api stopped/);
      assert.equal(await e.stop(), 0);
    } finally {
      e.kill();
      dir.cleanup();
    }
  });

  test('Redis down at start: the emperor waits, then starts the vassals once Redis is up', async () => {
    const port = await freePort();
    const dir = tempDir();
    const e = emperorOn(`redis://127.0.0.1:${port}/0`, dir.path);
    let late: RedisServer | null = null;
    try {
      await e.waitForLine(/is unreachable \(.*ECONNREFUSED.*\); keeping the running vassals/);
      late = await RedisServer.start(port);
      late.cli('HSET', KEY, 'first', ini('first'));
      const v = await e.waitLoyal('first');
      assert.equal((await whoami(v.url)).tag, 'first');
      assert.equal(await e.stop(), 0);
    } finally {
      e.kill();
      await late?.stop();
      dir.cleanup();
    }
  });

  test('a server that refuses CONFIG SET: the emperor polls the hash every second instead', async () => {
    const locked = await RedisServer.start(undefined, ['--rename-command', 'CONFIG', '']);
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    const e = new EmperorProcess([
      `${locked.url}?key=${encodeURIComponent(KEY)}`,
      '--emperor-freq',
      '60', // only the 1 s poll can see the new field within the test's wait
      '--emperor-redis-dir',
      dir.path,
    ]);
    try {
      await e.waitForLine(/cannot enable keyspace notifications \(.*\); reading the hash every 1 s/);
      locked.cli('HSET', KEY, 'polled', ini('polled'));
      const v = await e.waitLoyal('polled', 1, 10_000);
      assert.equal((await whoami(v.url)).tag, 'polled');
      assert.equal(await e.stop(), 0);
    } finally {
      e.kill();
      await locked.stop();
      dir.cleanup();
    }
  });
});
