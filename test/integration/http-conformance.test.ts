import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, ROOT, startTsgi, type TsgiProcess } from '../helpers/tsgi.js';

/**
 * gunicorn's HTTP/1.1 request vectors (shared/conformance/gunicorn-requests): every `valid/` request
 * must be answered by the app; every `invalid/` one must be refused (4xx or a closed connection),
 * never passed to the app. Where tsgi's documented policy differs from gunicorn's, the vector is
 * listed below with the reason (docs/compat.md, HTTP).
 */
const VECTORS = join(ROOT, '..', 'shared', 'conformance', 'gunicorn-requests');

/** Vectors where tsgi's documented policy differs from gunicorn's, with the reason. */
const POLICY: Record<string, { expect: 'accept' | 'reject' | 'either'; why: string }> = {
  // Stricter than gunicorn: node's llhttp parser follows RFC 9112 to the letter.
  'valid/009.http': {
    expect: 'reject',
    why: 'Transfer-Encoding other than chunked in a request: 400 (RFC 9112 §6.3)',
  },
  'valid/013.http': { expect: 'reject', why: 'whitespace in chunk extensions: llhttp rejects it' },
  'valid/027.http': { expect: 'reject', why: 'non-ASCII bytes in the request-target: llhttp rejects them' },
  'valid/028.http': {
    expect: 'reject',
    why: 'whitespace before the colon of a field: 400 (RFC 9112 §5.1 MUST)',
  },
  'valid/031.http': {
    expect: 'reject',
    why: 'unknown method token: llhttp knows the registered methods only',
  },
  'valid/031compat.http': {
    expect: 'reject',
    why: 'unknown method token: llhttp knows the registered methods only',
  },
  'valid/031compat2.http': {
    expect: 'reject',
    why: 'unknown method token: llhttp knows the registered methods only',
  },
  'valid/compat_obs_fold.http': {
    expect: 'reject',
    why: 'obsolete line folding: rejected (RFC 9112 §5.2 allows it)',
  },
  'valid/compat_obs_fold_huge.http': {
    expect: 'reject',
    why: 'obsolete line folding: rejected (RFC 9112 §5.2 allows it)',
  },
  'valid/rfc9112_target_absolute_userinfo_01.http': {
    expect: 'reject',
    why: 'userinfo in an http URI is treated as an error (RFC 9110 §4.2.4)',
  },
  'valid/099.http': {
    expect: 'either',
    why: 'the file holds less body than its Content-Length and the client closes: 400, unless the app answers first',
  },
  'valid/pp_01.http': { expect: 'reject', why: 'PROXY protocol is not spoken (gunicorn setting)' },
  'valid/pp_02.http': { expect: 'reject', why: 'PROXY protocol is not spoken (gunicorn setting)' },
  'valid/pp_04.http': { expect: 'reject', why: 'PROXY protocol is not spoken (gunicorn setting)' },
  'valid/pp_05.http': { expect: 'reject', why: 'PROXY protocol is not spoken (gunicorn setting)' },
  // gunicorn's per-line and per-count limits: tsgi bounds the whole header block (buffer-size).
  'invalid/006.http': {
    expect: 'accept',
    why: 'request line over 4094 bytes: tsgi limits the header block, not the line',
  },
  'invalid/007.http': {
    expect: 'accept',
    why: 'field over 8190 bytes: tsgi limits the header block, not a field',
  },
  'invalid/008.http': {
    expect: 'accept',
    why: 'field over 8190 bytes: tsgi limits the header block, not a field',
  },
  'invalid/009.http': {
    expect: 'accept',
    why: 'over 100 fields: tsgi limits the header block, not the count',
  },
  'invalid/010.http': { expect: 'accept', why: 'gunicorn limit_request_field_size setting' },
  'invalid/011.http': { expect: 'accept', why: 'gunicorn limit_request_fields setting' },
  'invalid/012.http': { expect: 'accept', why: 'gunicorn limit_request_field_size setting' },
  'invalid/017.http': {
    expect: 'accept',
    why: 'field over 8190 bytes: tsgi limits the header block, not a field',
  },
  'invalid/limit_header_default_01.http': {
    expect: 'accept',
    why: 'field over 8190 bytes: tsgi limits the header block',
  },
  // Header names with `_` are dropped (gunicorn's default header_map = drop), never refused.
  'invalid/040.http': { expect: 'accept', why: 'underscore headers dropped, not refused' },
  'invalid/chunked_07.http': { expect: 'accept', why: 'underscore headers dropped, not refused' },
  // tsgi does not interpret forwarding headers, so it has nothing to find inconsistent.
  'invalid/019.http': { expect: 'accept', why: 'X-Forwarded-* are passed to the app, not interpreted' },
  // Whether the app answers before the malformed end of the body is parsed is a race; either way the
  // connection closes and nothing reaches the app after the error.
  'invalid/rfc9112_chunked_missing_final_crlf_01.http': {
    expect: 'either',
    why: 'answered before or after the body end was parsed',
  },
  // Trailer fields are discarded, never merged into the request (RFC 9110 §6.5.1).
  'invalid/rfc9110_trailer_forbidden_host_01.http': {
    expect: 'accept',
    why: 'trailers are discarded, not merged',
  },
};

