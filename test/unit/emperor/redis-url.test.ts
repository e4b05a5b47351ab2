import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_VASSALS_KEY, parseRedisUrl } from '../../../emperor/redis-url.js';

test('host, port, db, key, credentials and TLS come from the URL', () => {
  const r = parseRedisUrl('rediss://ops:p%40ss@redis.internal:6380/3?key=hosting%3Avassals');
  assert.equal(r.host, 'redis.internal');
  assert.equal(r.port, 6380);
  assert.equal(r.db, 3);
  assert.equal(r.username, 'ops');
  assert.equal(r.password, 'p@ss');
  assert.equal(r.tls, true);
  assert.equal(r.key, 'hosting:vassals');
  assert.doesNotMatch(r.display, /p%40ss|p@ss/, 'the password never reaches logs');
});

test('defaults: port 6379, db 0, key tsgi:vassals, no TLS', () => {
  const r = parseRedisUrl('redis://127.0.0.1');
  assert.deepEqual(
    [r.port, r.db, r.key, r.tls, r.password],
    [6379, 0, DEFAULT_VASSALS_KEY, false, undefined],
  );
  assert.equal(parseRedisUrl('redis://:secret@[::1]:7000/').host, '::1');
});

test('bad URLs are config errors naming the emperor option', () => {
  for (const bad of ['redis://', 'redis://h/notanumber', 'http://h:1/0', 'redis://h/0?key=']) {
    assert.throws(
      () => parseRedisUrl(bad),
      (e: Error & { code?: string; option?: string }) =>
        e.code === 'TSGI_ERR_CONFIG_VALUE' && e.option === 'emperor',
      bad,
    );
  }
});
