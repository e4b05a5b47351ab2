import { readFileSync } from 'node:fs';
import { keyvals } from '../actions/action.js';

/**
 * The client side of uWSGI subscriptions, as written in a vassal's config (core/subscription.c,
 * `uwsgi_subscribe` and `uwsgi_subscribe2`):
 * - `subscribe-to = [ADDRESS=]SERVER:PORT:KEY[,MODIFIER1[,SIGN]]`, or `SERVER:PORT:@FILE` with one
 *   `KEY[,MODIFIER1]` per line (`#` comments);
 * - `subscribe2 = server=SERVER:PORT,key=KEY[,addr=ADDRESS][,socket=N][,weight=W][,modifier1=M]
 *   [,modifier2=M][,check=FILE]` (announce only while FILE does not exist).
 */

/** One key to announce to one subscription server. */
export interface SubscribeTarget {
  /** `host:port` of the subscription server (UDP). */
  readonly server: string;
  readonly key: string;
  /** The node address to announce; null: this instance's uwsgi socket. */
  readonly address: string | null;
  /** Index of the uwsgi socket to announce when `address` is null (subscribe2 `socket=N`). */
  readonly socketIndex: number;
  readonly modifier1: number;
  readonly modifier2: number;
  /** Weight to announce; null: the instance's. */
  readonly weight: number | null;
  /** Announce only while this file does not exist (subscribe2 `check=`). */
  readonly check: string | null;
}

/** A subscription line that cannot be used; the message names the part. */
export class TargetSyntaxError extends Error {}

/** Parse a `subscribe-to` line (reading `@file` maps). @throws {TargetSyntaxError} */
export function parseSubscribeTo(line: string): SubscribeTarget[] {
  let rest = line.trim();
  let address: string | null = null;
  const eq = rest.indexOf('=');
  if (eq !== -1) {
    address = rest.slice(0, eq);
    rest = rest.slice(eq + 1);
  }
  if (rest.startsWith('/'))
    throw new TargetSyntaxError(`unix datagram subscription servers are not supported: '${rest}'`);
  const port = rest.indexOf(':');
  const keySep = port === -1 ? -1 : rest.indexOf(':', port + 1);
  if (keySep === -1) throw new TargetSyntaxError(`expected SERVER:PORT:KEY, got '${line}'`);
  const server = rest.slice(0, keySep);
  const spec = rest.slice(keySep + 1);
  const base = { server, address, socketIndex: 0, modifier2: 0, weight: null, check: null };
  if (spec.startsWith('@')) {
    let text: string;
    try {
      text = readFileSync(spec.slice(1), 'utf8');
    } catch (err) {
      throw new TargetSyntaxError(`cannot read the key file '${spec.slice(1)}': ${(err as Error).message}`);
    }
    return text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => ({ ...base, ...keyAndModifier(l) }));
  }
  return [{ ...base, ...keyAndModifier(spec) }];
}

function keyAndModifier(spec: string): { key: string; modifier1: number } {
  const [key = '', m1, sign] = spec.split(',', 3);
  if (!key) throw new TargetSyntaxError(`empty subscription key in '${spec}'`);
  if (sign) throw new TargetSyntaxError(`signed subscriptions are not supported: '${spec}'`);
  return { key, modifier1: Number.parseInt(m1 ?? '0', 10) || 0 };
}

const SUBSCRIBE2_KEYS = [
  'server',
  'key',
  'socket',
  'addr',
  'weight',
  'modifier1',
  'modifier2',
  'sign',
  'check',
  'sni_key',
  'sni_crt',
  'sni_ca',
];

/** Parse a `subscribe2` line. @throws {TargetSyntaxError} */
export function parseSubscribe2(line: string): SubscribeTarget {
  let kv: Map<string, string>;
  try {
    kv = keyvals(line, SUBSCRIBE2_KEYS, 'subscribe2');
  } catch (err) {
    throw new TargetSyntaxError((err as Error).message);
  }
  const server = kv.get('server');
  const key = kv.get('key');
  if (!server || !key) throw new TargetSyntaxError('subscribe2 needs server=... and key=...');
  if (server.startsWith('/'))
    throw new TargetSyntaxError(`unix datagram subscription servers are not supported: '${server}'`);
  for (const k of ['sign', 'sni_key', 'sni_crt', 'sni_ca'])
    if (kv.has(k))
      throw new TargetSyntaxError(`subscribe2 ${k}= (signed or SNI subscriptions) is not supported`);
  const int = (k: string) => Number.parseInt(kv.get(k) ?? '0', 10) || 0;
  return {
    server,
    key,
    address: kv.get('addr') ?? null,
    socketIndex: int('socket'),
    modifier1: int('modifier1'),
    modifier2: int('modifier2'),
    weight: kv.has('weight') ? int('weight') : null,
    check: kv.get('check') ?? null,
  };
}
