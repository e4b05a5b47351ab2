import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as pty from 'node-pty';
import { Terminal } from '../helpers/terminal.js';
import {
  alive,
  requireTool,
  runs,
  startTsgi,
  TSGI_BIN,
  type TsgiProcess,
  tempDir,
  waitFor,
} from '../helpers/tsgi.js';
import { UwsgiProcess } from '../helpers/uwsgi-instance.js';

const hasTmux = () => runs('tmux', ['-V']);
const hasUwsgiPty = () => runs('uwsgi', ['--plugin', 'pty', '--version']);
const hasUwsgiForkpty = () => runs('uwsgi', ['--plugin', 'forkptyrouter', '--version']);
const APP =
  'COUNT = 41\n\ndef application(env, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
const CLIENT = `${process.execPath} ${TSGI_BIN}`;

/** Start tsgi with an app and console options in `dir`; resolves once the consoles are bound. */
async function startWithConsoles(dir: string, extra: string[], bound: RegExp): Promise<TsgiProcess> {
  writeFileSync(join(dir, 'app.py'), APP);
  const t = await startTsgi(['--http-socket', '127.0.0.1:0', '--wsgi-file', 'app.py', ...extra], {
    cwd: dir,
  });
  await t.waitForLine(bound);
  return t;
}

/** The pid of the n-th console opened (0-based), from the `console opened (pid N` log lines. */
async function consolePid(t: TsgiProcess, n: number): Promise<number> {
  const pids = () => [...t.output.matchAll(/console opened \(pid (\d+)/g)].map((m) => Number(m[1]));
  await waitFor(() => pids().length > n, 10_000, `console #${n} in the log:\n${t.output}`);
  return pids()[n]!;
}

/** A raw client connection that collects everything the console prints. */
class RawClient {
  readonly sock: Socket;
  text = '';
  closed = false;
  constructor(address: string | { host: string; port: number }) {
    this.sock = typeof address === 'string' ? connect(address) : connect(address);
    this.sock.on('data', (d: Buffer) => {
      this.text += d.toString('latin1');
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
    });
  }
  send(s: string): void {
    this.sock.write(s);
  }
  async until(re: RegExp, what: string): Promise<RegExpMatchArray> {
    await waitFor(() => re.test(this.text), 15_000, `${what}; got:\n${this.text}`);
    return this.text.match(re)!;
  }
}

/**
 * Type `tsgi --pty-uconnect SOCK` into `term`'s shell, recording the tty settings before and after;
 * `restored()` compares them once the line printed SAVED.
 */
function runClient(term: Terminal, dir: string, sock: string, tag: string): { restored: () => boolean } {
  const before = join(dir, `stty.${tag}.before`);
  const afterF = join(dir, `stty.${tag}.after`);
  term.type(
    `stty -g > ${before}; ${CLIENT} --pty-uconnect ${sock}; echo "CLIENT-EXIT=$?"; stty -g > ${afterF}; echo SAV""ED`,
  );
  return { restored: () => readFileSync(before, 'utf8') === readFileSync(afterF, 'utf8') };
}

describe('consoles driven under tmux (tsgi --pty-uconnect)', { skip: requireTool(hasTmux, 'tmux') }, () => {
  const dir = tempDir('tsgi-pty-');
  let t: TsgiProcess;
  before(async () => {
    t = await startWithConsoles(dir.path, ['--pty-usocket', join(dir.path, 'u.sock')], /pty-u consoles on/);
  });
  after(async () => {
    await t.stop();
    dir.cleanup();
  });

  test('evaluates on the loaded app, follows resizes, Ctrl-C interrupts, Ctrl-] detaches and leaves no process', async () => {
    const term = new Terminal(dir.path, 100, 30);
    try {
      const client = runClient(term, dir.path, join(dir.path, 'u.sock'), 'main');
      await term.waitScreen((s) => s.includes('>>>'), 'the console prompt');
      term.type('app_module.COUNT + 1, application.__name__');
      await term.waitScreen((s) => s.includes("(42, 'application')"), 'the app evaluated in the console');
      term.type('import os, subprocess; os.system("stty size")');
      await term.waitScreen((s) => s.includes('30 100'), 'the initial window size');
      term.tmux('resize-window', '-t', 'main', '-x', '120', '-y', '40');
      await new Promise((r) => setTimeout(r, 300));
      term.type('os.system("stty size")');
      await term.waitScreen((s) => s.includes('40 120'), 'the new window size after a resize');
      term.type('while True: pass');
      term.keys('Enter');
      await new Promise((r) => setTimeout(r, 500));
      term.keys('C-c');
      await term.waitScreen((s) => s.includes('KeyboardInterrupt'), 'Ctrl-C interrupting the loop');
      term.type('p = subprocess.Popen(["sleep", "300"]); print("CHILD", p.pid, 6 * 7)');
      const screen = await term.waitScreen(
        (s) => /CHILD \d+ 42/.test(s),
        'the console still running after Ctrl-C',
      );
      const child = Number(/CHILD (\d+) 42/.exec(screen)![1]);
      const console_ = await consolePid(t, 0);
      assert.ok(alive(console_) && alive(child));
      term.keys('C-]');
      await term.waitScreen((s) => s.includes('SAVED'), 'the client exiting on the detach key');
      assert.match(term.screen(), /tsgi: detached[\s\S]*CLIENT-EXIT=0/);
      assert.ok(client.restored(), 'terminal settings restored');
      await waitFor(() => !alive(console_) && !alive(child), 10_000, 'console and its child gone');
    } finally {
      term.close();
    }
  });

  test('the program ending closes the client and restores the terminal', async () => {
    const term = new Terminal(dir.path, 80, 24);
    try {
      const client = runClient(term, dir.path, join(dir.path, 'u.sock'), 'exit');
      await term.waitScreen((s) => s.includes('>>>'), 'the console prompt');
      term.type('import os; os._exit(0)');
      await term.waitScreen((s) => s.includes('SAVED'), 'the client ending with the console');
      assert.match(term.screen(), /tsgi: console closed[\s\S]*CLIENT-EXIT=0/);
      assert.ok(client.restored());
    } finally {
      term.close();
    }
  });

  test('a dropped connection (the instance killed) restores the terminal', async () => {
    const own = tempDir('tsgi-pty-');
    const killed = await startWithConsoles(
      own.path,
      ['--pty-usocket', join(own.path, 'k.sock')],
      /pty-u consoles on/,
    );
    const term = new Terminal(own.path, 80, 24);
    try {
      const client = runClient(term, own.path, join(own.path, 'k.sock'), 'drop');
      await term.waitScreen((s) => s.includes('>>>'), 'the console prompt');
      const pid = await consolePid(killed, 0);
      killed.kill();
      await term.waitScreen((s) => s.includes('SAVED'), 'the client noticing the dropped connection');
      assert.match(term.screen(), /tsgi: console closed/);
      assert.ok(client.restored());
      await waitFor(() => !alive(pid), 10_000, 'the console gone with its instance');
    } finally {
      term.close();
      killed.kill();
      own.cleanup();
    }
  });
});

describe("real uWSGI's pty client attached to tsgi consoles", {
  skip: requireTool(hasTmux, 'tmux') || requireTool(hasUwsgiPty, 'uwsgi pty plugin'),
}, () => {
  const dir = tempDir('tsgi-pty-');
  let t: TsgiProcess;
  before(async () => {
    t = await startWithConsoles(
      dir.path,
      ['--pty-socket', join(dir.path, 'raw.sock'), '--pty-usocket', join(dir.path, 'u.sock')],
      /pty-u consoles on/,
    );
    await t.waitForLine(/pty consoles on/);
  });
  after(async () => {
    await t.stop();
    dir.cleanup();
  });

  test('uwsgi --pty-connect on pty-socket (raw)', async () => {
    const term = new Terminal(
      dir.path,
      90,
      25,
      `uwsgi --plugin pty --pty-connect ${join(dir.path, 'raw.sock')}; sleep 30`,
    );
    try {
      await term.waitScreen((s) => s.includes('>>>'), 'the console prompt through uWSGI');
      term.type('app_module.COUNT * 2');
      await term.waitScreen((s) => s.includes('82'), 'an expression evaluated through uWSGI');
    } finally {
      term.close();
    }
  });

  test('uwsgi --pty-uconnect on pty-usocket (framed): window size and resize reach the console', async () => {
    const term = new Terminal(
      dir.path,
      90,
      25,
      `uwsgi --plugin pty --pty-uconnect ${join(dir.path, 'u.sock')}; sleep 30`,
    );
    try {
      await term.waitScreen((s) => s.includes('>>>'), 'the console prompt through uWSGI');
      term.type('import os; os.system("stty size")');
      await term.waitScreen((s) => s.includes('25 90'), 'the size uWSGI sent');
      term.tmux('resize-window', '-t', 'main', '-x', '110', '-y', '35');
      await new Promise((r) => setTimeout(r, 300));
      term.type('os.system("stty size")');
      await term.waitScreen((s) => s.includes('35 110'), 'the size after SIGWINCH');
    } finally {
      term.close();
    }
  });
});

describe('console isolation and safety', () => {
  const dir = tempDir('tsgi-pty-');
  let t: TsgiProcess;
  const sock = () => join(dir.path, 'c.sock');
  before(async () => {
    t = await startWithConsoles(
      dir.path,
      [
        '--pty-socket',
        sock(),
        '--chmod-socket=666',
        '--pty-max-consoles',
        '2',
        '--env',
        'CONSOLE_MARK=from-env',
      ],
      /pty consoles on/,
    );
  });
  after(async () => {
    await t.stop();
    dir.cleanup();
  });

  test('two clients at once get two terminals (node-pty clients)', async () => {
    const clients = [0, 1].map(() =>
      pty.spawn(process.execPath, [TSGI_BIN, '--pty-connect', sock()], {
        cols: 100,
        rows: 30,
        cwd: dir.path,
      }),
    );
    const out = ['', ''];
    clients.forEach((c, i) => {
      c.onData((d) => {
        out[i] += d;
      });
    });
    try {
      for (const i of [0, 1]) await waitFor(() => out[i]!.includes('>>>'), 15_000, `prompt ${i}: ${out[i]}`);
      for (const c of clients) c.write('import os; print("TTY=%s PID=%d" % (os.ttyname(0), os.getpid()))\r');
      for (const i of [0, 1])
        await waitFor(() => /TTY=\S+ PID=\d+/.test(out[i]!), 10_000, `tty ${i}: ${out[i]}`);
      const ids = out.map((o) => /TTY=(\S+) PID=(\d+)/.exec(o)!.slice(1));
      assert.notEqual(ids[0]![0], ids[1]![0], 'different terminals');
      assert.notEqual(ids[0]![1], ids[1]![1], 'different processes');
      // A third one is over pty-max-consoles = 2.
      const third = new RawClient(sock());
      await third.until(/too many consoles/, 'the refusal');
      await waitFor(() => third.closed, 5000, 'third connection closed');
    } finally {
      for (const c of clients) c.kill();
    }
  });

  test('the socket is 0600 whatever chmod-socket says, and another user cannot connect', () => {
    assert.equal(statSync(sock()).mode & 0o777, 0o600);
    if (process.getuid?.() !== 0 || !runs('runuser', ['-u', 'nobody', '--', 'true'])) return;
    const r = spawnSync(
      'runuser',
      [
        '-u',
        'nobody',
        '--',
        'python3',
        '-c',
        `import socket; s = socket.socket(socket.AF_UNIX); s.connect(${JSON.stringify(sock())})`,
      ],
      { encoding: 'utf8', timeout: 10_000 },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /PermissionError/);
  });

  test('a client that goes away takes its whole process group with it', async () => {
    const c = new RawClient(sock());
    await c.until(/>>>/, 'the prompt');
    // Started like a worker: the instance's env and working directory.
    c.send('import os; print("ENV=%s CWD=%s" % (os.environ.get("CONSOLE_MARK"), os.getcwd()))\n');
    await c.until(new RegExp(`ENV=from-env CWD=${dir.path}`), 'the env option and chdir in the console');
    c.send('import subprocess; p = subprocess.Popen(["sleep", "300"]); print("CHILD", p.pid)\n');
    const child = Number((await c.until(/CHILD (\d+)/, 'the child pid'))[1]);
    const pid = await consolePid(t, 2);
    assert.ok(alive(pid) && alive(child));
    c.sock.destroy();
    await waitFor(() => !alive(pid) && !alive(child), 10_000, 'console and child gone');
  });
});

describe('pty-exec, idle timeout and TCP consoles', () => {
  const dir = tempDir('tsgi-pty-');
  after(() => dir.cleanup());

  test('pty-exec runs the command instead; an idle console is closed', async () => {
    const t = await startWithConsoles(
      dir.path,
      [
        '--pty-socket',
        join(dir.path, 'e.sock'),
        '--pty-exec',
        'echo "EXEC-$((6*7))"; exec cat',
        '--pty-idle-timeout',
        '1',
      ],
      /pty consoles on/,
    );
    try {
      const c = new RawClient(join(dir.path, 'e.sock'));
      await c.until(/EXEC-42/, 'the pty-exec command output');
      await c.until(/idle timeout/, 'the idle close');
      await waitFor(() => c.closed, 5000, 'closed');
      const pid = await consolePid(t, 0);
      await waitFor(() => !alive(pid), 5000, 'console gone');
    } finally {
      await t.stop();
    }
  });

  test('a console that ignores SIGHUP does not outlive its instance', async () => {
    const t = await startWithConsoles(
      dir.path,
      [
        '--pty-socket',
        join(dir.path, 'h.sock'),
        '--pty-exec',
        "trap '' HUP; echo STUBBORN-$$; exec sleep 300",
      ],
      /pty consoles on/,
    );
    let pid = 0;
    try {
      const c = new RawClient(join(dir.path, 'h.sock'));
      pid = Number((await c.until(/STUBBORN-(\d+)/, 'the console running'))[1]);
      assert.ok(alive(pid));
      assert.equal(await t.stop(), 0);
      await waitFor(() => !alive(pid), 5000, 'the SIGHUP-proof console killed at exit');
    } finally {
      t.kill();
      if (pid && alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });

  test('a TCP console without pty-token-file is a config error; non-loopback needs pty-allow-remote', async () => {
    writeFileSync(join(dir.path, 'app.py'), APP);
    for (const [args, re] of [
      [['--pty-socket', '127.0.0.1:0'], /pty-socket.*needs pty-token-file/],
      [['--pty-socket', '0.0.0.0:0', '--pty-token-file', join(dir.path, 'tok')], /pty-allow-remote/],
    ] as const) {
      const r = spawnSync(
        process.execPath,
        [TSGI_BIN, '--http-socket', '127.0.0.1:0', '--wsgi-file', 'app.py', ...args],
        { cwd: dir.path, encoding: 'utf8', timeout: 20_000 },
      );
      assert.notEqual(r.status, 0);
      assert.match(r.stderr + r.stdout, re);
    }
  });

  test('a TCP console needs its token first; tsgi --pty-connect --pty-token-file sends it', async () => {
    const tokenFile = join(dir.path, 'token');
    const t = await startWithConsoles(
      dir.path,
      ['--pty-socket', '127.0.0.1:0', '--pty-token-file', tokenFile, '--pty-exec', 'exec cat'],
      /pty consoles on (\S+)/,
    );
    try {
      const addr = /pty consoles on (\S+)/.exec(t.output)![1]!;
      const [host, port] = [
        addr.slice(0, addr.lastIndexOf(':')),
        Number(addr.slice(addr.lastIndexOf(':') + 1)),
      ];
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      const bad = new RawClient({ host, port });
      bad.send('not-the-token\n');
      await bad.until(/token missing or wrong/, 'the refusal');
      const c = pty.spawn(
        process.execPath,
        [TSGI_BIN, '--pty-connect', addr, '--pty-token-file', tokenFile],
        {
          cols: 80,
          rows: 24,
        },
      );
      let out = '';
      c.onData((d) => (out += d));
      try {
        await new Promise((r) => setTimeout(r, 500));
        c.write('hello-through-cat\r');
        await waitFor(() => (out.match(/hello-through-cat/g) ?? []).length >= 2, 10_000, `echo: ${out}`);
      } finally {
        c.kill();
      }
    } finally {
      await t.stop();
    }
  });
});

describe('forkpty router', () => {
  const dir = tempDir('tsgi-pty-');
  after(() => dir.cleanup());

  test('each connection runs the command (default /bin/sh) in a fresh pty and ends cleanly', async () => {
    const t = await startWithConsoles(
      dir.path,
      ['--forkpty-router', join(dir.path, 'f.sock')],
      /forkptyrouter consoles on/,
    );
    try {
      const c = new RawClient(join(dir.path, 'f.sock'));
      c.send('tty; echo "SUM=$((6*7))"; exit\n');
      await c.until(/SUM=42/, 'the command output');
      assert.match(c.text, /\/dev\/pts\/\d+/);
      await waitFor(() => c.closed, 10_000, 'the session ending with the shell');
      const pid = await consolePid(t, 0);
      await waitFor(() => !alive(pid), 5000, 'shell reaped');
      await t.waitForLine(/forkptyrouter console \(pid \d+\) closed \(exit\)/);
    } finally {
      await t.stop();
    }
  });

  test('forkpty-urouter speaks the framing: uwsgi --pty-uconnect runs a command', {
    skip: requireTool(hasTmux, 'tmux') || requireTool(hasUwsgiPty, 'uwsgi pty plugin'),
  }, async () => {
    const t = await startWithConsoles(
      dir.path,
      [
        '--forkpty-urouter',
        join(dir.path, 'fu.sock'),
        '--forkptyrouter-command',
        'sh -c "stty size; exec sh"',
      ],
      /forkptyurouter consoles on/,
    );
    const term = new Terminal(
      dir.path,
      70,
      20,
      `uwsgi --plugin pty --pty-uconnect ${join(dir.path, 'fu.sock')}; sleep 30`,
    );
    try {
      term.type('echo "SUM=$((6*7))"; stty size');
      await term.waitScreen((s) => s.includes('SUM=42') && s.includes('20 70'), 'the command and its size');
      term.type('exit');
      await waitFor(
        () => /forkptyurouter console \(pid \d+\) closed \(exit\)/.test(t.output),
        10_000,
        'session end',
      );
    } finally {
      term.close();
      await t.stop();
    }
  });
});

describe('consoles run as the instance user', () => {
  test('with uid/gid the socket is owned by that user and the console runs as it', {
    skip: requireTool(() => process.getuid?.() === 0 && runs('id', ['nobody']), 'root and user nobody'),
  }, async () => {
    const dir = tempDir('tsgi-pty-');
    chmodSync(dir.path, 0o755);
    const run = join(dir.path, 'run');
    mkdirSync(run, { mode: 0o777 });
    chmodSync(run, 0o777);
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).trim());
    const group = Number(execFileSync('id', ['-g', 'nobody'], { encoding: 'utf8' }).trim());
    const t = await startWithConsoles(
      dir.path,
      ['--uid', String(nobody), '--gid', String(group), '--pty-socket', join(run, 'c.sock')],
      /pty consoles on/,
    );
    try {
      const st = statSync(join(run, 'c.sock'));
      assert.equal(st.uid, nobody);
      assert.equal(st.mode & 0o777, 0o600);
      const c = new RawClient(join(run, 'c.sock'));
      await c.until(/>>>/, 'the prompt');
      c.send('import os; print("IDS", os.getuid(), os.getgid(), application.__name__)\n');
      await c.until(new RegExp(`IDS ${nobody} ${group} application`), 'the console ids');
      c.sock.destroy();
    } finally {
      await t.stop();
      dir.cleanup();
    }
  });
});

describe("tsgi's client against uWSGI's forkpty-urouter (the framing oracle)", {
  skip: requireTool(hasTmux, 'tmux') || requireTool(hasUwsgiForkpty, 'uwsgi forkptyrouter plugin'),
}, () => {
  test('tsgi --pty-uconnect sends the window size uWSGI understands, at start and on resize', async () => {
    const dir = tempDir('tsgi-pty-');
    const sock = join(dir.path, 'fu.sock');
    const u = new UwsgiProcess(['--plugin', 'forkptyrouter', '--master', '--forkpty-urouter', sock]);
    const term = new Terminal(dir.path, 77, 21);
    try {
      await u.waitForLine(/spawned uWSGI forkptyrouter/);
      const client = runClient(term, dir.path, sock, 'uwsgi');
      // uWSGI's shell prompt looks like the outer one: ask again until the client has attached.
      for (let i = 0; ; i++) {
        term.type('stty size');
        try {
          await term.waitScreen((s) => s.includes('21 77'), 'the initial size in uWSGI’s pty', 3000);
          break;
        } catch (err) {
          if (i === 4) throw err;
        }
      }
      term.tmux('resize-window', '-t', 'main', '-x', '99', '-y', '33');
      await new Promise((r) => setTimeout(r, 300));
      term.type('stty size; exit');
      await term.waitScreen((s) => s.includes('33 99') && s.includes('SAVED'), 'the resize, then the end');
      assert.match(term.screen(), /CLIENT-EXIT=0/);
      assert.ok(client.restored());
    } finally {
      term.close();
      await u.stop();
      dir.cleanup();
    }
  });
});
