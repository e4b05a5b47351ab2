import diagnostics_channel from 'node:diagnostics_channel';
import type { Vassal, VassalState } from './vassal.js';

/**
 * A vassal changed state, or its process changed (spawned, or a new one after an exit): the
 * `tsgi:emperor:vassal` diagnostics channel. `previous` is the state before the change (equal to the
 * current one when only the process changed). The dashboard subscribes; nothing else is wired into
 * the emperor for it, as the master's `core/master/events.ts` channels.
 */
export interface VassalChangeEvent {
  readonly vassal: Vassal;
  readonly previous: VassalState;
}

/** The emperor's diagnostics channels. */
export const emperorChannels = {
  vassal: diagnostics_channel.channel('tsgi:emperor:vassal'),
} as const;
