import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeldErrorSink } from '../../../router/upstream/proxy.js';
import { MemorySink } from './helpers.js';

test('a gateway error page written at once is held and can be dropped', () => {
  const inner = new MemorySink();
  const s = new HeldErrorSink(inner);
  s.head(502, 'Bad Gateway', [], 3);
  s.write(Buffer.from('bad'));
  s.end();
  assert.equal(inner.headSent, false);
  assert.ok(s.discard());
  assert.equal(inner.headSent, false);
});

test('a held page that is kept is passed on whole; other statuses pass at once', () => {
  const inner = new MemorySink();
  const s = new HeldErrorSink(inner);
  s.head(504, 'Gateway Timeout', [], 2);
  s.write(Buffer.from('to'));
  s.end();
  s.release();
  assert.equal(inner.status, 504);
  assert.equal(inner.body, 'to');
  assert.ok(inner.ended);
  const ok = new MemorySink();
  new HeldErrorSink(ok).head(200, 'OK', [], 0);
  assert.equal(ok.status, 200);
});

test("an upstream's own streaming 502 is released after the current turn", async () => {
  const inner = new MemorySink();
  const s = new HeldErrorSink(inner);
  s.head(502, 'Bad Gateway', ['X-Up', '1'], -1);
  await new Promise((r) => setImmediate(r));
  assert.equal(inner.status, 502);
  s.write(Buffer.from('later'));
  assert.equal(inner.body, 'later');
  assert.equal(s.discard(), false);
});
