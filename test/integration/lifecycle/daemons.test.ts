import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { alive, FIXTURES, startTsgi, tempDir, waitFor } from '../../helpers/tsgi.js';

describe('attach-daemon', () => {
  test('a daemon runs beside the instance, is restarted when it dies and stopped with the instance', async () => {
    const dir = tempDir();
    try {
      const marker = join(dir.path, 'daemon.pid');
      const tsgi = await startTsgi([
        '--http-socket',
        '127.0.0.1:0',
        '--wsgi-file',
        `${FIXTURES}/apps/crashy.py`,
        '--attach-daemon',
        `echo $$ > ${marker}; exec sleep 60`,
      ]);
      try {
        const m = await tsgi.waitForLine(/spawned daemon '.*' \(pid (\d+)\)/);
        const first = Number(m[1]);
        assert.ok(alive(first));
        process.kill(first, 'SIGKILL');
        await tsgi.waitForLine(/daemon '.*' \(pid \d+\) died \(killed by SIGKILL\); restarting in \d+ ms/);
        const again = await waitFor(
          () => [...tsgi.output.matchAll(/spawned daemon '.*' \(pid (\d+)\)/g)].length === 2,
          10_000,
          'the daemon restarted',
        ).then(() => Number([...tsgi.output.matchAll(/spawned daemon '.*' \(pid (\d+)\)/g)][1]![1]));
        assert.ok(alive(again));
        assert.equal(await tsgi.stop(), 0);
        assert.ok(!alive(again), 'stopped with the instance');
        assert.match(tsgi.output, /daemon '.*' \(pid \d+\) stopped \(killed by SIGTERM\)/);
      } finally {
        tsgi.kill();
      }
    } finally {
      dir.cleanup();
    }
  });
});
