import type { Socket } from 'node:net';
import { encodePairs } from '../../plugins/fastcgi/pairs.js';
import { RecordReader } from '../../plugins/fastcgi/parser.js';
import {
  decodeEndRequest,
  type EndRequest,
  encodeBeginRequest,
  encodeStream,
  RecordType,
  Role,
} from '../../plugins/fastcgi/record.js';
import { dial } from './peers.js';
import { waitFor } from './tsgi.js';

/** A record as a test sees it. */
export interface Rec {
  type: number;
  id: number;
  content: Buffer;
}

/** Decode every whole record in `buf`. */
export function records(buf: Buffer): Rec[] {
  const out: Rec[] = [];
  new RecordReader((type, id, b, s, e) =>
    out.push({ type, id, content: Buffer.from(b.subarray(s, e)) }),
  ).push(buf);
  return out;
}

/** The bytes of one whole responder request: BEGIN_REQUEST, PARAMS, STDIN (each stream ended). */
export function fcgiRequest(
  id: number,
  params: Array<[string, string]>,
  stdin: Buffer | string = Buffer.alloc(0),
  flags = 0,
  role: number = Role.RESPONDER,
): Buffer {
  return Buffer.concat([
    encodeBeginRequest(id, role, flags),
    encodeStream(RecordType.PARAMS, id, encodePairs(params), true),
    encodeStream(RecordType.STDIN, id, Buffer.from(stdin), true),
  ]);
}

/** One request's answer: its STDOUT bytes, split into CGI head and body, and its END_REQUEST. */
export interface FcgiAnswer {
  stdout: Buffer;
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  end: EndRequest | null;
}

/** Collect the answer to request `id` from a list of records. */
export function answer(recs: Rec[], id: number): FcgiAnswer {
  const stdout = Buffer.concat(
    recs.filter((r) => r.id === id && r.type === RecordType.STDOUT).map((r) => r.content),
  );
  const endRec = recs.find((r) => r.id === id && r.type === RecordType.END_REQUEST);
  const split = stdout.indexOf('\r\n\r\n');
  const head = split < 0 ? '' : stdout.toString('latin1', 0, split);
  const headers = head
    .split('\r\n')
    .filter(Boolean)
    .map(
      (l) =>
        [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()] as [string, string],
    );
  const status = Number(headers.find(([n]) => n === 'status')?.[1].split(' ')[0] ?? 0);
  return {
    stdout,
    status,
    headers,
    body: split < 0 ? Buffer.alloc(0) : stdout.subarray(split + 4),
    end: endRec ? decodeEndRequest(endRec.content, 0, endRec.content.length) : null,
  };
}

/** A FastCGI connection a test drives by hand (keep-alive, multiplexing). */
export class FcgiConn {
  readonly sock: Socket;
  private buf = Buffer.alloc(0);
  closed = false;

  constructor(address: string) {
    this.sock = dial(address);
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
    });
  }

  send(data: Buffer): void {
    this.sock.write(data);
  }

  /** Every record received so far. */
  records(): Rec[] {
    return records(this.buf);
  }

  /** Wait until END_REQUEST for `id` arrived; returns its answer. */
  async answer(id: number, timeoutMs = 10_000): Promise<FcgiAnswer> {
    await waitFor(
      () => this.records().some((r) => r.id === id && r.type === RecordType.END_REQUEST),
      timeoutMs,
      `END_REQUEST for request ${id}`,
    );
    return answer(this.records(), id);
  }

  close(): void {
    this.sock.destroy();
  }
}
