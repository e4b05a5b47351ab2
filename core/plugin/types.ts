import type { Socket } from 'node:net';
import type { OptionTable, OptionValues } from '../config/option.js';
import type { InstanceConfig } from '../config/resolve.js';
import type { ConfigOrigin } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { EmperorLink } from '../master/emperor-link.js';
import type { Master } from '../master/master.js';
import type { TsgiRequest } from '../request/request.js';
import type { ResponseSink } from '../request/sink.js';

/**
 * What a plugin is for. Namespaced ids follow the kind: `protocol.http`, `runner.python`,
 * `router.internal`, `service.stats`.
 */
export type PluginKind = 'protocol' | 'runner' | 'router' | 'service';

/**
 * A plugin as it registers itself: an explicit descriptor object, listed once in `plugins/index.ts`.
 * `create` builds the instance from typed options and must do no I/O (Caddy's rule): sockets, child
 * processes and files are opened in `provision`.
 */
export interface PluginDescriptor<T extends OptionTable = OptionTable> {
  /** Namespaced unique id, e.g. `protocol.http`. */
  readonly id: string;
  /** The name users write in `plugins = ...` (uWSGI's plugin name), e.g. `http`, `python`. */
  readonly name: string;
  /** Other names accepted in `plugins =` (`python3`, `python311`, `router_rewrite`, ...). */
  readonly aliases?: readonly string[];
  readonly kind: PluginKind;
  /** One-line description for `tsgi --help` and the docs. */
  readonly summary: string;
  /** The options this plugin declares; the core parses and validates them. */
  readonly options: T;
  /**
   * Build the plugin instance for one instance config.
   * @throws {ConfigError} for option combinations that make no sense (pure checks only).
   */
  create(ctx: CreateContext<T>): PluginInstance;
  /**
   * A service that lives as long as the instance process, across reloads (the consoles): started
   * once, after the first `ready`; it reads its options from `host.master.current` as reloads change
   * them. Returns a function that stops it.
   */
  readonly instanceService?: (host: InstanceHost) => () => void;
  /**
   * A mode of the `tsgi` command that runs no instance (the console client, `--pty-connect`):
   * `matches` claims the command line, `run` resolves to the exit code.
   * @throws {TsgiError} from `run` for a usage error (the command exits 2)
   */
  readonly command?: {
    matches(argv: readonly string[]): boolean;
    run(argv: readonly string[]): Promise<number>;
  };
}

/** What an instance service gets: the running master, the instance log, the emperor link if any. */
export interface InstanceHost {
  readonly master: Master;
  readonly log: Logger;
  /** The link to the emperor when this instance is a vassal, else null. */
  readonly emperor: EmperorLink | null;
}

/** What `create` gets: its own typed options, the whole config, a logger. No I/O allowed. */
export interface CreateContext<T extends OptionTable> {
  readonly options: OptionValues<T>;
  readonly config: InstanceConfig;
  readonly log: Logger;
}

/**
 * A created plugin. Lifecycle: `create` → `provision` (I/O) → serving → `cleanup` (reverse order of
 * provisioning). `provides` lists the contracts other parts of tsgi may ask the registry for.
 */
export interface PluginInstance {
  readonly provides: Partial<Contracts>;
  /** Open what the plugin needs (interpreters checked, clients created). Throws to fail the boot. */
  provision?(ctx: ProvisionContext): Promise<void>;
  /** Undo `provision`: close clients, remove files. Must not throw. */
  cleanup?(): Promise<void>;
}

/** What `provision` gets: the registry (to ask for other plugins' contracts) and the request entry point. */
export interface ProvisionContext {
  readonly registry: ContractLookup;
  readonly log: Logger;
}

/** Look up a contract another plugin provides, by plugin name (`uwsgi`) or id (`protocol.uwsgi`). */
export interface ContractLookup {
  /** @throws {PluginError} TSGI_ERR_PLUGIN_CONTRACT when no such plugin provides it. */
  contract<K extends keyof Contracts>(plugin: string, kind: K): Contracts[K];
  /** Every provided contract of one kind, in registration order. */
  all<K extends keyof Contracts>(kind: K): Array<{ plugin: string; contract: Contracts[K] }>;
}

