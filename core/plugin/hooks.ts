import type { TsgiRequest } from '../request/request.js';
import { type ResponseSink, sendError } from '../request/sink.js';
import type { HookVerdict, RequestHandler, RequestHook } from './types.js';

/**
 * Run the request hooks in order, then hand the request to `next` (dispatch to a worker) unless a
 * hook answered it. A hook may decide synchronously or return a promise (the chain resumes when it
 * settles); a hook may also pass the request on with a wrapped sink, which later hooks and `next`
 * answer through. A hook whose promise rejects (a bug: hooks handle their own errors) costs the
 * request a 500.
 */
export function runRequestHooks(
  hooks: readonly RequestHook[],
  req: TsgiRequest,
  sink: ResponseSink,
  next: RequestHandler,
  from = 0,
): void {
  let out = sink;
  for (let i = from; i < hooks.length; i++) {
    const verdict = hooks[i]!.onRequest(req, out);
    if (verdict === 'continue') continue;
    if (verdict === 'handled') return;
    if (verdict instanceof Promise) {
      const sinkNow = out;
      verdict.then(
        (v) => resume(hooks, req, sinkNow, next, v, i + 1),
        (err: unknown) => sendError(sinkNow, 500, `request hook failed: ${(err as Error)?.message ?? err}`),
      );
      return;
    }
    out = verdict.sink;
  }
  next(req, out);
}

function resume(
  hooks: readonly RequestHook[],
  req: TsgiRequest,
  sink: ResponseSink,
  next: RequestHandler,
  verdict: HookVerdict,
  from: number,
): void {
  if (verdict === 'handled') return;
  runRequestHooks(hooks, req, verdict === 'continue' ? sink : verdict.sink, next, from);
}
