import type { RouteContext } from '../rules/context.js';
import { BREAK, NEXT, type Verdict } from '../rules/rule.js';
import { type ActionFactory, ActionSyntaxError } from './action.js';

/**
 * `basicauth:REALM,USER:PASSWORD`, `basicauth:REALM,HTPASSWD-FILE` and `basicauth:REALM,` (always
 * refuse), as uWSGI's router_basicauth plugin: a request that already has REMOTE_USER passes; a
 * valid `Authorization: Basic` sets REMOTE_USER and goes on (NEXT); anything else is answered 401
 * with `WWW-Authenticate: Basic realm="REALM"`. `basicauth-next` goes on instead of answering 401
 * when credentials were given but are wrong (a request without any still gets 401, as in uWSGI).
 */
const basicauth =
  (next: boolean): ActionFactory =>
  (args, env) => {
    const comma = args.indexOf(',');
    if (comma === -1)
      throw new ActionSyntaxError(`basicauth: expected 'realm,user:password' or 'realm,file', got '${args}'`);
    const realm = args.slice(0, comma);
    const source = args.slice(comma + 1);
    const inline = source.includes(':');
    const challenge = ['WWW-Authenticate', `Basic realm="${realm}"`];
    const body = Buffer.from('Unauthorized');
    /** No usable credentials: 401 (even for basicauth-next, as uWSGI). */
    const challenge401 = (ctx: RouteContext): Verdict => {
      ctx.respond(401, 'Authorization Required', [...challenge], body);
      return BREAK;
    };
    /** Credentials given but wrong: 401, or the next rule for basicauth-next. */
    const refuse = (ctx: RouteContext): Verdict => (next ? NEXT : challenge401(ctx));
    const accept = (ctx: RouteContext, user: string): Verdict => {
      ctx.req.vars.set('REMOTE_USER', user);
      return NEXT;
    };
    return {
      name: next ? 'basicauth-next' : 'basicauth',
      run(ctx) {
        if ((ctx.variable('REMOTE_USER') ?? '') !== '') return NEXT;
        const header = ctx.variable('HTTP_AUTHORIZATION') ?? '';
        if (header.length <= 7 || source === '' || !header.startsWith('Basic ')) return challenge401(ctx);
        const creds = Buffer.from(header.slice(6).trim(), 'base64');
        if (creds.length === 0) return challenge401(ctx);
        const colon = creds.indexOf(0x3a);
        if (colon === -1) return refuse(ctx);
        const user = creds.subarray(0, colon).toString('latin1');
        if (inline) return creds.toString('latin1') === source ? accept(ctx, user) : refuse(ctx);
        return checkFile(ctx, user, creds.subarray(colon + 1)).then((ok) =>
          ok ? accept(ctx, user) : refuse(ctx),
        );
      },
    };

    async function checkFile(_ctx: RouteContext, user: string, password: Buffer): Promise<boolean> {
      const { htpasswd, verifier } = env.services;
      for (const [name, hash] of await htpasswd.entries(source)) {
        if (name !== user) continue;
        if (await verifier.check(password, hash)) return true;
      }
      return false;
    }
  };

export const AUTH_ACTIONS: ReadonlyMap<string, ActionFactory> = new Map([
  ['basicauth', basicauth(false)],
  ['basicauth-next', basicauth(true)],
]);