/**
 * The contracts plugins can provide. Later plugins extend this interface by declaration merging
 * (`declare module '../core/plugin/types.js' { interface Contracts { client: UwsgiClient } }`) so that
 * lookups stay typed without importing each other's internals.
 */
export interface Contracts {
  /** The server side of a protocol: accepts connections on the listeners its options name. */
  edge: EdgeProtocol;
  /** A language runner: starts worker processes and hands the master a channel to each. */
  runner: Runner;
  /** Runs on every request before dispatch (internal routing, static files). */
  'request-hook': RequestHook;
}

/** One address a protocol wants bound, as written in the config (`127.0.0.1:8080`, `:0`, `/run/app.sock`). */
export interface ListenSpec {
  /** Protocol name as shown in logs and stats (`http`, `uwsgi`, `fastcgi`). */
  readonly proto: string;
  readonly address: string;
  readonly origin: ConfigOrigin | null;
}

/** A bound listener, as the master reports it to the protocol that owns it. */
export interface ListenerInfo {
  readonly proto: string;
  /** The address as configured. */
  readonly address: string;
  /** The address actually bound (`127.0.0.1:41235` for `:0`), or the unix path. */
  readonly bound: string;
  /** Port for TCP listeners, 0 for unix sockets. */
  readonly port: number;
  /** Host part for TCP listeners (as bound), '' for unix sockets. */
  readonly host: string;
  readonly unix: boolean;
}

/**
 * Server side of a protocol plugin. The master owns listening sockets (bind, backlog, unix socket
 * permissions, keeping them across reloads); the protocol owns what happens on each accepted
 * connection: it parses requests into {@link TsgiRequest}s, passes them to `handle`, and writes
 * responses from the {@link ResponseSink} it implements.
 */
export interface EdgeProtocol {
  /** The addresses to bind, from this plugin's options. */
  listeners(): ListenSpec[];
  /**
   * Take an accepted connection from one of this protocol's listeners.
   * `handle` is the instance's request entry point (routing, then dispatch to a worker).
   */
  accept(socket: Socket, listener: ListenerInfo, handle: RequestHandler): void;
  /**
   * Stop taking new requests on existing connections: close idle keep-alive connections now and the
   * others once their in-flight response is done.
   */
  drain(): void;
  /** Connections still open (for the graceful stop to wait on). */
  openConnections(): number;
  /** Destroy every connection (immediate stop). */
  destroyAll(): void;
}

/** The instance's entry point for a parsed request. It always answers through `sink`, exactly once. */
export type RequestHandler = (req: TsgiRequest, sink: ResponseSink) => void;

/**
 * What a request hook decided about a request:
 * - `'handled'`: the hook answered (or will answer) it through the sink it was given;
 * - `'continue'`: pass it on (the next hook, finally a worker) with the same sink;
 * - `{ sink }`: pass it on, answered through this sink instead: the hook wraps the sink it was given
 *   to see or change the response (response-side routing rules, header rules).
 */
export type HookVerdict = 'handled' | 'continue' | { readonly sink: ResponseSink };

/** A hook on the request path before dispatch (internal routing, static files, a front router). */
export interface RequestHook {
  /**
   * True when the hook answers every request it is given (a front router proxying to upstreams),
   * so the instance serves without an app even with `need-app` on.
   */
  readonly answersAll?: boolean;
  /**
   * Inspect or change the request (its vars), then decide: synchronously, or with a promise when
   * the decision needs I/O (a password file, Redis, a file's metadata). A promise must not reject.
   */
  onRequest(req: TsgiRequest, sink: ResponseSink): HookVerdict | Promise<HookVerdict>;
}

/**
 * A language runner: it knows how to start one worker process for the configured app and how to talk
 * to it. The master decides how many, when, and which requests go where.
 */
