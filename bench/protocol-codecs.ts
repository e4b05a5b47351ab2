/**
 * Codec micro-benchmark: requests decoded and responses encoded per second for uwsgi, FastCGI and
 * HTTP/1.1, on the request nginx sends for a typical browser GET (its stock params plus ten
 * browser headers). It checks the uWSGI literature's claim that the uwsgi protocol is much cheaper
 * to parse than FastCGI.
 *
 *   npm run build && node dist/bench/protocol-codecs.js [--seconds 0.5] [--rounds 5]
 *
 * Each figure is the median of `rounds` interleaved runs of `seconds` each.
 *
 * Each decoder produces what its edge hands on (a Map of CGI vars); the HTTP decoder is node's
 * llhttp through node:http (what the HTTP edge runs) plus tsgi's vars builder. Writes
 * bench/results/protocol-codecs.json and prints a markdown table.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import { addRequestVar } from '../core/request/cgi.js';
import { encodeCgiHead } from '../core/request/cgi-head.js';
import { encodePairs, decodePairs as fcgiPairs } from '../plugins/fastcgi/pairs.js';
import { RecordReader } from '../plugins/fastcgi/parser.js';
import {
  decodeBeginRequest,
  encodeBeginRequest,
  encodeEndRequest,
  encodeStream,
  FCGI_HEADER_BYTES,
  ProtocolStatus,
  RecordType,
  Role,
  writeRecordHeader,
} from '../plugins/fastcgi/record.js';
import { buildVars } from '../plugins/http/vars.js';
import { encodePacket } from '../plugins/uwsgi/codec.js';
import { UwsgiRequestParser } from '../plugins/uwsgi/parser.js';
import { encodeHttpHead } from '../plugins/uwsgi/sink.js';
import { markdownTable, saveResults } from './lib.js';

const argv = process.argv.slice(2);
const SECONDS = Number(argv[argv.indexOf('--seconds') + 1] || 0.5) || 0.5;

/** What nginx sends for `GET /app/page?id=42` from a browser (uwsgi_params + headers). */
const HEADERS: Array<[string, string]> = [
  ['Host', 'www.example.org'],
  ['User-Agent', 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0'],
  ['Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'],
  ['Accept-Language', 'en-US,en;q=0.5'],
  ['Accept-Encoding', 'gzip, deflate, br'],
  ['Referer', 'https://www.example.org/app/'],
  ['Connection', 'keep-alive'],
  ['Cookie', 'sessionid=abcdef0123456789abcdef0123456789; csrftoken=0123456789abcdefABCDEF0123456789'],
  ['Upgrade-Insecure-Requests', '1'],
  ['Cache-Control', 'max-age=0'],
];
const VARS: Array<[string, string]> = [
  ['QUERY_STRING', 'id=42'],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/app/page?id=42'],
  ['PATH_INFO', '/app/page'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'https'],
  ['HTTPS', 'on'],
  ['REMOTE_ADDR', '203.0.113.7'],
  ['REMOTE_PORT', '51234'],
  ['SERVER_PORT', '443'],
  ['SERVER_NAME', 'www.example.org'],
  ...HEADERS.map(([k, v]) => [`HTTP_${k.toUpperCase().replace(/-/g, '_')}`, v] as [string, string]),
];

const uwsgiRequest = encodePacket(VARS);
const fcgiRequest = Buffer.concat([
  encodeBeginRequest(1, Role.RESPONDER, 1),
  encodeStream(RecordType.PARAMS, 1, encodePairs(VARS), true),
  encodeStream(RecordType.STDIN, 1, Buffer.alloc(0), true),
]);
const httpRequest = Buffer.from(
  `GET /app/page?id=42 HTTP/1.1\r\n${HEADERS.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`,
  'latin1',
);

const RESPONSE_HEADERS = ['Content-Type', 'text/html; charset=utf-8', 'Set-Cookie', 'seen=1; Path=/'];
const BODY = Buffer.from('Hello, World!');

/** Run `fn` repeatedly for about SECONDS; returns operations per second. */
function measure(fn: () => void): number {
  for (let i = 0; i < 2000; i++) fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < until) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

function decodeUwsgi(): Map<string, string> {
  return new UwsgiRequestParser(65535).push(uwsgiRequest)!.head.vars;
}

function decodeFastcgi(): Map<string, string> {
  const params: Buffer[] = [];
  let vars: Map<string, string> | null = null;
  const reader = new RecordReader((type, _id, buf, start, end) => {
    if (type === RecordType.BEGIN_REQUEST) decodeBeginRequest(buf, start, end);
    else if (type === RecordType.PARAMS) {
      if (end > start) params.push(buf.subarray(start, end));
      else {
        const pairs = fcgiPairs(params.length === 1 ? params[0]! : Buffer.concat(params));
        vars = new Map();
        for (let i = 0; i < pairs.length; i += 2) addRequestVar(vars, pairs[i]!, pairs[i + 1]!);
      }
    }
  });
  reader.push(fcgiRequest);
  return vars!;
}

/** The framing alone: walk the uwsgi vars block's lengths, no strings made. Returns the pair count. */
function scanUwsgi(): number {
  const b = uwsgiRequest;
  const end = 4 + (b[1]! | (b[2]! << 8));
  let o = 4;
  let n = 0;
  while (o < end) {
    o += 2 + (b[o]! | (b[o + 1]! << 8));
    o += 2 + (b[o]! | (b[o + 1]! << 8));
    n++;
  }
  return n;
}

/** A FastCGI pair length at `p`: one byte, or four with the high bit set. */
function pairLength(b: Buffer, p: number): number {
  const first = b[p]!;
  return first < 128 ? first : ((first & 0x7f) << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

/** The framing alone: walk the FastCGI records and the pairs' lengths, no strings made. */
function scanFastcgi(): number {
  const b = fcgiRequest;
  let o = 0;
  let n = 0;
  while (o + 8 <= b.length) {
    const type = b[o + 1]!;
    const len = (b[o + 4]! << 8) | b[o + 5]!;
    const start = o + 8;
    if (type === RecordType.PARAMS) {
      let p = start;
      while (p < start + len) {
        const kl = pairLength(b, p);
        p += kl < 128 ? 1 : 4;
        const vl = pairLength(b, p);
        p += vl < 128 ? 1 : 4;
        p += kl + vl;
        n++;
      }
    }
    o = start + len + b[o + 6]!;
  }
  return n;
}

function encodeUwsgiResponse(): Buffer {
  return Buffer.concat([encodeHttpHead('HTTP/1.1', 200, 'OK', RESPONSE_HEADERS, BODY.length), BODY]);
}

function encodeFastcgiResponse(): Buffer {
  const head = encodeCgiHead(200, 'OK', RESPONSE_HEADERS, BODY.length);
  const hdr = Buffer.allocUnsafe(FCGI_HEADER_BYTES * 3);
  writeRecordHeader(hdr, 0, RecordType.STDOUT, 1, head.length);
  writeRecordHeader(hdr, 8, RecordType.STDOUT, 1, BODY.length);
  writeRecordHeader(hdr, 16, RecordType.STDOUT, 1, 0);
  return Buffer.concat([
    hdr.subarray(0, 8),
    head,
    hdr.subarray(8, 16),
    BODY,
    hdr.subarray(16),
    encodeEndRequest(1, 0, ProtocolStatus.REQUEST_COMPLETE),
  ]);
}

/**
 * HTTP through node:http on an in-memory connection: `batch` pipelined requests per chunk; each is
 * parsed by llhttp, turned into vars, and (with `respond`) answered through ServerResponse.
 * Returns requests per second.
 */
async function measureHttp(respond: boolean): Promise<number> {
  const batch = 100;
  let handled = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    buildVars(req, { serverName: 'www.example.org', serverPort: '443' });
    handled++;
    if (respond) {
      res.writeHead(200, 'OK', [...RESPONSE_HEADERS, 'Content-Length', String(BODY.length)]);
      res.end(BODY);
    }
  });
  const chunk = Buffer.concat(Array.from({ length: batch }, () => httpRequest));
  const run = (rounds: number): Promise<void> =>
    new Promise((resolve) => {
      const conn = new Duplex({ read() {}, write: (_c, _e, cb) => cb() });
      Object.assign(conn, { remoteAddress: '127.0.0.1', remotePort: 5000 });
      server.emit('connection', conn);
      const target = handled + rounds * batch;
      for (let i = 0; i < rounds; i++) conn.push(chunk);
      const wait = () => {
        if (handled < target) {
          setImmediate(wait);
          return;
        }
        conn.destroy();
        resolve();
      };
      wait();
    });
  await run(20);
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(SECONDS * 1e9));
  let n = 0;
  while (process.hrtime.bigint() < until) {
    await run(10);
    n += 10 * batch;
  }
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

function check(): void {
  const u = decodeUwsgi();
  const f = decodeFastcgi();
  if (JSON.stringify([...u]) !== JSON.stringify([...f]))
    throw new Error('uwsgi and FastCGI decoders disagree');
  if (u.size !== VARS.length) throw new Error('decoder lost vars');
  if (scanUwsgi() !== VARS.length || scanFastcgi() !== VARS.length) throw new Error('scanners lost pairs');
}

/** Median of `rounds` interleaved measurements per codec, so that load from other processes on the machine hits all alike. */
async function medians(rounds: number) {
  const runs: Record<string, number[]> = {};
  const add = (k: string, v: number) => {
    runs[k] ??= [];
    runs[k].push(v);
  };
  for (let i = 0; i < rounds; i++) {
    add('uwsgi.scan', measure(scanUwsgi));
    add('fastcgi.scan', measure(scanFastcgi));
    add('uwsgi.decode', measure(decodeUwsgi));
    add('fastcgi.decode', measure(decodeFastcgi));
    add('uwsgi.encode', measure(encodeUwsgiResponse));
    add('fastcgi.encode', measure(encodeFastcgiResponse));
    add('http.decode', await measureHttp(false));
    add('http.both', await measureHttp(true));
  }
  const med = (k: string) => {
    const v = [...runs[k]!].sort((a, b) => a - b);
    return v[Math.floor(v.length / 2)]!;
  };
  return {
    uwsgi: { scan: med('uwsgi.scan'), decode: med('uwsgi.decode'), encode: med('uwsgi.encode') },
    fastcgi: { scan: med('fastcgi.scan'), decode: med('fastcgi.decode'), encode: med('fastcgi.encode') },
    http: { decode: med('http.decode'), both: med('http.both') },
  };
}

check();
const ROUNDS = Number(argv[argv.indexOf('--rounds') + 1] || 5) || 5;
const rows = await medians(ROUNDS);
const ratio = rows.uwsgi.decode / rows.fastcgi.decode;
const scanRatio = rows.uwsgi.scan / rows.fastcgi.scan;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const us = (n: number) => (1e6 / n).toFixed(2);
const table = markdownTable(
  [
    'protocol',
    'request bytes',
    'framing walked/s',
    'requests decoded/s',
    'µs/decode',
    'responses encoded/s',
    'µs/encode',
  ],
  [
    [
      'uwsgi',
      uwsgiRequest.length,
      fmt(rows.uwsgi.scan),
      fmt(rows.uwsgi.decode),
      us(rows.uwsgi.decode),
      fmt(rows.uwsgi.encode),
      us(rows.uwsgi.encode),
    ],
    [
      'FastCGI',
      fcgiRequest.length,
      fmt(rows.fastcgi.scan),
      fmt(rows.fastcgi.decode),
      us(rows.fastcgi.decode),
      fmt(rows.fastcgi.encode),
      us(rows.fastcgi.encode),
    ],
    [
      'HTTP/1.1 (node:http)',
      httpRequest.length,
      '',
      fmt(rows.http.decode),
      us(rows.http.decode),
      `${fmt(rows.http.both)} (decode + respond)`,
      us(rows.http.both),
    ],
  ],
);
const path = saveResults('protocol-codecs', {
  date: new Date().toISOString(),
  node: process.version,
  seconds: SECONDS,
  rounds: ROUNDS,
  vars: VARS.length,
  opsPerSecond: rows,
  uwsgiOverFastcgiDecodeRatio: ratio,
  uwsgiOverFastcgiFramingRatio: scanRatio,
});
process.stdout.write(
  `${table}\n\nuwsgi / FastCGI decode ratio: ${ratio.toFixed(2)}x (framing alone: ${scanRatio.toFixed(2)}x)\nwritten to ${path}\n`,
);
