import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { LogSink } from '../../../core/log/logger.js';
import { tempDir, waitFor } from '../../helpers/tsgi.js';

describe('LogSink', () => {
  test('reopen: later lines go to a new file at the same path, written ones stay in the moved file', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'a.log');
      const sink = LogSink.open(path);
      sink.line('one');
      await waitFor(() => readFileSync(path, 'utf8') === 'one\n', 2000, 'first line');
      renameSync(path, `${path}.1`);
      sink.line('two');
      sink.reopen();
      sink.line('three');
      // Lines still queued at the reopen go to the new file: none is lost, none written twice.
      await waitFor(() => readFileSync(path, 'utf8') === 'two\nthree\n', 2000, 'new file');
      assert.equal(readFileSync(`${path}.1`, 'utf8'), 'one\n');
      sink.close();
    } finally {
      dir.cleanup();
    }
  });

  test('a destination that does not read: lines beyond the bound are dropped and counted, and the loop never blocks', async () => {
    // A child that never reads its stdin: the pipe buffer fills, then the sink's queue.
    const child = spawn('sleep', ['30'], { stdio: ['pipe', 'ignore', 'ignore'] });
    try {
      const fd = (child.stdin as unknown as { _handle: { fd: number } })._handle.fd;
      const sink = new LogSink(fd, 64 * 1024);
      const line = 'x'.repeat(1000);
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      for (let round = 0; round < 40; round++) {
        for (let i = 0; i < 100; i++) sink.line(line);
        await new Promise((r) => setTimeout(r, 10));
      }
      clearInterval(ticker);
      assert.ok(sink.dropped > 0, 'some lines were dropped');
      assert.ok(sink.dropped < 4000);
      assert.ok(ticks > 20, `timers kept running (${ticks} ticks)`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  test('an encoder turns each line into its record', async () => {
    const dir = tempDir();
    try {
      const path = join(dir.path, 'b.log');
      const sink = LogSink.open(path);
      sink.setEncoder((l) => `<${l}>\n`);
      sink.line('a');
      sink.close();
      assert.equal(readFileSync(path, 'utf8'), '<a>\n');
    } finally {
      dir.cleanup();
    }
  });
});
