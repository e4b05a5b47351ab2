import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PushedBody } from '../../../../core/request/pushed-body.js';

describe('PushedBody', () => {
  test('chunks before start are queued; past the high-water mark the edge is asked to stop, then to read again', () => {
    const flow: boolean[] = [];
    const b = new PushedBody((r) => flow.push(r), 10);
    b.push(Buffer.alloc(6));
    assert.deepEqual(flow, []);
    b.push(Buffer.alloc(6));
    assert.deepEqual(flow, [false]);
    assert.equal(b.queued, 12);
    const got: number[] = [];
    b.start(
      (c) => got.push(c.length),
      () => got.push(-1),
      () => assert.fail('error'),
    );
    assert.deepEqual(got, [6, 6]);
    assert.deepEqual(flow, [false, true]);
    b.push(Buffer.alloc(3));
    b.end();
    assert.deepEqual(got, [6, 6, 3, -1]);
  });

  test('pause holds delivery and stops the edge; resume delivers in order; end while paused releases the edge', () => {
    const flow: boolean[] = [];
    const b = new PushedBody((r) => flow.push(r));
    const got: string[] = [];
    b.start(
      (c) => {
        got.push(c.toString());
        if (c.toString() === 'a') b.pause();
      },
      () => got.push('END'),
      () => assert.fail('error'),
    );
    b.push(Buffer.from('a'));
    b.push(Buffer.from('b'));
    assert.deepEqual(got, ['a']);
    assert.deepEqual(flow, [false]);
    b.end();
    assert.deepEqual(flow, [false, true], 'an ended body no longer holds the connection');
    b.resume();
    assert.deepEqual(got, ['a', 'b', 'END']);
  });

  test('fail drops the queue and reports once, even before start', () => {
    const b = new PushedBody(() => {});
    b.push(Buffer.from('x'));
    b.fail(new Error('gone'));
    b.push(Buffer.from('y'));
    const errs: string[] = [];
    b.start(
      () => assert.fail('data after fail'),
      () => assert.fail('end after fail'),
      (e) => errs.push(e.message),
    );
    assert.deepEqual(errs, ['gone']);
  });
});
