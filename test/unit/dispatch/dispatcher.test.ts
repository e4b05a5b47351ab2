import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher } from '../../../core/dispatch/dispatcher.js';
import { Worker } from '../../../core/master/worker.js';
import type { StreamOutcome, WorkerChannel, WorkerProcess } from '../../../core/plugin/types.js';
import { TsgiRequest } from '../../../core/request/request.js';
import type { ResponseSink } from '../../../core/request/sink.js';

/** A channel that records streams and lets the test finish them. */
class FakeChannel implements WorkerChannel {
  open_: Array<{ req: TsgiRequest; done: (o: StreamOutcome) => void }> = [];
  get inflight() {
    return this.open_.length;
  }
  open(req: TsgiRequest, _sink: ResponseSink, done: (o: StreamOutcome) => void) {
    this.open_.push({ req, done });
  }
  finish(i = 0) {
    const [s] = this.open_.splice(i, 1);
    s!.done('complete');
  }
  abort() {}
  failAll() {}
  close() {}
}

function worker(id: number, slots: number): { w: Worker; ch: FakeChannel } {
  const ch = new FakeChannel();
  const proc: WorkerProcess = {
    pid: 1000 + id,
    channel: ch,
    ready: Promise.resolve(),
    onExit() {},
    kill() {},
  };
  return { w: new Worker(id, 1, slots, proc), ch };
}

class Sink implements ResponseSink {
  status = 0;
  headSent = false;
  abortCb: (() => void) | null = null;
  head(status: number) {
    this.status = status;
    this.headSent = true;
  }
  write() {
    return true;
  }
  end() {}
  fail(status: number) {
    this.status = status;
  }
  onDrain() {}
  onAbort(cb: () => void) {
    this.abortCb = cb;
  }
}

const req = (path = '/') => new TsgiRequest(new Map([['PATH_INFO', path]]), null, 0, 'http');

test('prefers the worker with the most free slots, lowest id on ties', () => {
  const d = new Dispatcher(
    10,
    () => {},
    () => {},
  );
  const a = worker(1, 2);
  const b = worker(2, 2);
  d.add(b.w);
  d.add(a.w);
  d.submit(req(), new Sink());
  assert.equal(a.ch.inflight, 1);
  d.submit(req(), new Sink());
  assert.equal(b.ch.inflight, 1, 'second request goes to the idle worker');
  d.submit(req(), new Sink());
  assert.equal(a.ch.inflight + b.ch.inflight, 3);
});

test('queues when busy, serves the queue in order as slots free, and 503s when full', () => {
  const done: string[] = [];
  const d = new Dispatcher(
    2,
    (_w, r) => done.push(r.var('PATH_INFO')),
    () => {},
  );
  const a = worker(1, 1);
  d.add(a.w);
  d.submit(req('/1'), new Sink());
  d.submit(req('/2'), new Sink());
  d.submit(req('/3'), new Sink());
  assert.equal(d.queued, 2);
  const rejected = new Sink();
  d.submit(req('/4'), rejected);
  assert.equal(rejected.status, 503);
  assert.equal(d.rejected, 1);
  a.ch.finish();
  assert.equal(a.ch.open_[0]!.req.var('PATH_INFO'), '/2');
  a.ch.finish();
  a.ch.finish();
  assert.deepEqual(done, ['/1', '/2', '/3']);
  assert.equal(d.queued, 0);
});

test('a client that leaves while queued is dropped and does not count against the bound', () => {
  const d = new Dispatcher(
    1,
    () => {},
    () => {},
  );
  const a = worker(1, 1);
  d.add(a.w);
  d.submit(req('/busy'), new Sink());
  const leaving = new Sink();
  d.submit(req('/gone'), leaving);
  leaving.abortCb!();
  assert.equal(d.queued, 0);
  d.submit(req('/next'), new Sink());
  a.ch.finish();
  assert.equal(a.ch.open_[0]!.req.var('PATH_INFO'), '/next');
});

test('removed workers get no new requests', () => {
  const d = new Dispatcher(
    5,
    () => {},
    () => {},
  );
  const a = worker(1, 1);
  d.add(a.w);
  d.remove(a.w);
  d.submit(req(), new Sink());
  assert.equal(a.ch.inflight, 0);
  assert.equal(d.queued, 1);
});
