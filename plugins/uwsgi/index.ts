import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import { listenSpecs, socketProtocol } from '../../core/net/socket-protocol.js';
import type { PluginDescriptor } from '../../core/plugin/types.js';
import { UwsgiUpstreamClient } from './client.js';
import type { UwsgiServer } from './contract.js';
import { UwsgiEdge } from './server.js';

/** Options of the uwsgi protocol plugin (`socket` itself is a core option: its protocol follows `protocol`). */
export const uwsgiOptions = {
  'uwsgi-socket': option.strings({
    help: 'bind a uwsgi protocol listener (nginx uwsgi_pass), whatever `protocol` says',
  }),
} as const;

/** Read timeout of the uwsgi client when the caller gives none, ms. */
export const DEFAULT_READ_TIMEOUT_MS = 60_000;
/** Largest response head the uwsgi client accepts when the caller gives no limit, bytes. */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;

/**
 * The uwsgi protocol plugin: the edge for `socket` (when `protocol` is uwsgi or absent) and
 * `uwsgi-socket` listeners, the `uwsgi-client` contract for upstreams (router proxy actions,
 * subscriptions) and the `uwsgi-server` contract for listeners other plugins own (fastrouter).
 */
export const uwsgiPlugin: PluginDescriptor<typeof uwsgiOptions> = {
  id: 'protocol.uwsgi',
  name: 'uwsgi',
  kind: 'protocol',
  summary: 'uwsgi protocol listeners (socket, uwsgi-socket) and client',
  options: uwsgiOptions,
  create({ options, config, log }) {
    const core = config.values(coreOptions);
    const listeners = [
      ...(socketProtocol(config) === 'uwsgi' ? listenSpecs(config, 'uwsgi', 'socket', core.socket) : []),
      ...listenSpecs(config, 'uwsgi', 'uwsgi-socket', options['uwsgi-socket']),
    ];
    const timeoutMs = core['socket-timeout'] * 1000;
    const client = new UwsgiUpstreamClient({
      connectTimeoutMs: timeoutMs,
      readTimeoutMs: DEFAULT_READ_TIMEOUT_MS,
      maxHeadBytes: DEFAULT_MAX_HEAD_BYTES,
    });
    const limits = {
      bufferSizeBytes: core['buffer-size'],
      limitPostBytes: core['limit-post'],
      socketTimeoutMs: timeoutMs,
    };
    const server: UwsgiServer = { edge: (specs) => new UwsgiEdge({ listeners: specs, ...limits }, log) };
    if (listeners.length === 0) return { provides: { 'uwsgi-client': client, 'uwsgi-server': server } };
    const edge = new UwsgiEdge({ listeners, ...limits }, log);
    return { provides: { edge, 'uwsgi-client': client, 'uwsgi-server': server } };
  },
};
