import { TsgiError } from '../../core/errors.js';
import { decodeHeader, decodeVars, encodePacket, UWSGI_HEADER_BYTES } from '../../plugins/uwsgi/codec.js';

/**
 * uWSGI subscription packets (core/subscription.c, plugins/corerouter/cr_common.c): a uwsgi packet
 * with modifier1 224 and modifier2 0 (subscribe) or 1 (unsubscribe), whose vars are `key` (the
 * virtual host, `example.com` or `example.com:8080`), `address` (the node's uwsgi socket),
 * `modifier1`, `modifier2`, `cores`, `load`, `weight`, and optionally `notify`, `sign`, `unix` and
 * the SNI vars (accepted, not used).
 */

/** modifier1 of subscription packets. */
export const SUBSCRIPTION_MODIFIER1 = 224;

/** One node announcing itself for a key. */
export interface Subscription {
  readonly key: string;
  readonly address: string;
  readonly modifier1: number;
  readonly modifier2: number;
  readonly cores: number;
  readonly load: number;
  /** Relative share of requests; uWSGI treats 0 as 1. */
  readonly weight: number;
}

/** A decoded packet. */
export interface SubscriptionPacket {
  readonly kind: 'subscribe' | 'unsubscribe';
  readonly subscription: Subscription;
}

/** A datagram that is not a valid subscription packet. */
export class SubscriptionPacketError extends TsgiError {}

/** uWSGI's `uwsgi_str_num`: the leading digits, 0 when none. */
function num(v: string | undefined): number {
  const m = /^\d+/.exec(v ?? '');
  return m ? Number(m[0]) : 0;
}

/**
 * Decode one datagram.
 * @throws {SubscriptionPacketError} TSGI_ERR_SUBSCRIPTION_PACKET for a short or malformed packet, a
 *   modifier1 other than 224, or a missing key/address (uWSGI also refuses keys and addresses over
 *   255 bytes).
 */
export function decodeSubscription(buf: Buffer): SubscriptionPacket {
  const bad = (why: string) => new SubscriptionPacketError('TSGI_ERR_SUBSCRIPTION_PACKET', why);
  if (buf.length < UWSGI_HEADER_BYTES) throw bad(`a packet of ${buf.length} bytes is too short`);
  const h = decodeHeader(buf);
  if (h.modifier1 !== SUBSCRIPTION_MODIFIER1)
    throw bad(`modifier1 ${h.modifier1} is not a subscription (224)`);
  let vars: Map<string, string>;
  try {
    vars = decodeVars(buf, UWSGI_HEADER_BYTES, Math.min(buf.length, UWSGI_HEADER_BYTES + h.datasize));
  } catch (err) {
    throw bad(`malformed vars: ${(err as Error).message}`);
  }
  const key = vars.get('key') ?? '';
  const address = vars.get('address') ?? '';
  if (!key || key.length > 255) throw bad('the key is missing or longer than 255 bytes');
  if (!address || address.length > 255) throw bad('the address is missing or longer than 255 bytes');
  const weight = num(vars.get('weight'));
  return {
    kind: h.modifier2 === 0 ? 'subscribe' : 'unsubscribe',
    subscription: {
      key,
      address,
      modifier1: num(vars.get('modifier1')),
      modifier2: num(vars.get('modifier2')),
      cores: num(vars.get('cores')),
      load: num(vars.get('load')),
      weight: weight > 0 ? weight : 1,
    },
  };
}

/** Encode a subscribe or unsubscribe packet, vars in uWSGI's order. */
export function encodeSubscription(kind: SubscriptionPacket['kind'], s: Subscription): Buffer {
  return encodePacket(
    [
      ['key', s.key],
      ['address', s.address],
      ['modifier1', String(s.modifier1)],
      ['modifier2', String(s.modifier2)],
      ['cores', String(s.cores)],
      ['load', String(s.load)],
      ['weight', String(s.weight)],
    ],
    SUBSCRIPTION_MODIFIER1,
    kind === 'subscribe' ? 0 : 1,
  );
}
