import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { descendants, EmperorProcess, writeVassal } from '../helpers/emperor.js';
import { FIXTURES, requireTool, runs, SYSTEM_PYTHON, tempDir } from '../helpers/tsgi.js';

const skip = requireTool(() => process.getuid?.() === 0 && runs('useradd', ['--help']), 'root with useradd');
const WHOAMI = join(FIXTURES, 'apps', 'whoami.py');

interface TestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** Create a system user with its own group, no home, no login shell. */
function addUser(name: string): TestUser {
  execFileSync('useradd', ['--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]);
  const id = (flag: string) => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  return { name, uid: id('-u'), gid: id('-g') };
}

function removeUser(u: TestUser | undefined): void {
  if (!u) return;
  try {
    execFileSync('userdel', [u.name], { stdio: 'ignore' });
  } catch {}
  try {
    execFileSync('groupdel', [u.name], { stdio: 'ignore' });
  } catch {}
}

/** Real, effective, saved and fs uid and gid of a process, from /proc/<pid>/status. */
function ids(pid: number): { uids: number[]; gids: number[]; groups: number[] } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    (new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  return { uids: field('Uid'), gids: field('Gid'), groups: field('Groups') };
}

function getUnix(socketPath: string): Promise<{ uid: number; gid: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/', timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => {
        body += d;
      });
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('emperor: tyrant mode', { skip }, () => {
  const tag = `${process.pid % 100000}`;
  let alice: TestUser | undefined;
  let bob: TestUser | undefined;
  before(() => {
    alice = addUser(`tsgita${tag}`);
    bob = addUser(`tsgitb${tag}`);
  });
  after(() => {
    removeUser(alice);
    removeUser(bob);
  });

  test('each vassal runs as the owner of its file; root-owned files are refused; unix sockets belong to the owner', async () => {
    const a = alice!;
    const b = bob!;
    const dir = tempDir();
    chmodSync(dir.path, 0o755);
    const run = join(dir.path, 'run-alice');
    mkdirSync(run);
    chownSync(run, a.uid, a.gid);
    const common = {
      'wsgi-file': WHOAMI,
      'python-bin': SYSTEM_PYTHON,
      'reload-mercy': 5,
      'worker-reload-mercy': 5,
    };
    const emperor = new EmperorProcess([dir.path, '--emperor-tyrant', '--emperor-freq', '1']);
    try {
      const sock = join(run, 'a.sock');
      chownSync(
        writeVassal(dir.path, 'a.ini', { 'http-socket': sock, processes: 2, ...common }),
        a.uid,
        a.gid,
      );
      chownSync(writeVassal(dir.path, 'b.ini', { 'http-socket': '127.0.0.1:0', ...common }), b.uid, b.gid);
      writeVassal(dir.path, 'root.ini', { 'http-socket': '127.0.0.1:0', ...common });

      const va = await emperor.waitLoyal('a.ini');
      const vb = await emperor.waitLoyal('b.ini');
      await emperor.waitForLine(
        /vassal root\.ini refused: its file is owned by uid 0 gid 0; tyrant mode never runs a vassal as root/,
      );
      for (const [v, u] of [
        [va, a],
        [vb, b],
      ] as const) {
        const tree = [v.pid, ...descendants(v.pid)];
        assert.ok(tree.length >= 2, 'master and workers');
        for (const pid of tree) {
          const id = ids(pid);
          assert.deepEqual(id.uids, [u.uid, u.uid, u.uid, u.uid], `uids of ${pid}`);
          assert.deepEqual(id.gids, [u.gid, u.gid, u.gid, u.gid], `gids of ${pid}`);
          assert.ok(!id.groups.includes(0), `pid ${pid} keeps no root group`);
        }
      }
      assert.equal(statSync(sock).uid, a.uid, "the vassal's unix socket belongs to its owner");
      assert.deepEqual(await getUnix(sock), { ...(await getUnix(sock)), uid: a.uid, gid: a.gid });

      // handing b.ini to alice restarts that vassal as alice
      chownSync(join(dir.path, 'b.ini'), a.uid, a.gid);
      await emperor.waitForLine(
        new RegExp(`vassal b\\.ini: the owner of its file changed; restarting it as ${a.uid}:${a.gid}`),
      );
      const vb2 = await emperor.waitLoyal('b.ini', 2);
      assert.notEqual(vb2.pid, vb.pid);
      assert.deepEqual(ids(vb2.pid).uids, [a.uid, a.uid, a.uid, a.uid]);
      assert.equal(emperor.loyal('a.ini').pid, va.pid, 'the other vassal is untouched');
      assert.equal(await emperor.stop(), 0);
    } finally {
      emperor.kill();
      dir.cleanup();
    }
  });
});
