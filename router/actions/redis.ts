import { BREAK, NEXT, type Verdict } from '../rules/rule.js';
import { Template } from '../rules/template.js';
import { type ActionFactory, ActionSyntaxError, keyvals } from './action.js';

/**
 * `redis:addr=HOST:PORT,key=KEY[,content_type=TYPE]` (uWSGI's router_redis): answer with the value of
 * a Redis key (200, the content type, default text/html); a missing or empty key, or Redis being
 * unreachable, goes on with the next rule.
 */
const redisAction: ActionFactory = (args, env) => {
  const kv = keyvals(args, ['addr', 'key', 'content_type', 'no_offload'], 'redis');
  const addr = kv.get('addr');
  const key = kv.get('key');
  if (!addr || !key) throw new ActionSyntaxError('redis: you need to give addr=... and key=...');
  const addrT = Template.of(addr);
  const keyT = Template.of(key);
  const type = kv.get('content_type') ?? 'text/html';
  return {
    name: 'redis',
    async run(ctx): Promise<Verdict> {
      let value: Buffer | null;
      try {
        value = await env.services.redis.get(addrT.expand(ctx)).getBuffer(keyT.expand(ctx));
      } catch {
        return NEXT;
      }
      if (!value || value.length === 0) return NEXT;
      ctx.respond(200, 'OK', ['Content-Type', type], value);
      return BREAK;
    },
  };
};

export const REDIS_ACTIONS: ReadonlyMap<string, ActionFactory> = new Map([['redis', redisAction]]);