export interface Runner {
  /** What app this runner serves, for logs: `python wsgi app.py:application`. */
  readonly app: string;
  /** Concurrent request slots per worker (WSGI `threads`, ASGI concurrency). */
  readonly slots: number;
  /**
   * True when its workers serve WebSocket sessions (ASGI's `websocket` scope, a Node app's own
   * `upgrade` handler). The master answers a WebSocket handshake for any other runner with 400
   * instead of dispatching it.
   */
  readonly websockets?: boolean;
  /** Start worker `workerId` (1-based). Errors are reported through the returned process. */
  spawn(ctx: SpawnContext): WorkerProcess;
}

/** What a runner gets to start one worker. */
export interface SpawnContext {
  readonly workerId: number;
  /** Environment for the worker process (the master's environment plus `env =` options). */
  readonly env: NodeJS.ProcessEnv;
  readonly log: Logger;
  /** File descriptor the worker's stdout and stderr go to (the instance log). */
  readonly logFd: number;
}

/** Why a worker's process ended, as the master reports it. */
export interface WorkerExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /**
   * Set by a runner whose worker ended by its own request limit (php-cgi exits after
   * PHP_FCGI_MAX_REQUESTS, which the PHP runner sets from `max-requests`): the master counts the
   * exit as recycling, not as a crash.
   */
  readonly recycled?: 'max-requests';
}

/**
 * One running worker as its runner sees it: a process and a channel to it. The runner decides the
 * channel (tsgi's framed transport for Python, HTTP/1.1 for Node, FastCGI for php-cgi).
 */
export interface WorkerProcess {
  /** The process id (0 until `started` resolves, for runners that start processes indirectly). */
  readonly pid: number;
  /**
   * Resolves once `pid` is known, for runners whose workers are started by another process (the
   * Python prototype forks them); absent when `pid` is known at once. Rejects if the start failed.
   */
  readonly started?: Promise<void>;
  readonly channel: WorkerChannel;
  /** Resolves when the worker reports it is ready (app loaded); rejects if it exits first. */
  readonly ready: Promise<void>;
  /** Called once when the process has exited. */
  onExit(cb: (exit: WorkerExit) => void): void;
  /** Send a signal to the worker process (SIGKILL for harakiri, SIGTERM to hurry it). */
  kill(signal: NodeJS.Signals): void;
}

/** How a stream ended, from the master's side. */
export type StreamOutcome = 'complete' | 'client-gone' | 'worker-error' | 'worker-lost';

/**
 * The master's side of the connection to one worker: it carries requests to the worker and answers
 * back, several at once when the worker has several slots.
 */
export interface WorkerChannel {
  /**
   * Send `req` to the worker and drive `sink` with the answer (head, body with backpressure, end).
   * `done` is called exactly once when the worker no longer works on this request (its slot is free).
   */
  open(req: TsgiRequest, sink: ResponseSink, done: (outcome: StreamOutcome) => void): void;
  /**
   * Cancel a stream (client gone, harakiri): the worker is told to stop and nothing more is written
   * to the request's sink; its `done` still comes when the worker lets go (or dies). With `answer`,
   * the client is answered now: `answer.status` with `answer.detail` if no head was sent yet, a
   * reset connection otherwise (harakiri answers 504 before killing the worker).
   */
  abort(req: TsgiRequest, answer?: { readonly status: number; readonly detail: string }): void;
  /**
   * The worker died: fail every open stream (502 if no head was sent, connection reset otherwise)
   * and call their `done` with `worker-lost`.
   */
  failAll(status: number, reason: string): void;
  /** No more streams will be opened: let the worker finish and exit (closes the transport). */
  close(): void;
  /**
   * The worker is retiring (reload, recycling, stop; `stopping` when the instance stops): it gets no
   * new streams, and its long-lived ones (accepted WebSockets) are asked to end, which their edge
   * does after its mercy. Ordinary requests simply finish. Optional: channels without long-lived
   * streams need not implement it.
   */
  retire?(stopping: boolean): void;
  /** Requests currently on this worker. */
  readonly inflight: number;
}
