import { type ChildProcess, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { RequestError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import type { StreamOutcome, WorkerChannel, WorkerExit, WorkerProcess } from '../../core/plugin/types.js';
import type { TsgiRequest } from '../../core/request/request.js';
import { type ResponseSink, sendError } from '../../core/request/sink.js';
import { ExitReport } from '../../core/transport/exit-report.js';
import { dieWithParent } from '../../core/transport/parent-death.js';
import type { FastcgiClient, FastcgiConnection } from '../fastcgi/contract.js';
import { mapPhp, type PhpMapConfig } from './map.js';

/** How long a php-cgi process may take to bind its socket, ms. */
export const PHP_START_TIMEOUT_MS = 30_000;
/** How long a request waits for a new connection to a running php-cgi (busy finishing an aborted script), ms. */
const RECONNECT_TIMEOUT_MS = 5000;
/** How often the runner tries to connect while php-cgi starts, ms. */
const CONNECT_RETRY_MS = 10;
/**
 * The FastCGI read timeout for php-cgi workers: none in practice (the largest timer node allows).
 * A PHP request runs until it ends, the client leaves, or harakiri kills the worker.
 */
const NO_READ_TIMEOUT_MS = 2 ** 31 - 1;

/** What every PHP request of an instance shares. */
export interface PhpSettings {
  readonly map: PhpMapConfig;
  /** `php-var`: extra vars for every request. */
  readonly vars: ReadonlyArray<readonly [string, string]>;
  /** SERVER_SOFTWARE when the request has none (`php-server-software` or tsgi). */
  readonly serverSoftware: string;
  /** Replace a request's SERVER_SOFTWARE (`php-server-software` given). */
  readonly forceServerSoftware: boolean;
}

/** How to start one php-cgi worker. */
export interface PhpWorkerSpec {
  /** `php-cgi` and its arguments before `-b` (`-c INI`, `-d KEY=VALUE`, ...). */
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The unix socket php-cgi binds (`-b`), removed when it exits. */
  readonly socket: string;
  /** PHP_FCGI_MAX_REQUESTS for this process (0 = no limit). */
  readonly maxRequests: number;
  readonly workerId: number;
  readonly client: FastcgiClient;
  readonly settings: PhpSettings;
  readonly logFd: number;
  readonly log: Logger;
}

interface Current {
  readonly req: TsgiRequest;
  readonly aborter: AbortController;
}

/**
 * One php-cgi process in FastCGI mode (`php-cgi -b SOCKET`, `PHP_FCGI_CHILDREN=0`: it serves one
 * connection, one request at a time) as the master's worker, spoken to over one dedicated
 * keep-alive FastCGI connection from the `fastcgi-client` contract. Ready once its socket accepts.
 * Each request is mapped to a script first ({@link mapPhp}); its vars get SCRIPT_FILENAME,
 * SCRIPT_NAME, PATH_INFO, DOCUMENT_ROOT and REDIRECT_STATUS before it is forwarded.
 *
 * php-cgi exits by itself after PHP_FCGI_MAX_REQUESTS requests (from `max-requests`): that exit is
 * reported with `recycled` so the master counts it as recycling, not a crash. It runs in its own
 * session, so a terminal's Ctrl-C reaches only the master, and dies with the master (setpriv).
 */
export class PhpWorker implements WorkerProcess, WorkerChannel {
  readonly pid: number;
  readonly channel: WorkerChannel = this;
  readonly ready: Promise<void>;
  private readonly child: ChildProcess;
  private conn: FastcgiConnection | null = null;
  private current: Current | null = null;
  private served = 0;
  private closing = false;
  private exitedAt: WorkerExit | null = null;
  private readonly exits = new ExitReport();

  constructor(private readonly spec: PhpWorkerSpec) {
    const line = dieWithParent(spec.command, [...spec.args, '-b', spec.socket]);
    rmSync(spec.socket, { force: true });
    this.child = spawn(line.command, line.args, {
      cwd: spec.cwd,
      env: {
        ...spec.env,
        PHP_FCGI_CHILDREN: '0',
        PHP_FCGI_MAX_REQUESTS: String(spec.maxRequests),
      },
      stdio: ['ignore', spec.logFd, spec.logFd],
      detached: true,
    });
    this.pid = this.child.pid ?? -1;
    this.child.on('error', (err) => {
      spec.log.error(`tsgi: cannot start php worker ${spec.workerId} (${spec.command}): ${err.message}`);
      this.exited({ code: 127, signal: null });
    });
    this.child.on('exit', (code, signal) => this.exited({ code, signal }));
    this.ready = this.connectFirst();
    this.ready.catch(() => {});
  }

  /**
   * 1 while a request runs, and from the moment php-cgi has been given its last request
   * (PHP_FCGI_MAX_REQUESTS): it is about to exit, so the dispatcher must not pick it again.
   */
  get inflight(): number {
    return this.current || this.draining ? 1 : 0;
  }

  private get draining(): boolean {
    return this.spec.maxRequests > 0 && this.served >= this.spec.maxRequests;
  }

  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void {
    const cur: Current = { req, aborter: new AbortController() };
    this.current = cur;
    this.serve(cur, sink).then(
      (outcome) => this.finish(cur, done, outcome),
      (err: unknown) => {
        sendError(sink, 502, `php worker: ${(err as Error).message}`);
        this.finish(cur, done, 'worker-error');
      },
    );
  }

  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void {
    if (this.current?.req !== req) return;
    this.current.aborter.abort(
      new RequestError('TSGI_ERR_PHP_ABORTED', answer?.status ?? 502, answer?.detail ?? 'request cancelled'),
    );
  }

  failAll(status: number, reason: string): void {
    this.current?.aborter.abort(new RequestError('TSGI_ERR_PHP_WORKER_LOST', status, reason));
  }

  /** Retire: php-cgi has no graceful stop of its own; it is idle now, so SIGTERM ends it. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.conn?.close();
    this.kill('SIGTERM');
  }

  onExit(cb: (exit: WorkerExit) => void): void {
    this.exits.onExit(cb);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exitedAt) return;
    try {
      this.child.kill(signal);
    } catch {}
  }

  private async serve(cur: Current, sink: ResponseSink): Promise<StreamOutcome> {
    const { req } = cur;
    const target = await mapPhp(this.spec.settings.map, req.vars);
    if (target.kind === 'error') {
      if (target.status === 403) this.spec.log.warn(`tsgi: php: ${target.detail}`);
      req.status = target.status;
      sendError(sink, target.status, target.status === 404 ? 'no such script' : 'forbidden');
      return 'complete';
    }
    if (target.kind === 'redirect') {
      req.status = 301;
      sink.head(301, 'Moved Permanently', ['Location', target.location, 'Content-Length', '0'], 0);
      sink.end();
      return 'complete';
    }
    const v = req.vars;
    v.set('SCRIPT_FILENAME', target.filename);
    v.set('SCRIPT_NAME', target.scriptName);
    v.set('PATH_INFO', target.pathInfo);
    if (target.pathInfo) v.set('PATH_TRANSLATED', target.docroot + target.pathInfo);
    else v.delete('PATH_TRANSLATED');
    v.set('DOCUMENT_ROOT', target.docroot);
    if (target.query !== null) v.set('QUERY_STRING', target.query);
    v.set('REDIRECT_STATUS', '200');
    if (!v.has('GATEWAY_INTERFACE')) v.set('GATEWAY_INTERFACE', 'CGI/1.1');
    if (this.spec.settings.forceServerSoftware || !v.has('SERVER_SOFTWARE'))
      v.set('SERVER_SOFTWARE', this.spec.settings.serverSoftware);
    v.delete('HTTP_PROXY'); // httpoxy: a client's Proxy header must not become PHP's proxy setting
    for (const [k, val] of this.spec.settings.vars) v.set(k, val);
    const conn = this.conn && !this.conn.closed ? this.conn : await this.reconnect();
    // php-cgi counts every request it accepts toward PHP_FCGI_MAX_REQUESTS, finished or not
    this.served++;
    const r = await conn.forward(req, sink, {
      signal: cur.aborter.signal,
      readTimeoutMs: NO_READ_TIMEOUT_MS,
    });
    return r.outcome === 'complete'
      ? 'complete'
      : r.outcome === 'upstream-error'
        ? 'worker-error'
        : 'client-gone';
  }

  private finish(cur: Current, done: (outcome: StreamOutcome) => void, outcome: StreamOutcome): void {
    if (this.current === cur) this.current = null;
    done(outcome);
  }

  /** Connect to php-cgi's socket, retrying while it starts. */
  private async reconnect(deadlineMs = Date.now() + RECONNECT_TIMEOUT_MS): Promise<FastcgiConnection> {
    for (;;) {
      if (this.exitedAt) throw new Error('php-cgi exited');
      try {
        const conn = await this.spec.client.connect(this.spec.socket, { connectTimeoutMs: 1000 });
        this.conn = conn;
        return conn;
      } catch (err) {
        if (Date.now() > deadlineMs) throw err;
        await new Promise((r) => setTimeout(r, CONNECT_RETRY_MS));
      }
    }
  }

  private async connectFirst(): Promise<void> {
    try {
      await this.reconnect(Date.now() + PHP_START_TIMEOUT_MS);
    } catch (err) {
      if (!this.exitedAt) {
        this.spec.log.error(
          `tsgi: php worker ${this.spec.workerId} (pid ${this.pid}) did not open ${this.spec.socket} within ${PHP_START_TIMEOUT_MS / 1000} s; killing it`,
        );
        this.kill('SIGKILL');
      }
      throw new Error(`php-cgi did not start: ${(err as Error).message}`);
    }
  }

  private exited(info: WorkerExit): void {
    if (this.exitedAt) return;
    this.exitedAt = info;
    const final = (): WorkerExit => {
      rmSync(this.spec.socket, { force: true });
      const recycled =
        info.code === 0 && !this.closing && this.spec.maxRequests > 0 && this.served >= this.spec.maxRequests;
      return recycled ? { ...info, recycled: 'max-requests' } : info;
    };
    // Let the connection deliver what php-cgi wrote before it exited (its last END_REQUEST).
    const conn = this.conn;
    if (conn && !conn.closed) this.exits.reportWhen(final, (cb) => conn.onClose(cb));
    else this.exits.report(final());
  }
}
