import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bytes, duration, isEmperor, renderFrame } from '../../../core/top/render.js';

const worker = (id: number, requests: number, status = 'idle') => ({
  id,
  pid: 1000 + id,
  requests,
  exceptions: 0,
  status,
  avg_rt: 1500,
  rss: 20 * 1048576,
  vsz: 200 * 1048576,
  tx: 4096,
  respawn_count: 1,
  harakiri_count: 0,
  running_time: 90_000,
});

describe('tsgi top frames', () => {
  test('an instance: header, one row per worker, rates from the previous snapshot', () => {
    const prev = { doc: { version: 'tsgi 0.1.0', pid: 7, workers: [worker(1, 10), worker(2, 0)] }, atMs: 0 };
    const cur = {
      doc: {
        version: 'tsgi 0.1.0',
        pid: 7,
        listen_queue: 3,
        workers: [worker(1, 30, 'busy'), worker(2, 10)],
      },
      atMs: 2000,
    };
    const f = renderFrame(cur, prev);
    assert.match(f.lines[0]!, /^tsgi 0\.1\.0 - pid 7/);
    assert.match(f.lines[1]!, /^requests 40 \(15\.0\/s\) {2}workers 2 \(1 busy\) {2}queue 3 /);
    assert.match(f.lines[f.headerLine]!, /^WID\s+%\s+PID\s+REQ\s+RPS/);
    const row1 = f.lines[f.headerLine + 1]!;
    assert.match(
      row1,
      /^\s*1\s+75\.0\s+1001\s+30\s+10\.0\s+0\s+busy\s+1\.5ms\s+20M\s+200M\s+4\.0K\s+1\s+0\s+90\.0ms$/,
    );
  });

  test('an emperor: vassals with state (tsgi) or from uWSGI flags, respawns, blacklist', () => {
    const doc = {
      version: '2.0.21',
      pid: 1,
      emperor: ['dir://vassals'],
      vassals: [
        { id: 'a.ini', pid: 11, born: 100, loyal: 1, ready: 1, respawns: 2, uid: 0, gid: 0 },
        {
          id: 'b.ini',
          pid: 12,
          born: 100,
          state: 'reloading',
          respawns: 0,
          uid: 33,
          gid: 33,
          last_exit: { code: null, signal: 'SIGKILL' },
        },
        { id: 'c.ini', pid: 13, born: 100, cursed: 1, respawns: 5 },
      ],
      blacklist: [{ id: 'd.ini', throttle_level: 3, attempt: 4 }],
    };
    assert.ok(isEmperor(doc));
    const f = renderFrame({ doc, atMs: 160_000 }, null);
    const text = f.lines.join('\n');
    assert.match(text, /^emperor 2\.0\.21 - pid 1 - 3 vassal\(s\), 1 blacklisted/);
    assert.match(text, /a\.ini\s+11\s+loyal\s+2\s+1m00s/);
    assert.match(text, /b\.ini\s+12\s+reloading\s+0\s.*\b33:33\s+SIGKILL$/m);
    assert.match(text, /c\.ini\s+13\s+cursed\s+5/);
    assert.match(text, /d\.ini {2}throttle level 3 {2}attempts 4/);
  });

  test('units', () => {
    assert.equal(bytes(512), '512');
    assert.equal(bytes(1536), '1.5K');
    assert.equal(bytes(300 * 1048576), '300M');
    assert.equal(duration(59), '59s');
    assert.equal(duration(3725), '1h02m');
    assert.equal(duration(90000), '1d01h');
  });

  test('a document without workers or with odd values does not throw', () => {
    const f = renderFrame({ doc: { workers: 'nope', pid: 'x' }, atMs: 0 }, null);
    assert.ok(f.lines.includes('(no workers)'));
  });
});
