import type { Socket } from 'node:net';
import type { BodySource, TsgiRequest } from '../../core/request/request.js';
import type { ResponseSink } from '../../core/request/sink.js';
import {
  connectUpstream,
  Exchange,
  type ForwardDefaults,
  type ForwardResult,
  forwardSettings,
  UpstreamError,
} from '../../core/request/upstream.js';
import { encodePacket, UWSGI_HEADER_BYTES, UwsgiCodecError } from './codec.js';
import type { UwsgiClient, UwsgiForwardOptions } from './contract.js';
import { UwsgiResponseReader } from './response.js';

/**
 * The uwsgi protocol's client side: one connection per request (a uwsgi server answers with raw
 * HTTP and closes), the request as a uwsgi packet (header, vars, then `CONTENT_LENGTH` body bytes
 * streamed with backpressure), the response read by {@link UwsgiResponseReader}.
 */
export class UwsgiUpstreamClient implements UwsgiClient {
  constructor(private readonly defaults: ForwardDefaults) {}

  async forward(
    req: TsgiRequest,
    sink: ResponseSink,
    address: string,
    opts?: UwsgiForwardOptions,
  ): Promise<ForwardResult> {
    const s = forwardSettings(this.defaults, opts);
    let socket: Socket | null = null;
    const ex = new Exchange(req, sink, s.readTimeoutMs, `uwsgi upstream ${address}`, opts?.signal, () =>
      socket?.destroy(),
    );
    const sized = await ex.sizedBody();
    if (!sized) return ex.result;
    const { body, length } = sized;
    let packet: Buffer;
    try {
      packet = requestPacket(req.vars, length, opts?.modifier1 ?? 0, opts?.modifier2 ?? 0);
    } catch (err) {
      ex.error(err as UpstreamError);
      return ex.result;
    }
    if (ex.done) return ex.result;
    try {
      socket = await connectUpstream(address, s.connectTimeoutMs);
    } catch (err) {
      ex.error(err as UpstreamError);
      return ex.result;
    }
    if (ex.done) {
      socket.destroy();
      return ex.result;
    }
    this.exchange(ex, socket, packet, body, req.var('REQUEST_METHOD'), s.maxHeadBytes);
    return ex.result;
  }

  /**
   * Ask a uwsgi server whether it is alive (uWSGI's ping: modifier1 100). Resolves true when it
   * answers with a pong, false on any error or after `timeoutMs`.
   */
  ping(address: string, timeoutMs: number): Promise<boolean> {
    return connectUpstream(address, timeoutMs).then(
      (sock) =>
        new Promise<boolean>((resolve) => {
          let got = Buffer.alloc(0);
          const t = setTimeout(() => sock.destroy(), timeoutMs);
          sock.on('data', (c: Buffer) => {
            got = Buffer.concat([got, c]);
          });
          sock.on('error', () => {});
          sock.on('close', () => {
            clearTimeout(t);
            resolve(got.length >= UWSGI_HEADER_BYTES && got[0] === 100 && got[3] === 1);
          });
          sock.end(Buffer.from([100, 0, 0, 0]));
        }),
      () => false,
    );
  }

  private exchange(
    ex: Exchange,
    socket: Socket,
    packet: Buffer,
    body: BodySource | null,
    method: string,
    maxHeadBytes: number,
  ): void {
    const reader = new UwsgiResponseReader(method, maxHeadBytes, {
      head: (status, reason, headers, len) => ex.head(status, reason, headers, len),
      data: (chunk) => ex.write(chunk, () => reader.resume()),
      end: () => {
        ex.end();
        socket.destroy();
      },
      error: (code, message) => ex.error(new UpstreamError(code, 502, message)),
    });
    reader.onResume(() => socket.resume());
    socket.on('data', (chunk: Buffer) => {
      ex.touch();
      if (!reader.push(chunk)) socket.pause();
    });
    socket.on('end', () => reader.finish());
    socket.on('error', () => {});
    socket.on('close', () => {
      reader.finish();
      if (!ex.done)
        ex.error(new UpstreamError('TSGI_ERR_UPSTREAM_CLOSED', 502, 'upstream closed the connection'));
    });
    socket.write(packet);
    ex.touch();
    ex.pumpBody(
      body,
      (chunk) => {
        ex.touch();
        return socket.write(chunk);
      },
      (cb) => socket.once('drain', cb),
      () => {},
    );
  }
}

/**
 * The uwsgi request packet for `vars`: `CONTENT_LENGTH` set to `bodyLength` (dropped when 0), every
 * other var as given.
 * @throws {UpstreamError} TSGI_ERR_UPSTREAM_REQUEST (431) when the vars do not fit a uwsgi packet
 *   (65535 bytes).
 */
export function requestPacket(
  vars: ReadonlyMap<string, string>,
  bodyLength: number,
  modifier1: number,
  modifier2: number,
): Buffer {
  const pairs: Array<[string, string]> = [];
  for (const [k, v] of vars) if (k !== 'CONTENT_LENGTH') pairs.push([k, v]);
  if (bodyLength > 0) pairs.push(['CONTENT_LENGTH', String(bodyLength)]);
  try {
    return encodePacket(pairs, modifier1, modifier2);
  } catch (err) {
    if (!(err instanceof UwsgiCodecError)) throw err;
    throw new UpstreamError(
      'TSGI_ERR_UPSTREAM_REQUEST',
      431,
      `request too large for the uwsgi protocol: ${err.message}`,
    );
  }
}
