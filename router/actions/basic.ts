import { statusReason } from '../http-status.js';
import type { RouteContext } from '../rules/context.js';
import { type Action, BREAK, CONTINUE, NEXT, type Verdict } from '../rules/rule.js';
import { Template } from '../rules/template.js';
import { uwsgiUrlDecode } from '../rules/url.js';
import { type ActionFactory, ActionSyntaxError } from './action.js';

/**
 * The actions built into uWSGI's core and its rewrite/redirect plugins (core/routing.c,
 * plugins/router_rewrite, plugins/router_redirect of uWSGI 2.0): flow control, logging, request
 * vars, response headers, rewrites and redirects.
 */

const always =
  (verdict: Verdict): ActionFactory =>
  (_args, _env) => ({ name: 'flow', run: () => verdict });

/** `break[:STATUS [REASON]]`: end the request; with a status, answer it with an empty text/plain page. */
const breakAction: ActionFactory = (args) => {
  if (args.length < 3) return { name: 'break', run: () => BREAK };
  const { status, reason } = statusLine(args, 'break');
  return {
    name: 'break',
    run(ctx) {
      ctx.respond(status, reason, ['Connection', 'close', 'Content-Type', 'text/plain'], null);
      return BREAK;
    },
  };
};

/** `return:STATUS` (`break-with-status`): answer with the status and its reason as a text/plain body. */
const returnAction: ActionFactory = (args) => {
  const status = Number(args.slice(0, 3));
  const reason = /^\d{3}/.test(args) ? statusReason(status) : undefined;
  if (!reason) throw new ActionSyntaxError(`return: '${args}' is not a status code uWSGI knows`);
  const body = Buffer.from(reason, 'latin1');
  return {
    name: 'return',
    run(ctx) {
      ctx.respond(status, reason, ['Content-Type', 'text/plain'], body);
      return BREAK;
    },
  };
};

/** `goto:LABEL` (or a rule number): jump forward in the current chain. */
const gotoAction: ActionFactory = (args, env) => {
  const target = Template.of(args);
  const numeric = Number.parseInt(args, 10) || 0;
  return {
    name: 'goto',
    run(ctx) {
      const name = target.expand(ctx);
      const pos = env.labels.get(name) ?? numeric;
      if (pos <= ctx.pc) {
        ctx.log.error(`[uwsgi-route] ERROR "goto" instruction can only jump forward (check your label !!!)`);
        return BREAK;
      }
      ctx.gotoPos = pos;
      return NEXT;
    },
  };
};

const logAction: ActionFactory = (args) => {
  const msg = Template.of(args);
  return {
    name: 'log',
    run(ctx) {
      ctx.log.info(msg.expand(ctx));
      return NEXT;
    },
  };
};

/** `addvar:KEY=VALUE`: set a request var (the app sees it in its environ). */
const addvarAction: ActionFactory = (args) => {
  const eq = args.indexOf('=');
  if (eq <= 0) throw new ActionSyntaxError(`addvar: expected KEY=VALUE, got '${args}'`);
  return setVar('addvar', args.slice(0, eq), args.slice(eq + 1));
};

/** The `set*` actions: each sets one request var to the expanded argument. */
const setter =
  (name: string, variable: string): ActionFactory =>
  (args) =>
    setVar(name, variable, args);

function setVar(name: string, variable: string, value: string): Action {
  const t = Template.of(value);
  return {
    name,
    run(ctx: RouteContext) {
      ctx.req.vars.set(variable, t.expand(ctx));
      return NEXT;
    },
  };
}

/** `setuser:USER[:anything]`: REMOTE_USER up to the first colon. */
const setuserAction: ActionFactory = (args) => {
  const t = Template.of(args);
  return {
    name: 'setuser',
    run(ctx) {
      const v = t.expand(ctx);
      const colon = v.indexOf(':');
      ctx.req.vars.set('REMOTE_USER', colon === -1 ? v : v.slice(0, colon));
      return NEXT;
    },
  };
};

/** `fixpathinfo`: strip SCRIPT_NAME's length from the front of PATH_INFO. */
const fixpathinfoAction: ActionFactory = () => ({
  name: 'fixpathinfo',
  run(ctx) {
    const sn = ctx.variable('SCRIPT_NAME') ?? '';
    if (sn.length > 0) ctx.req.vars.set('PATH_INFO', (ctx.variable('PATH_INFO') ?? '').slice(sn.length));
    return NEXT;
  },
});

/** `addheader:Name: value`: a response header (added after the app's). */
const addheaderAction: ActionFactory = (args) => {
  const t = Template.of(args);
  if (t.isConstant && args.indexOf(':') <= 0)
    throw new ActionSyntaxError(`addheader: expected 'Name: value', got '${args}'`);
  return {
    name: 'addheader',
    run(ctx) {
      ctx.extraHeaders.push(t.expand(ctx));
      return NEXT;
    },
  };
};

/** `delheader:Name` / `remheader:Name`: drop a response header (case-insensitive). */
const delheaderAction: ActionFactory = (args) => {
  const t = Template.of(args);
  return {
    name: 'delheader',
    run(ctx) {
      ctx.removedHeaders.push(t.expand(ctx).toLowerCase());
      return NEXT;
    },
  };
};

