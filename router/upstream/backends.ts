import type { ContractLookup } from '../../core/plugin/types.js';
import type { Backends } from './proxy.js';

/**
 * The upstream clients this instance has, by protocol, from the protocol plugins' contracts
 * (`http-client`, `uwsgi-client`, `fastcgi-client`). A protocol whose plugin is absent has no
 * client: proxying to one of its nodes answers 502 naming it.
 */
export function backendsFrom(registry: ContractLookup): Backends {
  const out: Backends = {};
  const http = registry.all('http-client')[0]?.contract;
  const uwsgi = registry.all('uwsgi-client')[0]?.contract;
  const fastcgi = registry.all('fastcgi-client')[0]?.contract;
  if (http) out.http = http;
  if (uwsgi) out.uwsgi = uwsgi;
  if (fastcgi) out.fastcgi = fastcgi;
  return out;
}
