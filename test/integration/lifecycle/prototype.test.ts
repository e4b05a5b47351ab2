import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  alive,
  childPids,
  FIXTURES,
  fetchRaw,
  startTsgi,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../../helpers/tsgi.js';

/** imports.py in a temp dir, with its version file and import log. */
function importsApp(dir: string): { app: string; importLog: string } {
  const app = join(dir, 'imports.py');
  copyFileSync(`${FIXTURES}/apps/imports.py`, app);
  writeFileSync(join(dir, 'version.txt'), 'v1');
  return { app, importLog: join(dir, 'imports.log') };
}

/**
 * Run `fn` against an instance of imports.py (`extra` arguments after the defaults: 2 workers).
 * Unless `fn` killed the master, the instance must stop with exit code 0.
 */
async function withImportsApp(
  extra: string[],
  fn: (tsgi: TsgiProcess, dir: string, importLog: string) => Promise<void>,
): Promise<void> {
  const dir = tempDir();
  try {
    const { app, importLog } = importsApp(dir.path);
    const tsgi = await startTsgi(
      ['--http-socket', '127.0.0.1:0', '--wsgi-file', app, '--processes', '2', ...extra],
      {
        env: { IMPORT_LOG: importLog },
      },
    );
    try {
      await fn(tsgi, dir.path, importLog);
    } finally {
      const killed = tsgi.exitCode !== undefined;
      const code = await tsgi.stop();
      if (!killed) assert.equal(code, 0);
    }
  } finally {
    dir.cleanup();
  }
}

function importers(log: string): number[] {
  try {
    return readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** What the app answers to a fixed set of requests, without the pid. */
async function behaviour(base: string): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const [method, path, body] of [
    ['GET', '/a/b?x=1', undefined],
    ['POST', '/post', 'hello body'],
    ['PUT', '/p%20q', ''],
  ] as const) {
    const r = await fetchRaw(`${base}${path}`, { method, body });
    const json = JSON.parse(r.text) as Record<string, unknown>;
    delete json.pid;
    out.push({ status: r.status, type: r.headers['content-type'], app: r.headers['x-app'], json });
  }
  return out;
}

describe('python prototype', () => {
  test('the app is imported once and the workers are forked from it; lazy-apps imports in each worker; same behaviour', async () => {
    const results: unknown[][] = [];
    for (const lazy of [false, true]) {
      const dir = tempDir();
      try {
        const { app, importLog } = importsApp(dir.path);
        const tsgi = await startTsgi(
          [
            '--http-socket',
            '127.0.0.1:0',
            '--wsgi-file',
            app,
            '--processes',
            '3',
            ...(lazy ? ['--lazy-apps'] : []),
          ],
          { env: { IMPORT_LOG: importLog } },
        );
        try {
          const workers = tsgi.workerPids();
          assert.equal(workers.length, 3);
          const protos = tsgi.prototypePids();
          if (lazy) {
            assert.deepEqual(protos, []);
            assert.deepEqual(
              importers(importLog).sort(),
              [...workers].sort(),
              'each worker imported the app',
            );
          } else {
            assert.equal(protos.length, 1);
            assert.deepEqual(
              childPids(protos[0]!).sort(),
              [...workers].sort(),
              'the workers are its children',
            );
            assert.deepEqual(importers(importLog), protos, 'imported once, by the prototype');
          }
          results.push(await behaviour(tsgi.url()));
        } finally {
          assert.equal(await tsgi.stop(), 0);
        }
      } finally {
        dir.cleanup();
      }
    }
    assert.deepEqual(results[0], results[1]);
  });

  test('a reload starts a new prototype that imports the new code; the old one exits', async () => {
    await withImportsApp([], async (tsgi, dir, importLog) => {
      const [oldProto] = tsgi.prototypePids();
      writeFileSync(join(dir, 'version.txt'), 'v2');
      tsgi.signal('SIGHUP');
      await tsgi.waitForLine(/reload done/);
      const version = JSON.parse((await fetchRaw(`${tsgi.url()}/`)).text).version;
      assert.equal(version, 'v2');
      await waitFor(() => !alive(oldProto!), 10_000, 'the old prototype to exit');
      const [newProto] = tsgi.prototypePids();
      assert.notEqual(newProto, oldProto);
      assert.deepEqual(importers(importLog), [oldProto, newProto]);
    });
  });

  test('a prototype killed takes its workers with it; a new one is started and service resumes', async () => {
    await withImportsApp([], async (tsgi) => {
      const [proto] = tsgi.prototypePids();
      const workers = tsgi.workerPids();
      process.kill(proto!, 'SIGKILL');
      await tsgi.waitForLine(
        /the python prototype \(pid \d+\) died \(killed by SIGKILL\); its workers die with it/,
      );
      await waitFor(() => workers.every((p) => !alive(p)), 5000, 'its workers to die');
      await waitFor(
        async () => (await fetchRaw(`${tsgi.url()}/`).catch(() => ({ status: 0 }))).status === 200,
        15_000,
        'service',
      );
      assert.equal(tsgi.prototypePids().length, 1);
      assert.notEqual(tsgi.prototypePids()[0], proto);
    });
  });

  test('SIGKILL of the master: the prototype and its workers go with it', async () => {
    await withImportsApp([], async (tsgi) => {
      const all = [...tsgi.prototypePids(), ...tsgi.workerPids()];
      assert.equal(all.length, 3);
      tsgi.child.kill('SIGKILL');
      await tsgi.wait(5000);
      await waitFor(() => all.every((p) => !alive(p)), 5000, 'no process to survive the master');
    });
  });
});
