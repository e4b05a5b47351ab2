import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import type { Logger } from '../../core/log/logger.js';
import type { ListenerInfo } from '../../core/plugin/types.js';
import { encodeSubscription, type Subscription } from '../subscription/packet.js';
import type { SubscribeTarget } from './targets.js';

/**
 * A vassal announcing itself to subscription servers (uWSGI's `uwsgi_subscribe_all`): a subscribe
 * packet per target once the instance is ready and every `subscribe-freq` seconds after, an
 * unsubscribe when it stops. The announced address is the target's own, else this instance's uwsgi
 * socket as bound (the real port when it was `:0`).
 */
export class Announcer {
  private socket: UdpSocket | null = null;
  private timer: NodeJS.Timeout | null = null;
  private subs: Array<{ target: SubscribeTarget; sub: Subscription }> = [];

  constructor(
    private readonly targets: readonly SubscribeTarget[],
    private readonly settings: {
      readonly freqMs: number;
      readonly weight: number;
      readonly cores: number;
      readonly modifier1: number | null;
    },
    private readonly log: Logger,
  ) {}

  get running(): boolean {
    return this.timer !== null;
  }

  /** Start announcing, with the instance's bound listeners. */
  start(listeners: readonly ListenerInfo[]): void {
    if (this.timer) return;
    const sockets = listeners.filter((l) => l.proto === 'uwsgi');
    this.subs = [];
    for (const t of this.targets) {
      const address = t.address ?? sockets[t.socketIndex]?.bound ?? null;
      if (!address) {
        this.log.error(
          `tsgi: cannot subscribe to ${t.server} for ${t.key}: no uwsgi socket #${t.socketIndex} is bound`,
        );
        continue;
      }
      this.subs.push({
        target: t,
        sub: {
          key: t.key,
          address,
          modifier1: this.settings.modifier1 ?? t.modifier1,
          modifier2: t.modifier2,
          cores: this.settings.cores,
          load: 0,
          weight: t.weight ?? this.settings.weight,
        },
      });
      this.log.info(`tsgi: subscribing to ${t.server}:${t.key} as ${address}`);
    }
    this.socket = createSocket('udp4');
    this.socket.on('error', (err) => this.log.warn(`tsgi: subscription announce failed: ${err.message}`));
    this.socket.unref();
    this.announce('subscribe');
    this.timer = setInterval(() => this.announce('subscribe'), this.settings.freqMs);
    this.timer.unref();
  }

  /** Stop announcing; with `unsubscribe`, tell every server first. Resolves once sent. */
  async stop(unsubscribe: boolean): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const sock = this.socket;
    this.socket = null;
    if (!sock) return;
    if (unsubscribe) {
      for (const s of this.subs) this.log.info(`tsgi: unsubscribing from ${s.target.server}:${s.target.key}`);
      await Promise.all(
        this.subs.map((s) => send(sock, s.target.server, encodeSubscription('unsubscribe', s.sub))),
      );
    }
    sock.close();
  }

  private announce(kind: 'subscribe' | 'unsubscribe'): void {
    const sock = this.socket;
    if (!sock) return;
    for (const s of this.subs) {
      if (s.target.check && existsSync(s.target.check)) continue;
      void send(sock, s.target.server, encodeSubscription(kind, s.sub));
    }
  }
}

/** Send one datagram to `host:port`; errors are reported through the socket's error event. */
function send(sock: UdpSocket, server: string, packet: Buffer): Promise<void> {
  const colon = server.lastIndexOf(':');
  let host = server.slice(0, colon).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') host = '127.0.0.1';
  const port = Number(server.slice(colon + 1));
  return new Promise((resolve) => sock.send(packet, port, host, () => resolve()));
}
