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

/** A worker process was started. */
export interface WorkerSpawnEvent {
  readonly worker: Worker;
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

/** The instance's lifecycle: first boot done, reload done or abandoned, stopping. */
export interface MasterLifecycleEvent {
  readonly phase: 'ready' | 'reloaded' | 'reload-failed' | 'stopping';
  readonly generation: number;
  readonly detail?: string;
  /** On `ready` and `reloaded`: the bound listeners (real ports for `:0`), e.g. for subscriptions. */
  readonly listeners?: readonly ListenerInfo[];
}

export const channels = {
  requestDone: diagnostics_channel.channel('tsgi:request:done'),
  requestRejected: diagnostics_channel.channel('tsgi:request:rejected'),
  workerSpawn: diagnostics_channel.channel('tsgi:worker:spawn'),
  workerReady: diagnostics_channel.channel('tsgi:worker:ready'),
  workerExit: diagnostics_channel.channel('tsgi:worker:exit'),
  lifecycle: diagnostics_channel.channel('tsgi:master:lifecycle'),
} as const;

/** Publish only when someone listens (the payload is not even built otherwise). */
export function publish<T>(ch: diagnostics_channel.Channel, make: () => T): void {
  if (ch.hasSubscribers) ch.publish(make());
}
