import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { closed, nextMessage, openWs, wsUrl } from '../../helpers/asgi.js';
import { fetchRaw, ROOT, startTsgi } from '../../helpers/tsgi.js';

describe('the chat demo vassal (vassals/chat.ini)', () => {
  test('runs on python3 with its standard library: the page, and a room shared by two clients', async () => {
    // The app as the vassal names it (a file path and a callable), on a free port, PATH's python3.
    const tsgi = await startTsgi([
      '--http-socket',
      '127.0.0.1:0',
      '--asgi',
      `${join(ROOT, 'vassals', 'apps', 'chat.py')}:app`,
    ]);
    try {
      const base = tsgi.url();
      assert.match((await fetchRaw(base)).text, /<title>tsgi chat<\/title>/);
      const a = await openWs(wsUrl(base, '/chat'));
      assert.equal((await nextMessage(a))[0].toString(), 'someone joined (1 here)');
      const b = await openWs(wsUrl(base, '/chat'));
      assert.equal((await nextMessage(a))[0].toString(), 'someone joined (2 here)');
      assert.equal((await nextMessage(b))[0].toString(), 'someone joined (2 here)');
      a.send('hello room');
      assert.equal((await nextMessage(b))[0].toString(), 'hello room');
      assert.equal((await nextMessage(a))[0].toString(), 'hello room');
      assert.deepEqual(JSON.parse((await fetchRaw(`${base}/room`)).text), { clients: 2 });
      a.close();
      await closed(a);
      assert.equal((await nextMessage(b))[0].toString(), 'someone left (1 here)');
      b.close();
      await closed(b);
    } finally {
      assert.equal(await tsgi.stop(), 0);
    }
  });
});
