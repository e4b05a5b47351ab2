import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { alive, FIXTURES, fetchRaw, requireTool, runs, startTsgi, waitFor } from '../../helpers/tsgi.js';

const skip = requireTool(
  () =>
    runs('php-cgi', ['-v']) && runs('perl', ['-MPlack::Util', '-e', '1']) && runs('setpriv', ['--version']),
  'php-cgi, perl with Plack and setpriv',
);

const apps: Array<[string, string[], string]> = [
  ['node', ['--node-app', `${FIXTURES}/node/express-app.cjs`], '/sleep?ms=30000'],
  ['php-cgi', ['--php-docroot', `${FIXTURES}/php-app`], '/sleep.php?s=30'],
  ['psgi', ['--psgi', `${FIXTURES}/psgi/app.psgi`], '/sleep?s=30'],
];

describe('workers die with their master', { skip }, () => {
  for (const [name, args, busy] of apps)
    test(`${name} workers, one of them busy, exit when the master is killed with SIGKILL`, async () => {
      const tsgi = await startTsgi(['--http-socket', '127.0.0.1:0', '--processes', '2', ...args]);
      const workers = tsgi.workerPids();
      assert.equal(workers.length, 2);
      const pending = fetchRaw(`${tsgi.url()}${busy}`).catch(() => null);
      await new Promise((r) => setTimeout(r, 300));
      process.kill(tsgi.pid, 'SIGKILL');
      await waitFor(() => workers.every((p) => !alive(p)), 10_000, `the ${name} workers to exit`);
      await pending;
      tsgi.kill();
    });
});
