import type { RouteContext } from '../rules/context.js';
import { mimeOf } from '../rules/route-vars.js';
import { BREAK, NEXT, type Verdict } from '../rules/rule.js';
import { Template } from '../rules/template.js';
import { findFile, sendFile, staticMethod, streamFile } from '../static/files.js';
import { type ActionFactory, ActionSyntaxError, keyvals } from './action.js';

/**
 * File-serving actions of uWSGI's router_static plugin: `static:PATH` (served like static-map: 304,
 * Range, Last-Modified) and `file:`, `sendfile:`, `fastfile:` with `filename=...,status=...,
 * content_type=...,mime=1,no_cl=1,no_headers=1` (a plain 200 with the file). Each has a `-next`
 * form that goes on with the next rule when the file is not served.
 *
 * tsgi refuses a file whose realpath differs from the expanded name (a `..` segment, a symlink on
 * the way) unless it is under a `static-safe` path: uWSGI checks this for `static:` only; for the
 * others it is a tsgi departure. A refused file is 403, a missing one 404 (uWSGI closes the
 * connection without a response in both cases), unless the `-next` form goes on.
 */

const staticAction =
  (next: boolean): ActionFactory =>
  (args, env) => {
    const path = Template.of(args);
    return {
      name: next ? 'static-next' : 'static',
      async run(ctx): Promise<Verdict> {
        const settings = env.services.staticSettings;
        const found = staticMethod(ctx.req) ? await findFile(path.expand(ctx), null, settings) : 'missing';
        if (typeof found !== 'string') {
          ctx.answered = true;
          await sendFile(ctx.req, ctx.sink, found, settings);
          return BREAK;
        }
        return notServed(ctx, found, next);
      },
    };
  };

const FILE_KEYS = [
  'filename',
  'status',
  'content_type',
  'nocl',
  'no_cl',
  'no_content_length',
  'mime',
  'no_headers',
];

/** `file:` / `sendfile:` / `fastfile:` (the same to tsgi: the file streams with backpressure). */
const fileAction =
  (name: string, next: boolean): ActionFactory =>
  (args, env) => {
    const kv = keyvals(args, FILE_KEYS, name);
    const filename = kv.get('filename');
    if (!filename) throw new ActionSyntaxError(`${name}: a filename=... is required`);
    const file = Template.of(filename);
    const status = Template.of(kv.get('status') ?? '200 OK');
    const contentType = kv.get('content_type') ?? 'text/html';
    const noLength = kv.has('nocl') || kv.has('no_cl') || kv.has('no_content_length');
    const useMime = kv.has('mime');
    return {
      name: next ? `${name}-next` : name,
      async run(ctx): Promise<Verdict> {
        const path = file.expand(ctx);
        const found = await findFile(path, null, env.services.staticSettings);
        if (typeof found === 'string') return notServed(ctx, found, next);
        const line = status.expand(ctx);
        const code = Number(line.slice(0, 3));
        const headers = ['Content-Type', (useMime && mimeOf(path)) || contentType];
        if (!noLength) headers.push('Content-Length', String(found.size));
        ctx.answered = true;
        const head = { status: code >= 100 && code < 1000 ? code : 200, reason: line.slice(4), headers };
        await streamFile(ctx.req, ctx.sink, found.path, head, 0, found.size);
        return BREAK;
      },
    };
  };

function notServed(ctx: RouteContext, why: 'missing' | 'forbidden', next: boolean): Verdict {
  if (next) return NEXT;
  if (why === 'forbidden')
    ctx.log.warn(
      `[uwsgi-fileserve] security error: refused a path outside its root for ${ctx.variable('REQUEST_URI') ?? ''}`,
    );
  ctx.respond(
    why === 'forbidden' ? 403 : 404,
    null,
    ['Content-Type', 'text/plain'],
    Buffer.from(why === 'forbidden' ? 'Forbidden\n' : 'Not Found\n'),
  );
  return BREAK;
}

export const FILE_ACTIONS: ReadonlyMap<string, ActionFactory> = new Map([
  ['static', staticAction(false)],
  ['static-next', staticAction(true)],
  ['file', fileAction('file', false)],
  ['file-next', fileAction('file', true)],
  ['sendfile', fileAction('sendfile', false)],
  ['sendfile-next', fileAction('sendfile', true)],
  ['fastfile', fileAction('fastfile', false)],
  ['fastfile-next', fileAction('fastfile', true)],
]);