/** gunicorn's file format: real newlines are not data; `\r\n`, `\n`, `\t`, `\0` and `\xHH` are escapes. */
function load(file: string): Buffer {
  const text = readFileSync(file, 'latin1')
    .replace(/\r?\n/g, '')
    .replace(/\\(r\\n|n|t|0|x[0-9a-fA-F]{2})/g, (_m, e: string) => {
      if (e === 'r\\n') return '\r\n';
      if (e === 'n') return '\n';
      if (e === 't') return '\t';
      if (e === '0') return '\0';
      return String.fromCharCode(Number.parseInt(e.slice(1), 16));
    });
  return Buffer.from(text, 'latin1');
}

/** Send one raw request, return what came back before the server closed or 3 s passed. */
function exchange(url: string, data: Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const sock = connect(Number(port), hostname);
    let out = '';
    const done = () => {
      clearTimeout(t);
      sock.destroy();
      resolve(out);
    };
    const t = setTimeout(done, 3000);
    sock.on('data', (d) => {
      out += d.toString('latin1');
      // One response is enough for the verdict.
      if (/\r\n\r\n/.test(out) && !/^HTTP\/1\.1 100/.test(out)) setTimeout(done, 50);
    });
    sock.on('close', done);
    sock.on('error', done);
    sock.write(data);
    sock.end();
  });
}

const vectorsPresent = (() => {
  try {
    return readdirSync(join(VECTORS, 'valid')).length > 0;
  } catch {
    return false;
  }
})();

describe('gunicorn HTTP request vectors against the HTTP edge', {
  skip: !vectorsPresent && 'shared/conformance not found',
}, () => {
  let tsgi: TsgiProcess;
  before(async () => {
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--processes',
      '2',
    ]);
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
  });

  for (const kind of ['valid', 'invalid'] as const) {
    const files = vectorsPresent ? readdirSync(join(VECTORS, kind)).filter((f) => f.endsWith('.http')) : [];
    for (const f of files.sort()) {
      const name = `${kind}/${f}`;
      const expect = POLICY[name]?.expect ?? (kind === 'valid' ? 'accept' : 'reject');
      test(`${name}: ${expect}`, async () => {
        const out = await exchange(tsgi.url(), load(join(VECTORS, kind, f)));
        const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(out)?.[1] ?? 0);
        if (expect === 'either') {
          assert.ok([0, 200, 400].includes(status), `got ${status}`);
          return;
        }
        if (expect === 'accept')
          assert.ok(
            status >= 200 && status < 500 && status !== 400,
            `got ${status || 'no response'}:\n${out.slice(0, 200)}`,
          );
        else
          assert.ok(
            status === 0 || (status >= 400 && status < 500) || status === 505,
            `got ${status}:\n${out.slice(0, 200)}`,
          );
      });
    }
  }
});
