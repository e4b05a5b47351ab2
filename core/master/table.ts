import { type Generation, generationWorkers } from './generation.js';
import type { Worker } from './worker.js';

/** Per worker id, what outlives one process: respawn bookkeeping and counters for stats. */
export interface Slot {
  /** Processes started for this id after the first. */
  respawns: number;
  /** Times harakiri fired on this id. */
  harakiris: number;
  /** Deaths soon after spawn in a row (respawn backoff). */
  fastDeaths: number;
  /** Monotonic ms before which the slot is not respawned. */
  notBeforeMs: number;
  spawned: boolean;
}

/**
 * The master's worker table: which generations are alive, which worker holds which slot (worker id)
 * in each, and the successor links of workers being replaced. No I/O and no policy: the master
 * decides, the table keeps the invariants:
 * - a slot of a generation has at most one holder (`gen.workers`); every other live worker of the
 *   generation is in `gen.others` (a successor still starting, a worker finishing its requests);
 * - a successor takes its predecessor's slot when the predecessor gives it up (`release`): when
 *   the successor is ready, or earlier if the predecessor dies or is killed first;
 * - a generation is serving while it is current, or while it still holds slots during a chain reload.
 */
export class WorkerTable {
  /** The generation new workers and requests belong to. */
  current: Generation | null = null;
  /** Generations with live workers (the current one, retiring ones, one being started). */
  readonly live = new Set<Generation>();
  private readonly genOfWorker = new WeakMap<Worker, Generation>();
  private readonly slots = new Map<number, Slot>();

  /** The generation `w` belongs to. */
  genOf(w: Worker): Generation {
    return this.genOfWorker.get(w)!;
  }

  /** Every live worker of every live generation, current generation first. */
  all(): Worker[] {
    const out: Worker[] = [];
    if (this.current) out.push(...generationWorkers(this.current));
    for (const g of this.live) if (g !== this.current) out.push(...generationWorkers(g));
    return out;
  }

  /** Slot holders of the serving generations. */
  holders(): Worker[] {
    const out: Worker[] = [];
    for (const g of this.live) if (g === this.current || g.serving) out.push(...g.workers.values());
    return out;
  }

  /** The slot ids the current generation should start a worker for: the lowest ones no holder has. */
  missingSlots(): number[] {
    const gen = this.current;
    if (!gen) return [];
    const held = new Set(this.holders().map((w) => w.id));
    const out: number[] = [];
    for (let id = 1; out.length < gen.processes - held.size; id++) if (!held.has(id)) out.push(id);
    return out;
  }

  /** Per-id bookkeeping (created on first use). */
  slot(id: number): Slot {
    let s = this.slots.get(id);
    if (!s) {
      s = { respawns: 0, harakiris: 0, fastDeaths: 0, notBeforeMs: 0, spawned: false };
      this.slots.set(id, s);
    }
    return s;
  }

  /** Record a new worker of `gen`: as its slot's holder, or (a successor starting) among the others. */
  place(w: Worker, gen: Generation, holder: boolean): void {
    this.genOfWorker.set(w, gen);
    if (holder) gen.workers.set(w.id, w);
    else gen.others.add(w);
  }

  /** `succ` will take over `pred`'s slot once it is ready. */
  link(pred: Worker, succ: Worker): void {
    pred.successor = succ;
    succ.predecessor = pred;
  }

  /**
   * `w` gives up its slot (retired, harakiri, killed, dead). A successor of the same generation
   * that was starting becomes the holder; returns it (the caller routes requests to it if it is
   * ready), else null.
   */
  release(w: Worker): Worker | null {
    const gen = this.genOf(w);
    if (gen.workers.get(w.id) === w) {
      gen.workers.delete(w.id);
      gen.others.add(w);
    }
    const pred = w.predecessor;
    if (pred) {
      pred.successor = null;
      w.predecessor = null;
    }
    if (gen !== this.current && gen.workers.size === 0) gen.serving = false;
    const succ = w.successor;
    if (!succ) return null;
    w.successor = null;
    succ.predecessor = null;
    const sg = this.genOf(succ);
    if (sg.others.delete(succ)) sg.workers.set(succ.id, succ);
    return succ;
  }

  /** `w` is dead: it leaves the table. */
  forget(w: Worker): void {
    const gen = this.genOf(w);
    if (gen.workers.get(w.id) === w) gen.workers.delete(w.id);
    gen.others.delete(w);
  }

  /** Forget `gen` if it is not current and has no live worker; returns whether it was dropped. */
  dropIfEmpty(gen: Generation): boolean {
    if (gen === this.current || generationWorkers(gen).length > 0 || !this.live.has(gen)) return false;
    this.live.delete(gen);
    return true;
  }
}
