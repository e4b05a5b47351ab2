import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Generation } from '../../../core/master/generation.js';
import { WorkerTable } from '../../../core/master/table.js';
import { Worker } from '../../../core/master/worker.js';
import type { WorkerProcess } from '../../../core/plugin/types.js';

const proc = { pid: 1 } as unknown as WorkerProcess;

function gen(n: number, processes: number): Generation {
  return { n, workers: new Map(), others: new Set(), processes, serving: false } as unknown as Generation;
}

function setup(processes: number) {
  const table = new WorkerTable();
  const g = gen(1, processes);
  table.live.add(g);
  table.current = g;
  g.serving = true;
  const workers = [...Array(processes).keys()].map((i) => {
    const w = new Worker(i + 1, 1, 1, proc);
    table.place(w, g, true);
    return w;
  });
  return { table, g, workers };
}

test('missingSlots: the lowest ids nobody holds, up to what the current generation wants', () => {
  const { table, g, workers } = setup(3);
  assert.deepEqual(table.missingSlots(), []);
  table.release(workers[1]!);
  assert.deepEqual(table.missingSlots(), [2]);
  g.processes = 5;
  assert.deepEqual(table.missingSlots(), [2, 4, 5]);
  g.processes = 2;
  assert.deepEqual(table.missingSlots(), [], 'cheaper retired one: 1 and 3 are enough');
});

test('a successor of the same generation takes the slot when its predecessor releases it', () => {
  const { table, g, workers } = setup(2);
  const old = workers[0]!;
  const succ = new Worker(1, 1, 1, proc);
  table.place(succ, g, false);
  table.link(old, succ);
  assert.equal(g.workers.get(1), old, 'the predecessor holds the slot while its successor starts');
  assert.ok(g.others.has(succ));
  assert.deepEqual(table.missingSlots(), []);
  assert.equal(table.release(old), succ);
  assert.equal(g.workers.get(1), succ);
  assert.ok(g.others.has(old) && !g.others.has(succ));
  assert.equal(old.successor, null);
  assert.equal(succ.predecessor, null);
  table.forget(old);
  assert.deepEqual(new Set(table.all()), new Set([succ, workers[1]]));
});

test('a successor that dies unlinks itself; the predecessor keeps its slot', () => {
  const { table, g, workers } = setup(1);
  const succ = new Worker(1, 1, 1, proc);
  table.place(succ, g, false);
  table.link(workers[0]!, succ);
  assert.equal(table.release(succ), null);
  table.forget(succ);
  assert.equal(workers[0]!.successor, null);
  assert.equal(g.workers.get(1), workers[0]);
});

test('chain reload: the new generation holds handed-over slots, the old one stops serving when empty', () => {
  const { table, g, workers } = setup(2);
  const next = gen(2, 2);
  table.live.add(next);
  const s1 = new Worker(1, 2, 1, proc);
  table.place(s1, next, true);
  table.link(workers[0]!, s1);
  table.current = next;
  next.serving = true;
  assert.deepEqual(table.missingSlots(), [], 'slot 1 is held by both generations, slot 2 by the old one');
  assert.equal(table.release(workers[0]!), s1);
  assert.deepEqual(
    table
      .holders()
      .map((w) => `${w.generation}:${w.id}`)
      .sort(),
    ['1:2', '2:1'],
  );
  assert.equal(g.serving, true);
  table.release(workers[1]!);
  assert.equal(g.serving, false, 'no slot left');
  assert.equal(table.dropIfEmpty(g), false, 'its workers are still finishing');
  for (const w of workers) table.forget(w);
  assert.equal(table.dropIfEmpty(g), true);
  assert.equal(table.dropIfEmpty(next), false, 'the current generation stays');
});
