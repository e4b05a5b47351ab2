import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ConfigError, type ConfigOrigin } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { parseAddress } from '../../core/net/address.js';
import { decodeSubscription, type SubscriptionPacket, SubscriptionPacketError } from './packet.js';

/**
 * A subscription server (uWSGI's `<router>-subscription-server`): a UDP socket that receives
 * subscribe and unsubscribe packets from nodes. Malformed datagrams are logged (rate-limited) and
 * dropped. uWSGI also accepts unix datagram sockets; Node's dgram has none, so a path is a config
 * error.
 */
export class SubscriptionServer {
  private socket: UdpSocket | null = null;
  private lastBadLogMs = Number.NEGATIVE_INFINITY;
  /** The bound address, `host:port` (set by `listen`). */
  bound = '';

  constructor(
    private readonly address: string,
    private readonly name: string,
    private readonly onPacket: (p: SubscriptionPacket) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Check an address as written (pure, for `create`).
   * @throws {ConfigError} TSGI_ERR_CONFIG_ADDRESS for a malformed address or a unix path.
   */
  static check(address: string, option: string, origin: ConfigOrigin | null): void {
    const a = parseAddress(address, option, origin);
    if (a.kind === 'unix')
      throw new ConfigError(
        'TSGI_ERR_CONFIG_ADDRESS',
        `unix datagram subscription servers are not supported, give host:port: '${address}'`,
        origin,
        option,
      );
  }

  /** Bind the UDP socket; resolves with the bound `host:port`. */
  listen(): Promise<string> {
    const a = parseAddress(this.address, `${this.name}-subscription-server`, null);
    if (a.kind !== 'tcp') throw new Error('unreachable: checked at create');
    const sock = createSocket(isIPv6(a.host) ? 'udp6' : 'udp4');
    this.socket = sock;
    sock.on('message', (msg) => this.onMessage(msg));
    return new Promise((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(a.port, a.host, () => {
        sock.removeListener('error', reject);
        sock.on('error', (err) => this.log.error(`tsgi: ${this.name} subscription server: ${err.message}`));
        const addr = sock.address();
        this.bound =
          addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
        this.log.info(`tsgi: ${this.name} subscription server on udp://${this.bound}`);
        resolve(this.bound);
      });
    });
  }

  close(): void {
    this.socket?.close();
    this.socket = null;
  }

  private onMessage(msg: Buffer): void {
    let p: SubscriptionPacket;
    try {
      p = decodeSubscription(msg);
    } catch (err) {
      if (!(err instanceof SubscriptionPacketError)) throw err;
      const now = performance.now();
      if (now - this.lastBadLogMs > 10_000) {
        this.lastBadLogMs = now;
        this.log.warn(`tsgi: ${this.name} subscription server: dropped a bad packet (${err.message})`);
      }
      return;
    }
    this.onPacket(p);
  }
}
