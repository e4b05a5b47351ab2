import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { FIXTURES, fetchRaw, startTsgi, type TsgiProcess } from '../helpers/tsgi.js';

describe('post-buffering', () => {
  let tsgi: TsgiProcess;
  let base: string;
  before(async () => {
    tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--wsgi-file',
      `${FIXTURES}/apps/conformance.py`,
      '--post-buffering',
      '65536',
    ]);
    base = tsgi.url();
  });
  after(async () => {
    assert.equal(await tsgi.stop(), 0);
  });

  async function* chunked(total: number, block: number) {
    for (let sent = 0; sent < total; sent += block)
      yield Buffer.alloc(Math.min(block, total - sent), sent % 251);
  }

  test('a chunked body reaches the app with CONTENT_LENGTH set (in memory)', async () => {
    const r = await fetchRaw(`${base}/environ`, { method: 'POST', body: chunked(1000, 100) });
    const env = JSON.parse(r.text) as Record<string, string>;
    assert.equal(env.CONTENT_LENGTH, '1000');
  });

  test('a body larger than post-buffering spills to a temp file and arrives intact', async () => {
    const parts: Buffer[] = [];
    for await (const c of chunked(3 * 1024 * 1024 + 17, 65536)) parts.push(c);
    const whole = Buffer.concat(parts);
    const r = await fetchRaw(`${base}/digest`, { method: 'POST', body: chunked(whole.length, 65536) });
    assert.deepEqual(JSON.parse(r.text), {
      bytes: whole.length,
      sha256: createHash('sha256').update(whole).digest('hex'),
    });
  });

  test('a request without a body is not delayed', async () => {
    const r = await fetchRaw(`${base}/environ`);
    assert.equal((JSON.parse(r.text) as Record<string, string>).CONTENT_LENGTH, undefined);
  });
});
