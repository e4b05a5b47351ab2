import { coreOptions } from '../../core/config/core-options.js';
import { type OptionSpec, option } from '../../core/config/option.js';
import { ConfigError, formatOrigin } from '../../core/errors.js';
import { listenSpecs, socketProtocol } from '../../core/net/socket-protocol.js';
import type { ListenSpec, PluginDescriptor } from '../../core/plugin/types.js';
import { HttpUpstreamClient } from './client.js';
import './contract.js';
import { HttpEdge } from './server.js';

/**
 * `http-keepalive`: uWSGI takes a number (non-zero = on) and a bare flag; tsgi also takes true/false
 * (uWSGI would read `true` as 0: uwsgi-docs#445). The value is on/off.
 */
const keepAliveOption: OptionSpec<boolean, false> = {
  type: 'boolean|number',
  list: false,
  default: false,
  arity: 'optional',
  help: 'keep client connections of `http` listeners open between requests (http-socket always does)',
  departure: '`true`/`false` accepted (uWSGI reads `true` as 0)',
  parse(text, name, origin) {
    const v = text.trim().toLowerCase();
    if (v === '' || v === 'true' || v === 'on' || v === 'yes') return true;
    if (v === 'false' || v === 'off' || v === 'no') return false;
    if (/^\d+$/.test(v)) return Number(v) > 0;
    throw new ConfigError(
      'TSGI_ERR_CONFIG_VALUE',
      `expected a number or true/false, got '${text}'`,
      origin,
      name,
    );
  },
};

/** Options of the HTTP protocol plugin (uWSGI's http-socket and http router options). */
export const httpOptions = {
  'http-socket': option.strings({
    help: 'serve HTTP/1.1 (keep-alive, pipelining, chunked bodies) on this address',
  }),
  'http11-socket': option.strings({
    help: 'same as http-socket (tsgi http sockets always do keep-alive)',
    departure: 'identical to http-socket: tsgi always supports HTTP/1.1 keep-alive on http-socket',
  }),
  http: option.strings({
    help: "an HTTP listener in front of the local workers (uWSGI's http router); keep-alive only with http-keepalive",
    departure: 'served by the master itself instead of a separate router process',
  }),
  'http-keepalive': keepAliveOption,
  'http-timeout': option.seconds({
    help: 'close client connections idle for this long, and those that take longer to send their headers',
    default: 60,
    min: 1,
  }),
  'http-websockets': option.bool({
    help: 'accepted for compatibility: tsgi always detects WebSocket handshakes (served by an ASGI app, passed through by the router)',
  }),
  'http-raw-body': option.bool({
    help: 'accepted for compatibility: request bodies (and WebSocket traffic) always stream to the app or upstream as they arrive',
  }),
  'websockets-ping-freq': option.seconds({
    help: 'ping each open WebSocket this often (keeps it alive through proxies, finds dead peers); 0 = never',
    default: 30,
    aliases: ['websocket-ping-freq'],
    departure: '0 turns the pings off (uWSGI would ping on every loop)',
  }),
  'websockets-pong-tolerance': option.seconds({
    help: 'drop a WebSocket whose pong has not come this long after a ping',
    default: 3,
    min: 1,
    aliases: ['websocket-pong-tolerance'],
  }),
  'websockets-max-size': option.int({
    help: 'largest WebSocket message a client may send (fragments joined), in KiB; a larger one closes the connection with 1009',
    default: 1024,
    min: 1,
    max: 16383,
    unit: 'KiB',
    aliases: ['websocket-max-size'],
  }),
  'websockets-idle-timeout': option.seconds({
    help: 'close (1001) a WebSocket with no message either way for this long; pings do not count; 0 = no limit',
    origin: 'extension',
  }),
  'websockets-max-lifetime': option.seconds({
    help: 'close (1001) a WebSocket open this long; 0 = no limit',
    origin: 'extension',
  }),
  'websockets-reload-mercy': option.seconds({
    help: 'how long WebSockets on a retiring worker (reload, recycling, stop) stay open before tsgi closes them (1012 on reload, 1001 on stop); new ones go to the new workers',
    default: 30,
    origin: 'extension',
  }),
} as const;

/** Largest response head accepted from an HTTP upstream, bytes (as the uwsgi client's). */
const UPSTREAM_HEAD_BYTES = 64 * 1024;

/** The largest header block node:http accepts by default, bytes; tsgi's HTTP default. */
const DEFAULT_HTTP_HEADER_BYTES = 16 * 1024;

/** The HTTP protocol plugin: server side (listeners) and client side (`http-client`, for upstreams). */
export const httpPlugin: PluginDescriptor<typeof httpOptions> = {
  id: 'protocol.http',
  name: 'http',
  aliases: ['http-socket'],
  kind: 'protocol',
  summary: 'HTTP/1.1 listeners (http-socket, http)',
  options: httpOptions,
  create({ options, config, log }) {
    const core = config.values(coreOptions);
    const listeners: ListenSpec[] = [];
    const noKeepAlive = new Set<string>();
    const add = (name: 'http-socket' | 'http11-socket' | 'http') => {
      const origins = config.origins(name);
      options[name].forEach((address, i) => {
        listeners.push({ proto: 'http', address, origin: origins[i] ?? null });
        if (name === 'http' && !options['http-keepalive']) noKeepAlive.add(address);
      });
    };
    add('http-socket');
    add('http11-socket');
    add('http');
    if (socketProtocol(config) === 'http')
      listeners.push(...listenSpecs(config, 'http', 'socket', core.socket));
    const client = new HttpUpstreamClient({
      connectTimeoutMs: core['socket-timeout'] * 1000,
      readTimeoutMs: options['http-timeout'] * 1000,
      maxHeadBytes: UPSTREAM_HEAD_BYTES,
    });
    const cleanup = async () => client.close();
    if (listeners.length === 0) return { provides: { 'http-client': client }, cleanup };
    if (options['websockets-reload-mercy'] >= core['worker-reload-mercy'])
      log.warn(
        `${formatOrigin(config.origin('websockets-reload-mercy'))}: websockets-reload-mercy (${options['websockets-reload-mercy']} s) is not below worker-reload-mercy (${core['worker-reload-mercy']} s): a retiring worker is killed before its WebSockets are closed cleanly`,
      );
    const edge = new HttpEdge(
      {
        listeners,
        noKeepAlive,
        maxHeaderBytes: config.has('buffer-size') ? core['buffer-size'] : DEFAULT_HTTP_HEADER_BYTES,
        limitPostBytes: core['limit-post'],
        timeoutMs: options['http-timeout'] * 1000,
        keepAliveMs: Math.min(options['http-timeout'], 5) * 1000,
        websockets: {
          maxMessageBytes: options['websockets-max-size'] * 1024,
          pingIntervalMs: options['websockets-ping-freq'] * 1000,
          pongToleranceMs: options['websockets-pong-tolerance'] * 1000,
          idleTimeoutMs: options['websockets-idle-timeout'] * 1000,
          maxLifetimeMs: options['websockets-max-lifetime'] * 1000,
          reloadMercyMs: options['websockets-reload-mercy'] * 1000,
        },
      },
      log,
    );
    return { provides: { edge, 'http-client': client }, cleanup };
  },
};
