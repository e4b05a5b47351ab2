import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { RequestError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import type { StreamOutcome } from '../../core/plugin/types.js';
import { percentDecode } from '../../core/request/cgi.js';
import { type CgiHead, CgiHeadReader } from '../../core/request/cgi-head.js';
import type { TsgiRequest } from '../../core/request/request.js';
import { utf8Text } from '../../core/request/script-path.js';
import type { ResponseSink } from '../../core/request/sink.js';
import { Exchange, UpstreamError } from '../../core/request/upstream.js';
import { dieWithParent } from '../../core/transport/parent-death.js';
import { scriptEnv, searchWords } from './env.js';
import { type CgiMapConfig, type CgiScript, mapScript } from './map.js';

/** What every script run of an instance shares. */
export interface CgiSettings {
  readonly map: CgiMapConfig;
  /** `cgi-unset` names. */
  readonly unset: readonly string[];
  /** `cgi-timeout`: the script is killed when it sends nothing for this long, ms. */
  readonly timeoutMs: number;
  /** `cgi-buffer-size`: largest response head, bytes. */
  readonly maxHeadBytes: number;
  /** The worker environment (master's plus `env =`). */
  readonly env: NodeJS.ProcessEnv;
  /** The instance log's fd: the scripts' stderr. */
  readonly logFd: number;
  readonly log: Logger;
}

/** Local redirects (RFC 3875 §6.2.2) followed for one request at most. */
export const MAX_LOCAL_REDIRECTS = 10;

/** Response headers of a script that describe the connection, not the response (the edge frames it). */
const HOP = /^(connection|keep-alive|transfer-encoding|proxy-connection|trailer|upgrade)$/i;

/**
 * One request served by CGI scripts: the request path mapped to a script, the script run in its
 * own process group (`setsid`) with the RFC 3875 environment, the body on its stdin, its stdout
 * read as a CGI response (`Status:`, `Location:`, or an `HTTP/` status line for `nph-` scripts) and
 * streamed to the client with backpressure, its stderr straight into the instance log. A local
 * redirect (`Location: /path` alone) runs the script that path maps to, as a GET. `cgi-timeout`
 * (nothing from the script for that long; the time the client takes to read does not count) and
 * the client leaving kill the whole process group. The shared {@link Exchange} answers the client
 * exactly once and keeps the request's counters.
 */
export class CgiRun {
  private readonly x: Exchange;
  private child: ChildProcess | null = null;
  /** Process group of the running script (its pid, as it runs in its own session); 0 when none. */
  private group = 0;
  /** The script being run, for log lines. */
  private script = '';
  private readonly aborter = new AbortController();

  /** @param done called once, when the response is over and no process of this run is left */
  constructor(
    private readonly req: TsgiRequest,
    sink: ResponseSink,
    private readonly s: CgiSettings,
    private readonly done: (outcome: StreamOutcome) => void,
  ) {
    this.x = new Exchange(req, sink, s.timeoutMs, 'the CGI script', this.aborter.signal, () =>
      this.killGroup('SIGKILL'),
    );
  }

  /** The running script's pid (0 between scripts). */
  get pid(): number {
    return this.child?.pid ?? 0;
  }

  /** Serve the request; `done` follows once no process of it is left. */
  start(): void {
    this.serve()
      .catch((err: unknown) => {
        this.x.error(new UpstreamError('TSGI_ERR_CGI', 500, `CGI failure: ${(err as Error).message}`));
        return 'worker-error' as const;
      })
      .then(async (outcome) => {
        if (!this.x.done)
          this.x.error(new UpstreamError('TSGI_ERR_CGI', 502, 'the CGI script gave no response'));
        const r = await this.x.result;
        if (r.error?.code === 'TSGI_ERR_UPSTREAM_TIMEOUT')
          this.s.log.warn(
            `tsgi: cgi-timeout: ${this.script} sent nothing for ${this.s.timeoutMs / 1000} s; its process group was killed`,
          );
        this.done(r.outcome === 'upstream-error' && outcome === 'complete' ? 'worker-error' : outcome);
      });
  }

  /** Answer the client now (harakiri: 504) or, without `answer`, as if it had left; the script is killed. */
  abort(answer?: { readonly status: number; readonly detail: string }): void {
    this.aborter.abort(
      new RequestError('TSGI_ERR_CGI_ABORTED', answer?.status ?? 502, answer?.detail ?? 'request cancelled'),
    );
  }

  /** Signal the script's whole process group (while any of it may be left). */
  killGroup(signal: NodeJS.Signals): void {
    if (this.group === 0) return;
    try {
      process.kill(-this.group, signal);
    } catch {}
  }

  private async serve(): Promise<StreamOutcome> {
    let vars = this.req.vars;
    for (let hop = 0; ; hop++) {
      const binaryPath = vars.get('PATH_INFO') || '/';
      if (binaryPath.includes('\0')) {
        this.x.error(new RequestError('TSGI_ERR_CGI_PATH', 400, 'NUL in the request path'));
        return 'complete';
      }
      const query = vars.get('QUERY_STRING') ?? '';
      const target = await mapScript(this.s.map, utf8Text(binaryPath), query);
      if (this.x.done) return 'client-gone';
      if (target.kind === 'error') {
        if (target.status === 403) this.s.log.warn(`tsgi: cgi: ${target.detail}`);
        this.x.error(
          new RequestError(
            'TSGI_ERR_CGI_MAP',
            target.status,
            target.status === 404 ? 'no such script' : 'forbidden',
          ),
        );
        return 'complete';
      }
      if (target.kind === 'redirect') {
        this.x.head(301, 'Moved Permanently', ['Location', target.location, 'Content-Length', '0'], 0);
        this.x.end();
        return 'complete';
      }
      const local = await this.run(target, vars, hop === 0 ? this.req.body : null, query);
      if (local === null) return this.outcome();
      if (hop + 1 >= MAX_LOCAL_REDIRECTS) {
        this.x.error(
          new RequestError('TSGI_ERR_CGI_REDIRECT', 500, `more than ${MAX_LOCAL_REDIRECTS} local redirects`),
        );
        return 'worker-error';
      }
      vars = redirected(vars, local);
    }
  }

  private outcome(): StreamOutcome {
    return this.aborter.signal.aborted ? 'client-gone' : 'complete';
  }

  /**
   * Run one script to its exit. Resolves with the path of a local redirect it asked for, else null
   * (the client has been answered).
   */
  private run(
    s: CgiScript,
    vars: ReadonlyMap<string, string>,
    body: TsgiRequest['body'],
    query: string,
  ): Promise<string | null> {
    const words = searchWords(query);
    const [cmd, ...helperArgs] = s.helper ? s.helper.split(/\s+/).filter(Boolean) : [s.file];
    const argv = s.helper ? [...helperArgs, s.file, ...words] : words;
    const line = dieWithParent(cmd!, argv);
    const x = this.x;
    return new Promise((resolve) => {
      let child: ChildProcess;
      try {
        child = spawn(line.command, line.args, {
          cwd: dirname(s.file),
          env: scriptEnv(this.s.env, vars, s, this.s.unset),
          stdio: ['pipe', 'pipe', this.s.logFd],
          detached: true,
        });
      } catch (err) {
        x.error(
          new UpstreamError('TSGI_ERR_CGI_SPAWN', 500, `cannot run ${s.file}: ${(err as Error).message}`),
        );
        resolve(null);
        return;
      }
      this.child = child;
      this.group = child.pid ?? 0;
      this.script = s.file;
      const reader = new CgiHeadReader(this.s.maxHeadBytes);
      const raw: Buffer[] = [];
      let head: CgiHead | null = null;
      let local: string | null = null;
      const stdout = child.stdout!;
      const stdin = child.stdin!;
      stdin.on('error', () => {});
      child.on('error', (err) => {
        x.error(new UpstreamError('TSGI_ERR_CGI_SPAWN', 500, `cannot run ${s.file}: ${err.message}`));
      });
      x.touch();
      x.pumpBody(
        body,
        (chunk) => {
          x.touch();
          return stdin.destroyed || stdin.write(chunk);
        },
        (cb) => stdin.once('drain', cb),
        () => stdin.end(),
      );
      stdout.on('data', (chunk: Buffer) => {
        x.touch();
        if (x.done || local !== null) return;
        if (head) {
          if (!x.write(chunk, () => stdout.resume())) stdout.pause();
          return;
        }
        raw.push(chunk);
        let parsed: ReturnType<CgiHeadReader['push']>;
        try {
          parsed = reader.push(chunk);
        } catch (err) {
          this.s.log.error(`tsgi: cgi: ${s.file} sent a malformed response head: ${(err as Error).message}`);
          x.error(new UpstreamError('TSGI_ERR_CGI_HEAD', 500, 'malformed header from the CGI script'));
          return;
        }
        if (!parsed) return;
        head = parsed.head;
        local = s.nph ? null : localRedirect(head, Buffer.concat(raw), parsed.rest.length);
        if (local !== null) return;
        x.head(head.status, head.reason, endToEnd(head.headers), -1);
        if (parsed.rest.length && !x.write(parsed.rest, () => stdout.resume())) stdout.pause();
      });
      stdout.on('end', () => {
        if (x.done || local !== null) return;
        if (head) x.end();
        else {
          this.s.log.error(`tsgi: cgi: end of script output before headers: ${s.file}`);
          x.error(new UpstreamError('TSGI_ERR_CGI_HEAD', 500, 'end of script output before headers'));
        }
      });
      // A script that answered but keeps running (stdout closed) holds its slot until cgi-timeout.
      let linger: NodeJS.Timeout | null = null;
      void x.result.then(() => {
        if (this.child === child) linger = setTimeout(() => this.killGroup('SIGKILL'), this.s.timeoutMs);
      });
      child.on('close', (code, signal) => {
        if (linger) clearTimeout(linger);
        if (code || signal)
          this.s.log.warn(
            `tsgi: cgi: ${s.file} (pid ${child.pid}) ${signal ? `killed by ${signal}` : `exited with status ${code}`}`,
          );
        this.child = null;
        this.group = 0;
        resolve(x.done ? null : local);
      });
    });
  }
}

/** The script's response headers without the hop-by-hop ones. */
function endToEnd(headers: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2)
    if (!HOP.test(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
  return out;
}

/**
 * A local redirect (RFC 3875 §6.2.2): the head is a lone `Location` with a path (no `Status`, no
 * other header). Returns that path, else null. `rawHead` holds the head's bytes followed by `rest`
 * bytes of body (ignored: a local redirect has no body).
 */
function localRedirect(head: CgiHead, bytes: Buffer, rest: number): string | null {
  if (head.headers.length !== 2 || head.headers[0]!.toLowerCase() !== 'location') return null;
  const location = head.headers[1]!;
  if (!location.startsWith('/') || location.startsWith('//')) return null;
  const text = bytes.toString('latin1', 0, bytes.length - rest);
  return /^status\s*:/im.test(text) ? null : location;
}

/** The vars of the request a local redirect makes: a GET of `location`, without a body. */
function redirected(vars: ReadonlyMap<string, string>, location: string): Map<string, string> {
  const out = new Map(vars);
  const q = location.indexOf('?');
  out.set('REQUEST_METHOD', 'GET');
  out.set('REQUEST_URI', location);
  out.set('PATH_INFO', percentDecode(q < 0 ? location : location.slice(0, q)));
  out.set('QUERY_STRING', q < 0 ? '' : location.slice(q + 1));
  out.delete('CONTENT_LENGTH');
  out.delete('CONTENT_TYPE');
  return out;
}
