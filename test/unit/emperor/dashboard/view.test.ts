import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HIDDEN, redactConfig, workerRows } from '../../../../emperor/dashboard/view.js';

test('redactConfig hides env values, secret-looking options and URL passwords', () => {
  const out = redactConfig([
    { key: 'env', value: 'DATABASE_URL=postgres://u:p@db/x' },
    { key: 'env', value: 'NOEQUALS' },
    { key: 'redis-password', value: 'hunter2' },
    { key: 'secret-key', value: 's' },
    { key: 'emperor', value: 'redis://:pw@127.0.0.1:6379/0?key=v' },
    { key: 'cache2', value: 'name=c,items=10' },
    { key: 'http-socket', value: '127.0.0.1:8080' },
  ]);
  assert.deepEqual(out, [
    { key: 'env', value: `DATABASE_URL=${HIDDEN}` },
    { key: 'env', value: 'NOEQUALS' },
    { key: 'redis-password', value: HIDDEN },
    { key: 'secret-key', value: HIDDEN },
    { key: 'emperor', value: `redis://:${HIDDEN}@127.0.0.1:6379/0?key=v` },
    { key: 'cache2', value: 'name=c,items=10' },
    { key: 'http-socket', value: '127.0.0.1:8080' },
  ]);
  assert.ok(!JSON.stringify(out).includes('hunter2'));
});

test('workerRows reads uWSGI stats keys and tolerates missing ones', () => {
  const rows = workerRows({
    workers: [
      {
        id: 1,
        pid: 10,
        status: 'idle',
        requests: 5,
        exceptions: 0,
        rss: 99,
        avg_rt: 120,
        last_spawn: 3,
        respawn_count: 2,
      },
      { id: 2 },
    ],
  });
  assert.deepEqual(rows[0], {
    id: 1,
    pid: 10,
    status: 'idle',
    requests: 5,
    exceptions: 0,
    rss: 99,
    avgRtUs: 120,
    lastSpawn: 3,
    respawns: 2,
  });
  assert.equal(rows[1]!.status, '?');
  assert.equal(rows[1]!.pid, 0);
});
