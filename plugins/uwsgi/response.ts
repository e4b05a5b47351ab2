import { type IncomingMessage, request } from 'node:http';
import { Duplex } from 'node:stream';
import { type CgiHeadError, CgiHeadReader } from '../../core/request/cgi-head.js';
import { endToEndHeaders } from '../../core/request/headers.js';

/**
 * Reading the response a uwsgi server sends back: raw HTTP/1.x (`HTTP/1.1 200 OK`, headers, body
 * delimited by Content-Length, chunked coding or the end of the connection), or a CGI-style head
 * (`Status: 200 OK`) whose body runs to the end of the connection. HTTP is parsed by node's own
 * llhttp, through its supported API: an `http.ClientRequest` whose connection
 * (`options.createConnection`) is an in-memory Duplex fed with the upstream's bytes (what
 * ClientRequest writes into it is discarded).
 */

/** What the reader reports, in order: `head` once, `data`*, then `end` or `error` (once). */
export interface ResponseEvents {
  /** Hop-by-hop headers (Connection, Keep-Alive, Transfer-Encoding, ...) are already removed. */
  head(status: number, reason: string, headers: string[], bodyLength: number): void;
  /** A body chunk; return false to pause reading until `resume()`. */
  data(chunk: Buffer): boolean;
  end(): void;
  /** A malformed or truncated response (`code` TSGI_ERR_UPSTREAM_PROTOCOL or TSGI_ERR_UPSTREAM_CLOSED). */
  error(code: 'TSGI_ERR_UPSTREAM_PROTOCOL' | 'TSGI_ERR_UPSTREAM_CLOSED', message: string): void;
}

/** Content-Length of a header list when it is one plain number, else -1. */
function declaredLength(headers: readonly string[]): number {
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i]!.length === 14 && headers[i]!.toLowerCase() === 'content-length') {
      const v = headers[i + 1]!;
      return /^\d{1,15}$/.test(v) ? Number(v) : -1;
    }
  return -1;
}

/**
 * Incremental reader of one upstream response. Feed it with `push` and `finish` (end of the
 * connection); it calls the {@link ResponseEvents}. `push` returns false when the consumer is not
 * reading: stop reading the socket until the `onResume` callback fires.
 */
export class UwsgiResponseReader {
  private mode: 'sniff' | 'http' | 'cgi' = 'sniff';
  private sniffed: Buffer = Buffer.alloc(0);
  private cgi: CgiHeadReader | null = null;
  private cgiHeadDone = false;
  private http: HttpResponseParser | null = null;
  /** HTTP head bytes seen so far (-1 once the head is complete), for the exact head limit. */
  private httpHeadBytes = 0;
  private tail = '';
  private over = false;
  private resumeCb: (() => void) | null = null;

  /**
   * @param method the request's method (a HEAD response has no body whatever its headers say)
   * @param maxHeadBytes largest response head accepted, bytes
   */
  constructor(
    private readonly method: string,
    private readonly maxHeadBytes: number,
    private readonly events: ResponseEvents,
  ) {}

  /** Register the callback for when a paused consumer reads again. */
  onResume(cb: () => void): void {
    this.resumeCb = cb;
  }

  /** Bytes from the upstream. Returns false when reading should pause. */
  push(chunk: Buffer): boolean {
    if (this.over) return true;
    if (this.mode === 'sniff') {
      const buf = this.sniffed.length ? Buffer.concat([this.sniffed, chunk]) : chunk;
      if (buf.length < 5 && 'HTTP/'.startsWith(buf.toString('latin1'))) {
        this.sniffed = buf;
        return true;
      }
      this.sniffed = Buffer.alloc(0);
      if (buf.toString('latin1', 0, 5) === 'HTTP/') {
        this.mode = 'http';
        this.http = new HttpResponseParser(this.method, this.maxHeadBytes + 1024, this.wrap());
      } else {
        this.mode = 'cgi';
        this.cgi = new CgiHeadReader(this.maxHeadBytes);
      }
      chunk = buf;
    }
    if (this.mode === 'http') {
      if (this.httpHeadBytes >= 0 && !this.countHead(chunk)) return true;
      return this.http!.push(chunk);
    }
    return this.pushCgi(chunk);
  }

  /** The upstream closed its side: the end of a close-delimited body, or a truncated response. */
  finish(): void {
    if (this.over) return;
    if (this.mode === 'http') this.http!.finish();
    else if (this.mode === 'cgi' && this.cgiHeadDone) this.done();
    else this.fail('TSGI_ERR_UPSTREAM_CLOSED', 'upstream closed the connection before the response head');
  }

