import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEmperorMessage, parseVassalMessage } from '../../../emperor/messages.js';

test('well-formed vassal messages are accepted with their fields', () => {
  assert.deepEqual(parseVassalMessage({ type: 'spawned' }), { type: 'spawned' });
  const loyal = {
    type: 'loyal',
    generation: 1,
    listeners: [{ proto: 'http', address: '127.0.0.1:1' }],
    mercyS: 60,
  };
  assert.deepEqual(parseVassalMessage(loyal), loyal);
  assert.deepEqual(parseVassalMessage({ type: 'reload-failed', generation: 2, detail: 'x' }), {
    type: 'reload-failed',
    generation: 2,
    detail: 'x',
  });
});

test('malformed or unknown vassal messages are rejected', () => {
  for (const bad of [
    null,
    'loyal',
    [],
    { type: 'loyal' },
    { type: 'loyal', generation: 1, listeners: [{ proto: 1 }], mercyS: 1 },
    { type: 'loyal', generation: 1.5, listeners: [], mercyS: 1 },
    { type: 'metrics', id: 1, metrics: [{ name: 'x' }] },
    { type: 'reboot' },
    { byte: 17 },
  ])
    assert.equal(parseVassalMessage(bad), null, JSON.stringify(bad));
});

test('metrics: NaN values (null after JSON) come back as NaN', () => {
  const m = parseVassalMessage({
    type: 'metrics',
    id: 7,
    metrics: [{ name: 'lag', help: 'h', type: 'gauge', values: [{ value: null, labels: {} }] }],
  });
  assert.ok(m && m.type === 'metrics');
  assert.ok(Number.isNaN(m.metrics[0]!.values[0]!.value));
});

test('emperor messages', () => {
  assert.deepEqual(parseEmperorMessage({ type: 'stop', graceful: true }), { type: 'stop', graceful: true });
  assert.deepEqual(parseEmperorMessage({ type: 'config', text: '[uwsgi]\n' }), {
    type: 'config',
    text: '[uwsgi]\n',
  });
  assert.equal(parseEmperorMessage({ type: 'stop' }), null);
  assert.equal(parseEmperorMessage({ type: 'config', text: 1 }), null);
  assert.equal(parseEmperorMessage({ type: 'metrics-request', id: '1' }), null);
  assert.equal(parseEmperorMessage({ type: 'exec', cmd: 'rm' }), null);
});

test('the dashboard messages: query, answer, chain reload, metrics by name', () => {
  assert.deepEqual(parseEmperorMessage({ type: 'query', id: 3, what: 'config' }), {
    type: 'query',
    id: 3,
    what: 'config',
  });
  assert.deepEqual(parseEmperorMessage({ type: 'reload', chain: true }), { type: 'reload', chain: true });
  assert.deepEqual(parseEmperorMessage({ type: 'metrics-request', id: 1, names: ['a'] }), {
    type: 'metrics-request',
    id: 1,
    names: ['a'],
  });
  const answer = { type: 'answer', id: 3, what: 'config', entries: [{ key: 'master', value: 'true' }] };
  assert.deepEqual(parseVassalMessage(answer), answer);
  const stats = { type: 'answer', id: 4, what: 'stats', stats: { workers: [{ id: 1 }], pid: 9 } };
  assert.deepEqual(parseVassalMessage(stats), stats);
  assert.deepEqual(parseVassalMessage({ type: 'answer', id: 5, what: 'stats', error: 'not booted yet' }), {
    type: 'answer',
    id: 5,
    what: 'stats',
    error: 'not booted yet',
  });
  for (const bad of [
    { type: 'query', id: 1, what: 'secrets' },
    { type: 'query', id: 'x', what: 'config' },
    { type: 'reload', chain: 'yes' },
    { type: 'metrics-request', id: 1, names: [1] },
  ])
    assert.equal(parseEmperorMessage(bad), null, JSON.stringify(bad));
  for (const bad of [
    { type: 'answer', id: 1, what: 'config', entries: [{ key: 'a' }] },
    { type: 'answer', id: 1, what: 'stats', stats: { workers: 'no' } },
    { type: 'answer', id: 1, what: 'env', error: 'x' },
  ])
    assert.equal(parseVassalMessage(bad), null, JSON.stringify(bad));
});
