import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import { listenSpecs, socketProtocol } from '../../core/net/socket-protocol.js';
import type { PluginDescriptor } from '../../core/plugin/types.js';
import { FastcgiUpstreamClient } from './client.js';
import { FastcgiEdge } from './server.js';

/** Options of the FastCGI protocol plugin. */
export const fastcgiOptions = {
  'fastcgi-socket': option.strings({
    help: 'bind a FastCGI responder listener (nginx fastcgi_pass; keep-alive and multiplexing supported)',
  }),
} as const;

/** Read timeout of the FastCGI client when the caller gives none, ms. */
export const DEFAULT_READ_TIMEOUT_MS = 60_000;
/** Largest response head the FastCGI client accepts when the caller gives no limit, bytes. */
export const DEFAULT_MAX_HEAD_BYTES = 64 * 1024;
/** Idle keep-alive connections the FastCGI client keeps per upstream address. */
export const POOL_MAX_IDLE_PER_ADDRESS = 16;
/** How long the FastCGI client keeps an idle connection, ms. */
export const POOL_IDLE_TIMEOUT_MS = 30_000;

/**
 * The FastCGI protocol plugin: the edge for `fastcgi-socket` listeners (and `socket` with `protocol
 * = fastcgi`), and the `fastcgi-client` contract with its keep-alive pool for upstreams (router
 * proxy actions, php-fpm) and php-cgi workers.
 */
export const fastcgiPlugin: PluginDescriptor<typeof fastcgiOptions> = {
  id: 'protocol.fastcgi',
  name: 'fastcgi',
  kind: 'protocol',
  summary: 'FastCGI responder listeners (fastcgi-socket) and client with a keep-alive pool',
  options: fastcgiOptions,
  create({ options, config, log }) {
    const core = config.values(coreOptions);
    const listeners = [
      ...(socketProtocol(config) === 'fastcgi' ? listenSpecs(config, 'fastcgi', 'socket', core.socket) : []),
      ...listenSpecs(config, 'fastcgi', 'fastcgi-socket', options['fastcgi-socket']),
    ];
    const timeoutMs = core['socket-timeout'] * 1000;
    const client = new FastcgiUpstreamClient(
      {
        connectTimeoutMs: timeoutMs,
        readTimeoutMs: DEFAULT_READ_TIMEOUT_MS,
        maxHeadBytes: DEFAULT_MAX_HEAD_BYTES,
      },
      { maxIdlePerAddress: POOL_MAX_IDLE_PER_ADDRESS, idleTimeoutMs: POOL_IDLE_TIMEOUT_MS },
      log,
    );
    const cleanup = async () => client.closeIdle();
    if (listeners.length === 0) return { provides: { 'fastcgi-client': client }, cleanup };
    const edge = new FastcgiEdge(
      {
        listeners,
        bufferSizeBytes: core['buffer-size'],
        limitPostBytes: core['limit-post'],
        socketTimeoutMs: timeoutMs,
        maxRequestsPerConnection: core.listen,
      },
      log,
    );
    return { provides: { edge, 'fastcgi-client': client }, cleanup };
  },
};
