import { performance } from 'node:perf_hooks';
import type { WorkerProcess } from '../plugin/types.js';
import type { TsgiRequest } from '../request/request.js';
import type { WorkerExitReason } from './events.js';
import type { RecycleReason } from './recycle.js';

/**
 * A worker's state in the master:
 * `starting` (spawned, app loading) → `ready` (taking requests) → `retiring` (finishing its requests,
 * then exits) → `dead`.
 */
export type WorkerState = 'starting' | 'ready' | 'retiring' | 'dead';

/** The master's record of one worker process. */
export class Worker {
  state: WorkerState = 'starting';
  /** Requests completed by this process. */
  requests = 0;
  /** Requests on which the app raised an exception (stream outcome `worker-error`). */
  exceptions = 0;
  /** Times harakiri fired on this worker slot (carried across respawns). */
  harakiriCount = 0;
  /** Respawns of this worker slot before this process (carried across respawns). */
  respawnCount = 0;
  /** Response body bytes sent (this process). */
  txBytes = 0;
  /** Sum of request durations, ms (for the average response time). */
  busyMs = 0;
  /** Monotonic ms when the process was spawned. */
  readonly spawnedAtMs = performance.now();
  /** Epoch seconds when the process was spawned (stats `last_spawn`). */
  readonly spawnedAtEpoch = Math.floor(Date.now() / 1000);
  /** Monotonic ms when it became ready (0 until then). */
  readyAtMs = 0;
  /** Requests on this worker now, with their start time (harakiri and stats read it). */
  readonly active = new Set<TsgiRequest>();
  /** Why the master retired or killed it (for the exit log line and respawn reason). */
  retireReason: WorkerExitReason | null = null;
  /** Requests after which it is recycled (max-requests, delta, jitter); 0 = no limit. */
  requestLimit = 0;
  /** Set when the master decided to recycle it; it keeps serving until its successor is ready. */
  recycling: RecycleReason | null = null;
  /** Monotonic ms before which no new recycling attempt is made (after a successor failed to start). */
  recycleNotBeforeMs = 0;
  /** The worker starting to take over this one's slot (recycling, chain reload). */
  successor: Worker | null = null;
  /** The worker this one takes over from, until the hand-over. */
  predecessor: Worker | null = null;
  /** Monotonic ms when harakiri fired on this process (0 = never). */
  harakiriAtMs = 0;

  constructor(
    /** Worker number, 1-based, stable across respawns of the same slot. */
    readonly id: number,
    /** Config generation it belongs to (bumps on every reload). */
    readonly generation: number,
    /** Concurrent request slots. */
    readonly slots: number,
    readonly process: WorkerProcess,
  ) {}

  get pid(): number {
    return this.process.pid;
  }

  /** Slots free right now. */
  get free(): number {
    return this.slots - this.process.channel.inflight;
  }
}
