import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { clientArgs } from '../../../../plugins/pty/client.js';
import { tempDir } from '../../../helpers/tsgi.js';

describe('tsgi --pty-connect arguments', () => {
  test('raw and framed, with a space or =', () => {
    assert.deepEqual(clientArgs(['--pty-connect', '/run/c.sock']), {
      address: '/run/c.sock',
      framed: false,
      token: process.env.TSGI_PTY_TOKEN ?? null,
    });
    assert.equal(clientArgs(['--pty-uconnect=127.0.0.1:4000'])?.framed, true);
    assert.equal(clientArgs(['--pty-uconnect=127.0.0.1:4000'])?.address, '127.0.0.1:4000');
    assert.equal(clientArgs(['--http-socket', ':8080']), null);
  });

  test('the token comes from --pty-token-file, trimmed', () => {
    const dir = tempDir();
    try {
      const f = join(dir.path, 'tok');
      writeFileSync(f, 'abc123\n');
      assert.equal(clientArgs(['--pty-connect', 'h:1', '--pty-token-file', f])?.token, 'abc123');
      assert.throws(
        () => clientArgs(['--pty-connect', 'h:1', '--pty-token-file', join(dir.path, 'missing')]),
        /ENOENT/,
      );
    } finally {
      dir.cleanup();
    }
  });
});
