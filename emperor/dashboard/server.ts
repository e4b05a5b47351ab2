import diagnostics_channel from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatShowConfig } from '../../core/config/show-config.js';
import type { Logger } from '../../core/log/logger.js';
import type { Listener } from '../../core/net/listeners.js';
import { type Emperor, VASSAL_ACTIONS, type VassalAction } from '../emperor.js';
import { emperorChannels } from '../events.js';
import { bindService } from '../stats.js';
import { Auth, CSRF_HEADER, type Principal } from './auth.js';
import type { Sample } from './history.js';
import type { LogTails, TailLine } from './log-tail.js';
import { Sampler } from './sampler.js';
import { redactConfig, vassalRows, workerRows } from './view.js';

/** The dashboard's settings (`emperor-dashboard*` options). */
export interface DashboardSettings {
  /** Where to listen: `host:port`, `:port` (loopback), or a unix socket path. */
  readonly address: string;
  /** The access token. */
  readonly token: string;
  /** Show env values and passwords in vassal configs. */
  readonly showSecrets: boolean;
}

/** Sampling period of the charts and rates, ms. */
const SAMPLE_MS = 5000;

/** How long the charts reach back, ms (an hour). */
const HISTORY_MS = 3600_000;
/** Lines of each vassal's output kept for the log tail. */
export const TAIL_LINES = 500;
/** Largest request body accepted (login form, action), bytes; more is 413. */
const MAX_BODY = 4096;
/** Most event streams open at once; more get 503. */
const MAX_STREAMS = 64;
/** Bytes an event stream may have queued unread before it is closed. */
const MAX_STREAM_BACKLOG = 1 << 20;
/** Keep-alive comment on idle event streams, ms. */
const STREAM_PING_MS = 15_000;
/** How long a page's stats or config query may wait for the vassal, ms. */
const QUERY_TIMEOUT_MS = 3000;

/** What `GET /api/vassals/NAME/...` serves besides the vassal itself. */
const PAGES: readonly string[] = ['log', 'config', 'workers'];

/** The origin given to config lines that crossed the vassal channel (their own is not sent). */
const VASSAL_ORIGIN = { file: null, line: 0, source: 'emperor' } as const;

const ASSETS = join(dirname(fileURLToPath(import.meta.url)), 'assets');
const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'same-origin', // no-referrer would make browsers send `Origin: null`
  'X-Frame-Options': 'DENY',
};

/** Thrown inside a handler to answer with `status` and a JSON `{error}`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** An open event stream and what it follows. */
interface Stream {
  readonly res: ServerResponse;
  /** The vassal whose page is open (log lines and chart points), or null for the overview. */
  readonly vassal: string | null;
}

/**
 * The emperor's web dashboard: a single page (HTML, CSS, JS served from `assets/`, nothing from
 * elsewhere) and a JSON API on one address. It reads the emperor's vassals, their channel (metrics,
 * stats and config queries) and their output; it changes nothing but through `Emperor.act` and
 * `Emperor.clearBlacklist`. Every state change arrives on `GET /api/events` (server-sent events).
 */
export class Dashboard {
  readonly auth: Auth;
  readonly sampler: Sampler;
  private readonly streams = new Set<Stream>();
  private readonly assets = new Map<string, Buffer>();
  private rowsTimer: NodeJS.Timeout | null = null;
  private listener: Listener | null = null;

  constructor(
    private readonly emperor: Emperor,
    private readonly s: DashboardSettings,
    private readonly log: Logger,
    /** The vassals' output (the emperor's `output` feeds it). */
    readonly tails: LogTails,
  ) {
    this.auth = new Auth(s.token);
    this.sampler = new Sampler(emperor, SAMPLE_MS, HISTORY_MS, (fresh) => this.afterRound(fresh));
    this.tails.subscribe((vassal, line) => this.sendLine(vassal, line));
    for (const f of ['index.html', 'login.html', 'app.js', 'app.css', 'icon.svg'])
      this.assets.set(f, readFileSync(join(ASSETS, f)));
  }

