import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  backlog,
  type CheaperView,
  cheaperSettings,
  SPARE_START,
  type SpareState,
  spare,
} from '../../../core/master/cheaper.js';

const view = (v: Partial<CheaperView>): CheaperView => ({
  active: 2,
  busy: 0,
  queued: 0,
  min: 1,
  max: 8,
  step: 1,
  overload: 3,
  ...v,
});

/** Run spare for `cycles` cycles with the same view; returns the deltas. */
function run(
  cycles: number,
  v: CheaperView,
  s: SpareState = SPARE_START,
): { deltas: number[]; state: SpareState } {
  const deltas: number[] = [];
  let state = s;
  for (let i = 0; i < cycles; i++) {
    const d = spare(state, v);
    state = d.state;
    deltas.push(d.delta);
  }
  return { deltas, state };
}

test('spare: all busy for more than cheaper-overload cycles adds cheaper-step workers', () => {
  assert.deepEqual(run(4, view({ active: 2, busy: 2, step: 2 })).deltas, [0, 0, 0, 2]);
  assert.deepEqual(
    run(4, view({ active: 7, busy: 7, step: 4 })).deltas,
    [0, 0, 0, 1],
    'never past processes',
  );
  assert.deepEqual(run(4, view({ active: 8, busy: 8 })).deltas, [0, 0, 0, 0], 'at processes already');
});

test('spare: one free worker is the stable state; more idle ones go one every cheaper-overload cycles', () => {
  assert.deepEqual(run(6, view({ active: 3, busy: 2 })).deltas, [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(run(6, view({ active: 4, busy: 0 })).deltas, [0, 0, -1, 0, 0, -1]);
  assert.deepEqual(
    run(6, view({ active: 1, busy: 0, min: 1 })).deltas,
    [0, 0, 0, 0, 0, 0],
    'never below cheaper',
  );
});

test('spare: a free worker takes back one overloaded cycle; overload blocks retiring', () => {
  const { state } = run(2, view({ busy: 2 }));
  assert.equal(state.overloadCount, 2);
  const d = spare(state, view({ busy: 0 }));
  assert.equal(d.state.overloadCount, 1);
  assert.equal(d.delta, 0);
});

test('backlog: queued requests above cheaper-overload add, below retire', () => {
  assert.equal(backlog(view({ queued: 4, overload: 3, step: 2 })), 2);
  assert.equal(backlog(view({ queued: 3, overload: 3 })), 0);
  assert.equal(backlog(view({ queued: 0, overload: 3, active: 2 })), -1);
  assert.equal(backlog(view({ queued: 0, overload: 3, active: 1, min: 1 })), 0);
});

test("cheaperSettings: uWSGI's start-up checks", () => {
  assert.equal(cheaperSettings({ processes: 4, cheaper: 0, initial: 3 }), null);
  assert.deepEqual(cheaperSettings({ processes: 4, cheaper: 2, initial: 0 }), { min: 2, initial: 2 });
  assert.deepEqual(cheaperSettings({ processes: 4, cheaper: 2, initial: 3 }), { min: 2, initial: 3 });
  assert.match(cheaperSettings({ processes: 4, cheaper: 4, initial: 0 })!.error!, /lower than processes/);
  assert.equal(cheaperSettings({ processes: 4, cheaper: 2, initial: 1 })!.initial, 2);
  assert.equal(cheaperSettings({ processes: 4, cheaper: 2, initial: 9 })!.initial, 4);
  assert.match(cheaperSettings({ processes: 4, cheaper: 2, initial: 9 })!.warning!, /at most processes/);
});
