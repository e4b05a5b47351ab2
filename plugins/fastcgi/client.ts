import type { Socket } from 'node:net';
import { TsgiError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import { CgiHeadReader } from '../../core/request/cgi-head.js';
import type { BodySource, TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import {
  connectUpstream,
  Exchange,
  type ForwardDefaults,
  type ForwardOptions,
  type ForwardResult,
  forwardSettings,
  UpstreamError,
} from '../../core/request/upstream.js';
import type { FastcgiClient, FastcgiConnection } from './contract.js';
import { writeStream } from './io.js';
import { decodePairs, encodePairs } from './pairs.js';
import { RecordReader } from './parser.js';
import {
  decodeEndRequest,
  encodeBeginRequest,
  encodeRecord,
  encodeStream,
  FCGI_KEEP_CONN,
  FCGI_NULL_REQUEST_ID,
  ProtocolStatus,
  RecordType,
  Role,
} from './record.js';

/** The requestId tsgi uses: one request at a time per connection, as nginx does. */
const REQUEST_ID = 1;

/** Settings of the pool, in ms and connections. */
export interface PoolSettings {
  /** Idle connections kept per address. */
  readonly maxIdlePerAddress: number;
  /** An idle connection is closed after this long, ms. */
  readonly idleTimeoutMs: number;
}

/** One request in flight on a connection. */
interface Flight {
  readonly ex: Exchange;
  readonly head: CgiHeadReader;
  headDone: boolean;
  /** The whole STDIN stream went out (its empty record was written). */
  stdinSent: boolean;
  /** Bytes of this response received so far. */
  received: number;
  /** Called instead of failing when the connection turns out dead before any response byte. */
  readonly onStale: (() => void) | null;
}

/**
 * A keep-alive FastCGI connection (see {@link FastcgiConnection}). Requests use requestId 1 and
 * FCGI_KEEP_CONN; the connection is reusable once END_REQUEST arrived.
 */
export class UpstreamConnection implements FastcgiConnection {
  private flight: Flight | null = null;
  private closeCbs: Array<() => void> = [];
  private valuesWaiters: Array<(v: Map<string, string> | null) => void> = [];
  private isClosed = false;
  private closeHandled = false;
  private readonly reader: RecordReader;
  private stderrTail = '';

  constructor(
    readonly address: string,
    private readonly socket: Socket,
    private readonly defaults: ForwardDefaults,
    private readonly log: Logger | null,
  ) {
    this.reader = new RecordReader((t, id, b, s, e) => this.record(t, id, b, s, e));
    socket.on('data', (chunk: Buffer) => {
      this.flight?.ex.touch();
      try {
        this.reader.push(chunk);
      } catch (err) {
        this.failFlight(new UpstreamError('TSGI_ERR_UPSTREAM_PROTOCOL', 502, (err as TsgiError).message));
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.socketClosed());
  }

  get busy(): boolean {
    return this.flight !== null;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  forward(req: TsgiRequest, sink: ResponseSink, opts?: ForwardOptions): Promise<ForwardResult> {
    if (this.busy || this.isClosed)
      return Promise.reject(
        new TsgiError('TSGI_ERR_FASTCGI_BUSY', `FastCGI connection to ${this.address} is busy or closed`),
      );
    const s = forwardSettings(this.defaults, opts);
    const ex = new Exchange(
      req,
      sink,
      s.readTimeoutMs,
      `FastCGI upstream ${this.address}`,
      opts?.signal,
      () => this.close(),
    );
    void this.run(ex, s.maxHeadBytes, null);
    return ex.result;
  }

  /**
   * Run an exchange on this connection. `onStale` (pool reuse only) is called instead of failing
   * when the connection turns out to be closed before any byte of the response arrived.
   */
  async run(ex: Exchange, maxHeadBytes: number, onStale: (() => void) | null): Promise<void> {
    this.flight = {
      ex,
      head: new CgiHeadReader(maxHeadBytes),
      headDone: false,
      stdinSent: false,
      received: 0,
      onStale,
    };
    const sized = await ex.sizedBody();
    if (!sized || this.flight?.ex !== ex) return;
    if (this.isClosed) {
      this.failFlight(new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection'));
      return;
    }
    this.send(this.flight, sized.body, sized.length);
  }

  getValues(names: readonly string[], timeoutMs: number): Promise<Map<string, string>> {
    if (this.isClosed)
      return Promise.reject(new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'connection closed'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.valuesWaiters = this.valuesWaiters.filter((w) => w !== waiter);
        reject(
          new UpstreamError(
            'TSGI_ERR_UPSTREAM_TIMEOUT',
            504,
            `no FCGI_GET_VALUES_RESULT within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const waiter = (v: Map<string, string> | null) => {
        clearTimeout(t);
        if (v) resolve(v);
        else reject(new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'connection closed'));
      };
      this.valuesWaiters.push(waiter);
      this.socket.write(
        encodeRecord(
          RecordType.GET_VALUES,
          FCGI_NULL_REQUEST_ID,
          encodePairs(names.map((n) => [n, ''] as const)),
        ),
      );
    });
  }

  onClose(cb: () => void): void {
    if (this.isClosed) cb();
    else this.closeCbs.push(cb);
  }

  close(): void {
    this.isClosed = true;
    this.socket.destroy();
  }

  private send(f: Flight, body: BodySource | null, length: number): void {
    const ex = f.ex;
    const pairs: Array<[string, string]> = [];
    for (const [k, v] of ex.req.vars) if (k !== 'CONTENT_LENGTH') pairs.push([k, v]);
    if (length > 0 || ex.req.vars.has('CONTENT_LENGTH')) pairs.push(['CONTENT_LENGTH', String(length)]);
    const params = encodePairs(pairs);
    this.socket.cork();
    this.socket.write(encodeBeginRequest(REQUEST_ID, Role.RESPONDER, FCGI_KEEP_CONN));
    this.socket.write(encodeStream(RecordType.PARAMS, REQUEST_ID, params, true));
    if (!body) {
      // The empty STDIN in the same write: a server that answers and closes at once (php-cgi's last
      // request under PHP_FCGI_MAX_REQUESTS) must not see a later write fail and cost the response.
      f.stdinSent = true;
      this.socket.write(encodeStream(RecordType.STDIN, REQUEST_ID, Buffer.alloc(0), true));
      this.socket.uncork();
      ex.touch();
      return;
    }
    this.socket.uncork();
    ex.touch();
    ex.pumpBody(
      body,
      (chunk) => {
        ex.touch();
        return writeStream(this.socket, RecordType.STDIN, REQUEST_ID, chunk);
      },
      (cb) => this.socket.once('drain', cb),
      () => {
        f.stdinSent = true;
        this.socket.write(encodeStream(RecordType.STDIN, REQUEST_ID, Buffer.alloc(0), true));
      },
    );
  }

  private record(type: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === FCGI_NULL_REQUEST_ID) {
      if (type === RecordType.GET_VALUES_RESULT) this.valuesResult(buf, start, end);
      return;
    }
    const f = this.flight;
    if (id !== REQUEST_ID || !f) return;
    f.received += end - start + 1;
    if (type === RecordType.STDOUT) this.stdout(f, buf.subarray(start, end));
    else if (type === RecordType.STDERR) this.stderr(buf.toString('latin1', start, end));
    else if (type === RecordType.END_REQUEST) this.endRequest(f, buf, start, end);
  }

  private stdout(f: Flight, data: Buffer): void {
    if (data.length === 0 || f.ex.done) return;
    if (f.headDone) {
      this.body(f, this.reader.stable ? data : Buffer.from(data));
      return;
    }
    let parsed: ReturnType<CgiHeadReader['push']>;
    try {
      parsed = f.head.push(this.reader.stable ? data : Buffer.from(data));
    } catch (err) {
      this.failFlight(
        new UpstreamError('TSGI_ERR_UPSTREAM_PROTOCOL', 502, `invalid response: ${(err as Error).message}`),
      );
      this.close();
      return;
    }
    if (!parsed) return;
    f.headDone = true;
    const { status, reason, headers } = parsed.head;
    f.ex.head(status, reason, headers, -1);
    if (parsed.rest.length > 0) this.body(f, parsed.rest);
  }

  private body(f: Flight, chunk: Buffer): void {
    if (!f.ex.write(chunk, () => this.socket.resume())) this.socket.pause();
  }

  private stderr(text: string): void {
    const lines = (this.stderrTail + text).split('\n');
    this.stderrTail = lines.pop() ?? '';
    if (this.stderrTail.length > 4096) {
      lines.push(this.stderrTail);
      this.stderrTail = '';
    }
    for (const l of lines) if (l.trim()) this.log?.info(`fastcgi ${this.address} stderr: ${l.trimEnd()}`);
  }

  private endRequest(f: Flight, buf: Buffer, start: number, end: number): void {
    let status: number;
    try {
      status = decodeEndRequest(buf, start, end).protocolStatus;
    } catch (err) {
      this.failFlight(new UpstreamError('TSGI_ERR_UPSTREAM_PROTOCOL', 502, (err as Error).message));
      this.close();
      return;
    }
    if (this.stderrTail) this.stderr('\n');
    this.flight = null;
    // Reading may have been paused for a slow client; the next request on this connection must read.
    this.socket.resume();
    // Answered before the whole body went out: the STDIN stream is unfinished, so the connection
    // cannot carry another request.
    if (!f.stdinSent) this.close();
    if (status === ProtocolStatus.OVERLOADED || status === ProtocolStatus.CANT_MPX_CONN)
      f.ex.error(
        new UpstreamError(
          'TSGI_ERR_UPSTREAM_OVERLOADED',
          503,
          `FastCGI upstream ${this.address} is overloaded`,
        ),
      );
    else if (status !== ProtocolStatus.REQUEST_COMPLETE)
      f.ex.error(
        new UpstreamError(
          'TSGI_ERR_UPSTREAM_PROTOCOL',
          502,
          `FastCGI upstream refused the request (status ${status})`,
        ),
      );
    else if (!f.headDone)
      f.ex.error(
        new UpstreamError(
          'TSGI_ERR_UPSTREAM_PROTOCOL',
          502,
          'FastCGI upstream ended the request without a response head',
        ),
      );
    else f.ex.end();
  }

  private valuesResult(buf: Buffer, start: number, end: number): void {
    const map = new Map<string, string>();
    try {
      const pairs = decodePairs(buf, start, end);
      for (let i = 0; i < pairs.length; i += 2) map.set(pairs[i]!, pairs[i + 1]!);
    } catch {}
    this.valuesWaiters.shift()?.(map);
  }

  private failFlight(err: UpstreamError): void {
    const f = this.flight;
    if (!f) return;
    this.flight = null;
    if (f.onStale && f.received === 0 && !f.ex.done && f.ex.req.body === null) {
      f.onStale();
      return;
    }
    f.ex.error(err);
  }

  private socketClosed(): void {
    if (this.closeHandled) return;
    this.closeHandled = true;
    this.isClosed = true;
    if (this.stderrTail) this.stderr('\n');
    this.failFlight(
      new UpstreamError(
        'TSGI_ERR_UPSTREAM_CLOSED',
        502,
        `FastCGI upstream ${this.address} closed the connection`,
      ),
    );
    for (const w of this.valuesWaiters.splice(0)) w(null);
    for (const cb of this.closeCbs.splice(0)) cb();
  }
}

/**
 * The FastCGI client contract: a keep-alive pool per address for `forward`, and `connect` for a
 * dedicated connection (see {@link FastcgiClient}).
 */
export class FastcgiUpstreamClient implements FastcgiClient {
  private readonly idle = new Map<string, Set<UpstreamConnection>>();
  private readonly idleTimers = new WeakMap<UpstreamConnection, NodeJS.Timeout>();

  constructor(
    private readonly defaults: ForwardDefaults,
    private readonly pool: PoolSettings,
    private readonly log: Logger | null,
  ) {}

  async connect(
    address: string,
    opts?: Pick<ForwardOptions, 'connectTimeoutMs'>,
  ): Promise<UpstreamConnection> {
    const socket = await connectUpstream(address, opts?.connectTimeoutMs ?? this.defaults.connectTimeoutMs);
    return new UpstreamConnection(address, socket, this.defaults, this.log);
  }

  forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: ForwardOptions,
  ): Promise<ForwardResult> {
    const s = forwardSettings(this.defaults, opts);
    let conn: UpstreamConnection | null = null;
    const ex = new Exchange(req, sink, s.readTimeoutMs, `FastCGI upstream ${address}`, opts?.signal, () =>
      conn?.close(),
    );
    const start = (allowReuse: boolean): void => {
      const reused = allowReuse ? this.takeIdle(address) : null;
      if (reused) {
        conn = reused;
        void reused.run(ex, s.maxHeadBytes, () => start(false));
        return;
      }
      this.connect(address, s).then(
        (c) => {
          conn = c;
          c.onClose(() => this.dropIdle(c));
          if (ex.done) c.close();
          else void c.run(ex, s.maxHeadBytes, null);
        },
        (err: UpstreamError) => ex.error(err),
      );
    };
    start(true);
    void ex.result.then((r) => {
      if (r.outcome === 'complete' && conn && !conn.closed && !conn.busy) this.release(conn);
      else conn?.close();
    });
    return ex.result;
  }

  /** Close every idle connection (plugin cleanup). */
  closeIdle(): void {
    for (const set of this.idle.values()) for (const c of set) c.close();
    this.idle.clear();
  }

  private takeIdle(address: string): UpstreamConnection | null {
    const set = this.idle.get(address);
    if (!set) return null;
    for (const c of set) {
      set.delete(c);
      clearTimeout(this.idleTimers.get(c));
      if (!c.closed) return c;
    }
    return null;
  }

  private dropIdle(conn: UpstreamConnection): void {
    this.idle.get(conn.address)?.delete(conn);
    clearTimeout(this.idleTimers.get(conn));
  }

  private release(conn: UpstreamConnection): void {
    let set = this.idle.get(conn.address);
    if (!set) {
      set = new Set();
      this.idle.set(conn.address, set);
    }
    if (set.size >= this.pool.maxIdlePerAddress) {
      conn.close();
      return;
    }
    set.add(conn);
    const t = setTimeout(() => conn.close(), this.pool.idleTimeoutMs);
    t.unref();
    this.idleTimers.set(conn, t);
  }
}
