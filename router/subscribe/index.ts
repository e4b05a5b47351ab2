import diagnostics_channel from 'node:diagnostics_channel';
import { coreOptions } from '../../core/config/core-options.js';
import { option } from '../../core/config/option.js';
import { ConfigError } from '../../core/errors.js';
import { channels, type MasterLifecycleEvent } from '../../core/master/events.js';
import type { PluginDescriptor } from '../../core/plugin/types.js';
import { Announcer } from './announcer.js';
import { parseSubscribe2, parseSubscribeTo, type SubscribeTarget, TargetSyntaxError } from './targets.js';

/** Options of the subscription client (uWSGI's core subscription options). */
export const subscribeOptions = {
  'subscribe-to': option.strings({
    help: 'announce this instance to a subscription server: `[ADDRESS=]SERVER:PORT:KEY[,MODIFIER1]` (or `:@FILE` of keys)',
    aliases: ['subscribe'],
  }),
  subscribe2: option.strings({
    help: 'announce with key=value syntax: `server=...,key=...[,addr=...][,socket=N][,weight=W][,modifier1=M][,modifier2=M][,check=FILE]`',
  }),
  'subscribe-freq': option.seconds({ help: 'send the announce again this often', default: 10, min: 1 }),
  'unsubscribe-on-graceful-reload': option.bool({ help: 'unsubscribe during a graceful reload too' }),
  'subscribe-with-modifier1': option.int({
    help: 'announce this modifier1 whatever the subscription line says',
    min: 0,
    max: 255,
  }),
  weight: option.int({
    help: 'weight announced to subscription servers (share of requests)',
    default: 1,
    min: 0,
  }),
  'auto-weight': option.bool({ help: 'announce a weight of processes × cores' }),
} as const;

/**
 * The subscription client: a vassal with `subscribe-to` or `subscribe2` announces its uwsgi socket
 * to front routers (tsgi's or uWSGI's) once it is ready, every `subscribe-freq` seconds after, and
 * unsubscribes when it stops (not on a graceful reload, unless `unsubscribe-on-graceful-reload`).
 */
export const subscribePlugin: PluginDescriptor<typeof subscribeOptions> = {
  id: 'router.subscribe',
  name: 'subscription',
  kind: 'router',
  summary: 'subscription client: announce this instance to front routers',
  options: subscribeOptions,
  create({ options, config, log }) {
    const targets: SubscribeTarget[] = [];
    const add = (
      name: 'subscribe-to' | 'subscribe2',
      parse: (l: string) => SubscribeTarget | SubscribeTarget[],
    ) =>
      options[name].forEach((line, i) => {
        try {
          targets.push(...[parse(line)].flat());
        } catch (err) {
          if (!(err instanceof TargetSyntaxError)) throw err;
          throw new ConfigError(
            'TSGI_ERR_CONFIG_SUBSCRIPTION',
            err.message,
            config.origins(name)[i] ?? null,
            name,
          );
        }
      });
    add('subscribe-to', parseSubscribeTo);
    add('subscribe2', parseSubscribe2);
    if (targets.length === 0) return { provides: {} };
    const core = config.values(coreOptions);
    const needsSocket = targets.some((t) => t.address === null);
    if (needsSocket && core.socket.length === 0 && !config.has('uwsgi-socket'))
      throw new ConfigError(
        'TSGI_ERR_CONFIG_SUBSCRIPTION',
        'subscribing needs a uwsgi socket to announce (socket = ...), or an address (ADDRESS=SERVER:PORT:KEY, subscribe2 addr=)',
        config.origin('subscribe-to') ?? config.origin('subscribe2'),
        config.has('subscribe-to') ? 'subscribe-to' : 'subscribe2',
      );
    const cores = core.processes;
    const announcer = new Announcer(
      targets,
      {
        freqMs: options['subscribe-freq'] * 1000,
        weight: options['auto-weight'] ? cores : options.weight,
        cores,
        modifier1: config.has('subscribe-with-modifier1') ? options['subscribe-with-modifier1'] : null,
      },
      log,
    );
    const unsubscribeOnReload = options['unsubscribe-on-graceful-reload'];
    /** Set when the instance stops (the unsubscribes are on their way). */
    let stopped: Promise<void> | null = null;
    const onLifecycle = (msg: unknown) => {
      const ev = msg as MasterLifecycleEvent;
      if ((ev.phase === 'ready' || ev.phase === 'reloaded' || ev.phase === 'chain-reloaded') && ev.listeners)
        announcer.start(ev.listeners);
      else if (ev.phase === 'stopping') stopped ??= announcer.stop(true);
    };
    return {
      provides: {},
      async provision() {
        diagnostics_channel.subscribe(channels.lifecycle.name, onLifecycle);
      },
      async cleanup() {
        diagnostics_channel.unsubscribe(channels.lifecycle.name, onLifecycle);
        await (stopped ?? announcer.stop(unsubscribeOnReload));
      },
    };
  },
};
