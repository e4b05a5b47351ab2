import diagnostics_channel from 'node:diagnostics_channel';
import type { ListenerInfo, StreamOutcome, WorkerExit } from '../plugin/types.js';
import type { TsgiRequest } from '../request/request.js';
import type { Worker } from './worker.js';

/**
 * What happens in a master, published on node:diagnostics_channel so that metrics, stats, the emperor
 * link and logs subscribe from outside instead of being wired into the master (undici's pattern).
 * Publishing costs nothing when nobody subscribes.
 */

/** A request finished (answered, failed, or its client left). */
export interface RequestDoneEvent {
  readonly req: TsgiRequest;
  readonly worker: Worker;
  readonly outcome: StreamOutcome;
  /** Duration from parse to end, ms. */
  readonly durationMs: number;
}

/** A request was refused before reaching a worker (queue full → 503). */
export interface RequestRejectedEvent {
  readonly req: TsgiRequest;
  readonly status: number;
  readonly reason: 'queue-full' | 'no-worker';
}

/** Why the master started a worker process. */
export type WorkerSpawnReason =
  | 'boot'
  | 'respawn'
  | 'recycle'
  | 'reload'
  | 'chain-reload'
  | 'cheaper'
  | 'manual';

/** A worker process was started. */
export interface WorkerSpawnEvent {
  readonly worker: Worker;
  readonly reason: WorkerSpawnReason;
}

/** A worker reported ready. */
export interface WorkerReadyEvent {
  readonly worker: Worker;
}

/** Why a worker ended, from the master's point of view. */
export type WorkerExitReason =
  | 'crash'
  | 'harakiri'
  | 'max-requests'
  | 'rss'
  | 'lifetime'
  | 'reload'
  | 'stop'
  | 'boot-failure'
  | 'cheaper';

/** A worker process exited. */
export interface WorkerExitEvent {
  readonly worker: Worker;
  readonly exit: WorkerExit;
  readonly reason: WorkerExitReason;
}

/** Harakiri fired: `req` ran `runningMs` on `worker`, past `harakiriMs`; the worker is being killed. */
export interface WorkerHarakiriEvent {
  readonly worker: Worker;
  readonly req: TsgiRequest;
  readonly runningMs: number;
  readonly harakiriMs: number;
}

/**
 * The master decided to replace a worker because of a limit: `evil` is true when it is killed at
 * once (evil-reload-on-rss/as), false when a replacement starts first and it finishes its requests.
 */
export interface WorkerRecycleEvent {
  readonly worker: Worker;
  readonly reason: 'max-requests' | 'rss' | 'lifetime';
  readonly evil: boolean;
  /** The log text, e.g. `max-requests reached (3 >= 3)`. */
  readonly detail: string;
}

/** The cheaper subsystem changed the number of workers it wants. */
export interface CheaperEvent {
  readonly from: number;
  readonly to: number;
  /** `spare`, `backlog`, or `manual` (FIFO +/-, SIGTTIN/SIGTTOU). */
  readonly algo: string;
}

/**
 * The instance's lifecycle: first boot done, a reload done or abandoned (`reload-failed`; a chain
 * reload reports `chain-reloaded`), stopping.
 */
export interface MasterLifecycleEvent {
  readonly phase: 'ready' | 'reloaded' | 'chain-reloaded' | 'reload-failed' | 'stopping';
  readonly generation: number;
  readonly detail?: string;
  /** On `ready`, `reloaded` and `chain-reloaded`: the bound listeners (real ports for `:0`), e.g. for subscriptions. */
  readonly listeners?: readonly ListenerInfo[];
}

export const channels = {
  requestDone: diagnostics_channel.channel('tsgi:request:done'),
  requestRejected: diagnostics_channel.channel('tsgi:request:rejected'),
  workerSpawn: diagnostics_channel.channel('tsgi:worker:spawn'),
  workerReady: diagnostics_channel.channel('tsgi:worker:ready'),
  workerExit: diagnostics_channel.channel('tsgi:worker:exit'),
  workerHarakiri: diagnostics_channel.channel('tsgi:worker:harakiri'),
  workerRecycle: diagnostics_channel.channel('tsgi:worker:recycle'),
  cheaper: diagnostics_channel.channel('tsgi:master:cheaper'),
  lifecycle: diagnostics_channel.channel('tsgi:master:lifecycle'),
} as const;

/** Publish only when someone listens (the payload is not even built otherwise). */
export function publish<T>(ch: diagnostics_channel.Channel, make: () => T): void {
  if (ch.hasSubscribers) ch.publish(make());
}
