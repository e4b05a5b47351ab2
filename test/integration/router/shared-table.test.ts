import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { freePort } from '../../helpers/peers.js';
import { hasRedis, startFront, startRedis, startVassal } from '../../helpers/router.js';
import { fetchRaw, requireTool, type TsgiProcess, waitFor } from '../../helpers/tsgi.js';

/**
 * Two tsgi fronts sharing one subscription table through a real redis-server, while vassals (tsgi
 * instances announcing with subscribe-to, each to one front only) come and go, Redis goes away and
 * comes back.
 */

const skip = requireTool(hasRedis, 'redis-server');

async function status(front: TsgiProcess, host: string): Promise<number> {
  return (await fetchRaw(`${front.url()}/x`, { headers: { Host: host } })).status;
}

test('two fronts share a Redis subscription table while vassals come and go', {
  skip,
  timeout: 120_000,
}, async () => {
  const redisPort = await freePort();
  let redis = await startRedis(redisPort);
  const table = `redis://127.0.0.1:${redisPort}/0?key=tsgi-test:${randomBytes(4).toString('hex')}`;
  const front = async () =>
    (await startFront(['--subscription-redis', table, '--subscription-tolerance', '3'])).front;
  const [f1, f2] = await Promise.all([front(), front()]);
  const ss = async (f: TsgiProcess) => (await f.waitForLine(/subscription server on udp:\/\/(\S+)/))[1]!;
  const vassal = async (f: TsgiProcess, key: string) =>
    startVassal(['--subscribe-to', `${await ss(f)}:${key}`]);
  const vassals: TsgiProcess[] = [];
  try {
    const a = await vassal(f1, 'a.example');
    const b = await vassal(f2, 'b.example');
    vassals.push(a, b);
    const routable = async (host: string, want: number) => {
      for (const f of [f1, f2])
        await waitFor(async () => (await status(f, host)) === want, 15_000, `${host} → ${want}`);
    };
    await routable('a.example', 200);
    await routable('b.example', 200);
    assert.match(
      f1.output,
      /a\.example => 127\.0\.0\.1:\d+ is a loopback address, written to a shared subscription table/,
    );

    await a.stop();
    await routable('a.example', 502);

    b.kill();
    await routable('b.example', 502);

    const c = await vassal(f1, 'c.example');
    vassals.push(c);
    await routable('c.example', 200);
    await redis.stop('SIGKILL');
    await f2.waitForLine(/subscription table in Redis unreachable/, 10_000);
    await new Promise((r) => setTimeout(r, 4500));
    assert.equal(await status(f2, 'c.example'), 200, 'the last table read keeps serving while Redis is down');

    redis = await startRedis(redisPort);
    await f2.waitForLine(/subscription table in Redis reachable again/, 15_000);
    await routable('c.example', 200);
    await c.stop();
    await routable('c.example', 502);
  } finally {
    for (const v of vassals) await v.stop().catch(() => v.kill());
    await f1.stop();
    await f2.stop();
    await redis.stop();
  }
});