  /** Bind the address and start sampling. @throws {TsgiError} when the address cannot be bound. */
  async start(): Promise<Listener> {
    const address = this.s.address.startsWith(':') ? `127.0.0.1${this.s.address}` : this.s.address;
    const l = await bindService('emperor-dashboard', address);
    const http = createServer((req, res) => this.handle(req, res));
    http.headersTimeout = 10_000;
    http.requestTimeout = 30_000;
    l.server.on('connection', (sock) => http.emit('connection', sock));
    this.listener = l;
    diagnostics_channel.subscribe(emperorChannels.vassal.name, () => this.rowsSoon());
    this.sampler.start();
    const ping = setInterval(() => {
      for (const st of this.streams) write(st, ': ping\n\n');
    }, STREAM_PING_MS);
    ping.unref();
    void this.sampler.round();
    return l;
  }

  /** The address bound (`host:port` or a socket path). */
  get bound(): string {
    return this.listener?.info.bound ?? '';
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((err: unknown) => {
      const e = err instanceof HttpError ? err : new HttpError(500, (err as Error).message);
      if (e.status === 500) this.log.error(`dashboard: ${req.method} ${req.url}: ${e.message}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJson(res, e.status, { error: e.message }, e.headers);
      if (e.status === 413) req.socket.end();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const path = url.pathname;
    const parts = path.split('/').filter(Boolean).map(decodeSegment);
    // public: the login form and the static assets (no data in them)
    if (path === '/login') return this.loginRoute(req, res);
    if (parts[0] === 'assets' && parts.length === 2) {
      allow(req, 'GET');
      return this.sendAsset(res, parts[1]!, 'public, max-age=300');
    }
    const who = this.auth.principal(req);
    if (path === '/' || path === '/index.html') {
      allow(req, 'GET');
      if (!who) {
        res.writeHead(303, { Location: '/login', ...SECURITY_HEADERS }).end();
        return;
      }
      return this.sendAsset(res, 'index.html', 'no-store');
    }
    if (!who)
      throw new HttpError(401, 'a token is needed (Authorization: Bearer, or log in)', {
        'WWW-Authenticate': 'Bearer realm="tsgi-emperor"',
      });
    if (path === '/logout') {
      allow(req, 'POST');
      await this.stateChange(req, who);
      if (who.via === 'cookie') this.auth.logout(who.session);
      res.writeHead(303, { Location: '/login', 'Set-Cookie': Auth.cookie(null), ...SECURITY_HEADERS }).end();
      return;
    }
    if (parts[0] !== 'api') throw new HttpError(404, `no page ${path}`);
    return this.api(req, res, parts.slice(1), url, who);
  }

  private async api(
    req: IncomingMessage,
    res: ServerResponse,
    p: readonly string[],
    url: URL,
    who: Principal,
  ): Promise<void> {
    const [a, name, sub, extra] = p;
    if (a === 'session' && p.length === 1) {
      allow(req, 'GET');
      return sendJson(res, 200, {
        who: who.who,
        via: who.via,
        csrf: who.via === 'cookie' ? who.session.csrf : null,
      });
    }
    if (a === 'events' && p.length === 1) {
      allow(req, 'GET');
      return this.openStream(req, res, url.searchParams.get('vassal'));
    }
    if (a === 'blacklist' && name === 'clear' && p.length === 2) {
      allow(req, 'POST');
      await this.stateChange(req, who);
      this.log.info(`${who.who} asked to clear the blacklist`);
      this.emperor.clearBlacklist();
      return sendJson(res, 202, { ok: true });
    }
    if (a !== 'vassals' || extra !== undefined) throw new HttpError(404, `no endpoint ${url.pathname}`);
    if (name === undefined) {
      allow(req, 'GET');
      return sendJson(res, 200, this.rows());
    }
    if (sub !== undefined && !PAGES.includes(sub) && !(VASSAL_ACTIONS as readonly string[]).includes(sub))
      throw new HttpError(404, `no endpoint ${url.pathname}`);
    if (sub !== undefined && (VASSAL_ACTIONS as readonly string[]).includes(sub)) {
      allow(req, 'POST');
      await this.stateChange(req, who);
      this.vassal(name);
      const why = this.emperor.act(name, sub as VassalAction, who.who);
      if (why) throw new HttpError(409, why);
      return sendJson(res, 202, { ok: true });
    }
    allow(req, 'GET');
    const v = this.vassal(name);
    switch (sub) {
      case undefined:
        return sendJson(res, 200, {
          row: this.rows().find((r) => r.name === name),
          points: this.sampler.histories.get(name)?.points() ?? [],
          sampleMs: SAMPLE_MS,
        });
      case 'log': {
        const after = Number(url.searchParams.get('after') ?? 0);
        return sendJson(res, 200, this.tails.lines(name, Number.isSafeInteger(after) ? after : 0));
      }
      case 'config': {
        const a = await v.query('config', QUERY_TIMEOUT_MS);
        if (!a) throw new HttpError(409, `vassal ${name} is ${v.state} and did not answer`);
        if ('error' in a) throw new HttpError(409, `vassal ${name}: ${a.error}`);
        if (a.what !== 'config') throw new HttpError(500, 'unexpected answer');
        const lines = this.s.showSecrets ? [...a.entries] : redactConfig(a.entries);
        return sendJson(res, 200, {
          text: formatShowConfig(lines.map((l) => ({ ...l, origin: VASSAL_ORIGIN }))),
          secretsShown: this.s.showSecrets,
        });
      }
      case 'workers': {
        const a = await v.query('stats', QUERY_TIMEOUT_MS);
        if (!a) throw new HttpError(409, `vassal ${name} is ${v.state} and did not answer`);
        if ('error' in a) throw new HttpError(409, `vassal ${name}: ${a.error}`);
        if (a.what !== 'stats') throw new HttpError(500, 'unexpected answer');
        return sendJson(res, 200, workerRows(a.stats));
      }
      default:
        throw new HttpError(404, `no endpoint ${url.pathname}`);
    }
  }

  private vassal(name: string) {
    const v = this.emperor.vassals.get(name);
    if (!v) throw new HttpError(404, `no vassal named ${name}`);
    return v;
  }

  private rows() {
    return vassalRows(this.emperor, this.sampler.histories);
  }

  /**
   * Check a state-changing request: its body (at most {@link MAX_BODY} bytes, read and discarded),
   * the Origin when sent (this host only), and for a cookie session the CSRF header.
   * @throws {HttpError} 413, 403.
   */
  private async stateChange(req: IncomingMessage, who: Principal): Promise<void> {
    await readBody(req);
    checkOrigin(req);
    if (!this.auth.csrfOk(who, req))
      throw new HttpError(403, `a state-changing request needs the ${CSRF_HEADER} header of the session`);
  }

  private async loginRoute(req: IncomingMessage, res: ServerResponse): Promise<void> {
    allow(req, 'GET', 'POST');
    if (req.method === 'GET' || req.method === 'HEAD') return this.sendLogin(res, 200, '');
    const body = await readBody(req);
    checkOrigin(req);
    const form = new URLSearchParams(body);
    const session = this.auth.login(form.get('token') ?? '', form.get('name') ?? '', req);
    if (!session) {
      this.log.warn(`dashboard: failed login from ${req.socket.remoteAddress}`);
      return this.sendLogin(res, 401, 'That token is not right.');
    }
    this.log.info(`dashboard: ${session.who} logged in`);
    res.writeHead(303, { Location: '/', 'Set-Cookie': Auth.cookie(session), ...SECURITY_HEADERS }).end();
  }

  private sendLogin(res: ServerResponse, status: number, error: string): void {
    const html = this.assets
      .get('login.html')!
      .toString()
      .replace('<!--error-->', error ? `<p class="error" role="alert">${error}</p>` : '');
    res
      .writeHead(status, {
        'Content-Type': TYPES['.html']!,
        'Cache-Control': 'no-store',
        ...SECURITY_HEADERS,
      })
      .end(html);
  }

  private sendAsset(res: ServerResponse, file: string, cache: string): void {
    const body = this.assets.get(file);
    if (!body || file === 'login.html') throw new HttpError(404, `no asset ${file}`);
    const type = TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream';
    res
      .writeHead(200, {
        'Content-Type': type,
        'Content-Length': body.length,
        'Cache-Control': cache,
        ...SECURITY_HEADERS,
      })
      .end(res.req.method === 'HEAD' ? undefined : body);
  }

  private openStream(req: IncomingMessage, res: ServerResponse, vassal: string | null): void {
    if (vassal !== null) this.vassal(vassal);
    if (this.streams.size >= MAX_STREAMS) throw new HttpError(503, 'too many open event streams');
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
      ...SECURITY_HEADERS,
    });
    req.socket.setTimeout(0);
    const st: Stream = { res, vassal };
    this.streams.add(st);
    res.on('close', () => this.streams.delete(st));
    write(st, frame('rows', this.rows()));
  }

  /** Push the rows to every stream shortly (changes in a burst are sent once). */
  private rowsSoon(): void {
    if (this.rowsTimer || this.streams.size === 0) return;
    this.rowsTimer = setTimeout(() => {
      this.rowsTimer = null;
      this.pushRows();
    }, 100);
  }

  private pushRows(): void {
    if (this.streams.size === 0) return;
    const data = frame('rows', this.rows());
    for (const st of this.streams) write(st, data);
  }

  private afterRound(fresh: ReadonlyMap<string, Sample>): void {
    this.tails.retain(new Set(this.emperor.vassals.keys()));
    this.pushRows();
    for (const st of this.streams) {
      if (!st.vassal || !fresh.has(st.vassal)) continue;
      const pts = this.sampler.histories.get(st.vassal)?.points();
      const last = pts?.[pts.length - 1];
      if (last) write(st, frame('point', last));
    }
  }

  private sendLine(vassal: string, line: TailLine): void {
    for (const st of this.streams) if (st.vassal === vassal) write(st, frame('log', line));
  }
}

/** One server-sent event (the HTML standard's `text/event-stream`): `event:` and one `data:` line. */
function frame(name: string, data: unknown): string {
  return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Write to a stream, or close it when its client stopped reading (it reconnects and starts over). */
function write(st: Stream, data: string): void {
  if (st.res.writableLength > MAX_STREAM_BACKLOG) st.res.destroy();
  else st.res.write(data);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): void {
  const text = JSON.stringify(body);
  res
    .writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': 'no-store',
      ...SECURITY_HEADERS,
      ...headers,
    })
    .end(text);
}

/** @throws {HttpError} 405 (with Allow) unless the method is one of `methods` (HEAD goes with GET). */
function allow(req: IncomingMessage, ...methods: string[]): void {
  const m = req.method ?? '';
  if (methods.includes(m) || (m === 'HEAD' && methods.includes('GET'))) return;
  const list = methods.includes('GET') ? [...methods, 'HEAD'] : methods;
  throw new HttpError(405, `method ${m} not allowed here`, { Allow: list.join(', ') });
}

/** @throws {HttpError} 403 when an Origin header names another site than the Host. */
function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`)
    throw new HttpError(403, `cross-site request from ${origin} refused`);
}

/** The request body as text, at most {@link MAX_BODY} bytes. @throws {HttpError} 413 past it. */
function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) return Promise.reject(new HttpError(413, `a body is at most ${MAX_BODY} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners('data');
        req.pause();
        reject(new HttpError(413, `a body is at most ${MAX_BODY} bytes`));
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** A path segment decoded (`%2F` and all); a malformed escape is a 400. */
function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new HttpError(400, `malformed path segment ${s}`);
  }
}