  /**
   * Count HTTP head bytes up to the blank line (llhttp's own limit is approximate); false after
   * failing the response for a head over `maxHeadBytes`.
   */
  private countHead(chunk: Buffer): boolean {
    const scan = this.tail + chunk.toString('latin1', 0, Math.min(chunk.length, this.maxHeadBytes + 4));
    const m = /\r?\n\r?\n/.exec(scan);
    const end = m ? this.httpHeadBytes - this.tail.length + m.index + m[0].length : -1;
    if (end > this.maxHeadBytes || (end < 0 && this.httpHeadBytes + chunk.length > this.maxHeadBytes)) {
      this.fail('TSGI_ERR_UPSTREAM_PROTOCOL', `response head larger than ${this.maxHeadBytes} bytes`);
      return false;
    }
    if (end >= 0) this.httpHeadBytes = -1;
    else {
      this.httpHeadBytes += chunk.length;
      this.tail = scan.slice(-3);
    }
    return true;
  }

  private pushCgi(chunk: Buffer): boolean {
    if (this.cgiHeadDone) return this.events.data(chunk);
    let parsed: ReturnType<CgiHeadReader['push']>;
    try {
      parsed = this.cgi!.push(chunk);
    } catch (err) {
      this.fail(
        'TSGI_ERR_UPSTREAM_PROTOCOL',
        `invalid response from upstream: ${(err as CgiHeadError).message}`,
      );
      return true;
    }
    if (!parsed) return true;
    this.cgiHeadDone = true;
    const { status, reason, headers } = parsed.head;
    this.events.head(status, reason, endToEndHeaders(headers), -1);
    if (this.method === 'HEAD') {
      this.done();
      return true;
    }
    return parsed.rest.length === 0 || this.events.data(parsed.rest);
  }

  /** Events that stop after the first end or error, and route resumes to the caller. */
  private wrap(): ResponseEvents & { resumed(): void } {
    return {
      head: (s, r, h, l) => {
        if (!this.over) this.events.head(s, r, h, l);
      },
      data: (c) => this.over || this.events.data(c),
      end: () => this.done(),
      error: (code, msg) => this.fail(code, msg),
      resumed: () => this.resumeCb?.(),
    };
  }

  /** The consumer reads again: resume the parser (HTTP) and the socket. */
  resume(): void {
    if (this.http) this.http.resume();
    else this.resumeCb?.();
  }

  private done(): void {
    if (this.over) return;
    this.over = true;
    this.events.end();
  }

  private fail(code: 'TSGI_ERR_UPSTREAM_PROTOCOL' | 'TSGI_ERR_UPSTREAM_CLOSED', message: string): void {
    if (this.over) return;
    this.over = true;
    this.events.error(code, message);
  }
}

/** node's llhttp over an in-memory connection (see the module comment). */
class HttpResponseParser {
  private readonly conn: Duplex;
  private res: IncomingMessage | null = null;
  private ended = false;
  private wantRead = true;

  constructor(method: string, maxHeadBytes: number, ev: ResponseEvents & { resumed(): void }) {
    this.conn = new Duplex({
      read: () => {
        if (!this.wantRead) {
          this.wantRead = true;
          ev.resumed();
        }
      },
      write: (_chunk, _enc, cb) => cb(),
      final: (cb) => cb(),
    });
    const req = request({
      method,
      path: '/',
      setHost: false,
      createConnection: () => this.conn,
      maxHeaderSize: maxHeadBytes,
    });
    req.on('response', (res: IncomingMessage) => {
      this.res = res;
      const headers = endToEndHeaders(res.rawHeaders);
      const length = method === 'HEAD' ? -1 : declaredLength(headers);
      ev.head(res.statusCode ?? 502, res.statusMessage ?? '', headers, length);
      if (method === 'HEAD') {
        // No body whatever the headers say; uWSGI sends the app's body anyway: ignore it.
        this.ended = true;
        ev.end();
        return;
      }
      res.on('data', (chunk: Buffer) => {
        if (!ev.data(chunk)) res.pause();
      });
      res.on('end', () => {
        this.ended = true;
        ev.end();
      });
      res.on('aborted', () => {
        if (!this.ended) ev.error('TSGI_ERR_UPSTREAM_CLOSED', 'upstream closed the connection mid-body');
      });
      res.on('error', () => {});
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // Bytes after a complete message (a body sent anyway) are not this response's business.
      if (this.ended || this.res?.complete) return;
      if (err.code === 'ECONNRESET' && !this.res)
        ev.error('TSGI_ERR_UPSTREAM_CLOSED', 'upstream closed the connection before the response head');
      else if (err.code === 'ECONNRESET')
        ev.error('TSGI_ERR_UPSTREAM_CLOSED', 'upstream closed the connection mid-body');
      else
        ev.error(
          'TSGI_ERR_UPSTREAM_PROTOCOL',
          `invalid HTTP response from upstream: ${err.code ?? err.message}`,
        );
    });
    req.end();
  }

  push(chunk: Buffer): boolean {
    if (!this.conn.push(chunk)) this.wantRead = false;
    return this.wantRead;
  }

  finish(): void {
    this.conn.push(null);
  }

  resume(): void {
    this.res?.resume();
  }
}
