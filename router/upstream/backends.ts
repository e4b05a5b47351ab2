import type { ContractLookup } from '../../core/plugin/types.js';
import type { Backends } from './proxy.js';

/**
 * The upstream clients this instance has, by protocol, from the protocol plugins' contracts
 * (`http-client` from the http plugin). A protocol whose plugin is absent has no client: proxying to
 * one of its nodes answers 502 naming it.
 */
export function backendsFrom(registry: ContractLookup): Backends {
  const http = registry.all('http-client')[0]?.contract;
  return { ...(http ? { http } : {}) };
}