/**
 * `rewrite:/new/path[?query]`: a new PATH_INFO (decoded the way uWSGI decodes a request path) and
 * QUERY_STRING (the new query, then `&` and the old one); REQUEST_URI is unchanged. `rewrite-last`
 * also stops routing (CONTINUE).
 */
const rewriteAction =
  (last: boolean): ActionFactory =>
  (args) => {
    const t = Template.of(args);
    return {
      name: last ? 'rewrite-last' : 'rewrite',
      run(ctx) {
        const target = t.expand(ctx);
        const q = target.indexOf('?');
        const oldQs = ctx.variable('QUERY_STRING') ?? '';
        let qs = oldQs;
        if (q !== -1) {
          const newQs = target.slice(q + 1);
          qs = oldQs.length > 0 ? `${newQs}&${oldQs}` : newQs;
        }
        ctx.req.vars.set('PATH_INFO', uwsgiUrlDecode(q === -1 ? target : target.slice(0, q)));
        ctx.req.vars.set('QUERY_STRING', qs);
        return last ? CONTINUE : NEXT;
      },
    };
  };

/** `redirect:URL` (302) and `redirect-permanent:URL` (301): answer with a Location. */
const redirectAction =
  (status: 301 | 302): ActionFactory =>
  (args) => {
    const t = Template.of(args);
    const body = Buffer.from(status === 302 ? 'Moved' : 'Moved Permanently');
    return {
      name: status === 302 ? 'redirect' : 'redirect-permanent',
      run(ctx) {
        ctx.respond(status, null, ['Location', t.expand(ctx)], body);
        return BREAK;
      },
    };
  };

/** Parse `NNN` or `NNN reason` the way uWSGI's `uwsgi_response_prepare_headers` reads a status. */
function statusLine(text: string, what: string): { status: number; reason: string } {
  if (!/^\d{3}/.test(text))
    throw new ActionSyntaxError(`${what}: '${text}' does not start with a status code`);
  const status = Number(text.slice(0, 3));
  if (status < 100) throw new ActionSyntaxError(`${what}: '${text.slice(0, 3)}' is not an HTTP status`);
  const reason = text.length <= 4 ? (statusReason(status) ?? 'Unknown') : text.slice(4);
  return { status, reason };
}

/** Flow, logging, vars, headers, rewrites and redirects, by action name. */
export const BASIC_ACTIONS: ReadonlyMap<string, ActionFactory> = new Map<string, ActionFactory>([
  ['continue', always(CONTINUE)],
  ['last', always(CONTINUE)],
  ['break', breakAction],
  ['return', returnAction],
  ['break-with-status', returnAction],
  ['goto', gotoAction],
  ['log', logAction],
  ['donotlog', always(NEXT)],
  ['donotoffload', always(NEXT)],
  ['addvar', addvarAction],
  ['seturi', setter('seturi', 'REQUEST_URI')],
  ['setpathinfo', setter('setpathinfo', 'PATH_INFO')],
  ['setscriptname', setter('setscriptname', 'SCRIPT_NAME')],
  ['setmethod', setter('setmethod', 'REQUEST_METHOD')],
  ['setremoteaddr', setter('setremoteaddr', 'REMOTE_ADDR')],
  ['setdocroot', setter('setdocroot', 'DOCUMENT_ROOT')],
  ['setscheme', setter('setscheme', 'UWSGI_SCHEME')],
  ['setapp', setter('setapp', 'UWSGI_APPID')],
  ['sethome', setter('sethome', 'UWSGI_HOME')],
  ['setuser', setuserAction],
  ['fixpathinfo', fixpathinfoAction],
  ['addheader', addheaderAction],
  ['delheader', delheaderAction],
  ['remheader', delheaderAction],
  ['rewrite', rewriteAction(false)],
  ['rewrite-last', rewriteAction(true)],
  ['redirect', redirectAction(302)],
  ['redirect-302', redirectAction(302)],
  ['redirect-permanent', redirectAction(301)],
  ['redirect-301', redirectAction(301)],
]);

/** uWSGI actions tsgi does not implement, named in the error instead of "unknown action". */
export const UNSUPPORTED_ACTIONS: readonly string[] = [
  'logvar',
  'clearheaders',
  'resetheaders',
  'disableheaders',
  'signal',
  'send',
  'send-crnl',
  'chdir',
  'setfile',
  'setprocname',
  'alarm',
  'setmodifier1',
  'setmodifier2',
  '+',
  '-',
  '*',
  '/',
  'flush',
  'fixcl',
  'forcecl',
  'harakiri',
  'cache',
  'cachestore',
  'cache-store',
  'memcached',
  'memcachedstore',
  'rpc',
  'xmldir',
  'gzip',
  'chunked',
  'template',
  'toupper',
  'tofile',
  'to-file',
  'offload',
  'ldapauth',
  'radius',
  'spnego',
  'access',
  'cgi',
  'httpconnect',
  'proxyhttpconnect',
  'httpdumb',
  'redisstore',
  'redis-store',
  'expires',
  'hash',
];
