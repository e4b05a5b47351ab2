import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { isIP } from 'node:net';
import { coreOptions } from '../../core/config/core-options.js';
import type { OptionValues } from '../../core/config/option.js';
import type { InstanceConfig } from '../../core/config/resolve.js';
import type { Logger } from '../../core/log/logger.js';
import { channels, type MasterLifecycleEvent } from '../../core/master/events.js';
import type { Master } from '../../core/master/master.js';
import { parseAddress } from '../../core/net/address.js';
import { runService } from '../../core/net/service.js';
import './contract.js';
import { ptyOptions } from './options.js';
import { type ConsoleProgram, ConsoleSession } from './session.js';

type PtyValues = OptionValues<typeof ptyOptions>;

/** The four console listeners: which option binds it, its framing, what it runs. */
const KINDS = [
  { name: 'pty', option: 'pty-socket', framed: false, router: false },
  { name: 'pty-u', option: 'pty-usocket', framed: true, router: false },
  { name: 'forkptyrouter', option: 'forkptyrouter', framed: false, router: true },
  { name: 'forkptyurouter', option: 'forkptyurouter', framed: true, router: true },
] as const;

type Kind = (typeof KINDS)[number];

/** The longest a TCP client may take to send its token line, ms. */
const TOKEN_TIMEOUT_MS = 10_000;
/** How long a console's process group gets after SIGHUP before SIGKILL, ms. */
const KILL_GRACE_MS = 2000;

/** Whether `host` is a loopback address (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The instance environment: the master's plus `env = KEY=VALUE` options (what the workers get). */
function instanceEnv(config: InstanceConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const kv of config.values(coreOptions).env) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  env.TERM ??= 'xterm-256color';
  return env;
}

/**
 * The token of TCP consoles: read from `pty-token-file`, or created there (32 random bytes as hex,
 * mode 0600) when the file does not exist.
 * @throws {Error} when the file cannot be read or created
 */
export function consoleToken(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = randomBytes(32).toString('hex');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

/** `cmd` as uWSGI's forkpty router runs it: through /bin/sh -c when it has a space, else exec'd. */
function commandProgram(cmd: string, cwd: string, env: NodeJS.ProcessEnv): ConsoleProgram {
  return cmd.includes(' ')
    ? { file: '/bin/sh', args: ['-c', cmd], cwd, env }
    : { file: cmd, args: [], cwd, env };
}

/**
 * Read the first line of a TCP console connection and compare it with the token. Resolves with the
 * bytes after the line, or null when the token is wrong, missing or late (the client is told).
 */
function checkToken(sock: Socket, token: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    const done = (rest: Buffer | null) => {
      clearTimeout(timer);
      sock.off('data', onData);
      if (!rest) sock.end('tsgi: console token missing or wrong\r\n');
      resolve(rest);
    };
    const timer = setTimeout(() => done(null), TOKEN_TIMEOUT_MS);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > 1024) done(null);
        return;
      }
      const got = Buffer.from(buf.subarray(0, nl).toString('latin1').trim(), 'latin1');
      const want = Buffer.from(token, 'latin1');
      done(got.length === want.length && timingSafeEqual(got, want) ? buf.subarray(nl + 1) : null);
    };
    sock.on('data', onData);
    sock.on('close', () => done(null));
  });
}

/**
 * Serve the instance's consoles for its whole life: `pty-socket` (raw), `pty-usocket` (framed),
 * `forkptyrouter` (raw) and `forkptyurouter` (framed), each rebound when a reload changes its
 * address. Every connection gets its own pseudo-terminal and program (uWSGI's pty plugin shares one
 * terminal between all clients: a departure). Unix sockets are mode 0600; TCP ones need the token of
 * `pty-token-file` as the first line. At most `pty-max-consoles` sessions run at once; all are closed
 * (process groups killed) when the instance stops. `onBound` hears the bound console addresses
 * whenever they change (`proto` is the listener's kind: `pty`, `pty-u`, `forkptyrouter`,
 * `forkptyurouter`); the emperor link passes them on. Returns a function that stops everything.
 */
export function startConsoles(
  master: Master,
  log: Logger,
  onBound: (consoles: Array<{ proto: string; address: string }>) => void = () => {},
): () => void {
  const sessions = new Set<ConsoleSession>();
  const bound = new Map<string, string>();
  const announce = () =>
    onBound(
      KINDS.filter((k) => bound.has(k.name)).map((k) => ({ proto: k.name, address: bound.get(k.name)! })),
    );
  const opts = (): PtyValues | null => master.current?.config.values(ptyOptions) ?? null;

  const open = async (kind: Kind, sock: Socket, tcp: boolean) => {
    const gen = master.current;
    const o = opts();
    if (!gen || !o) {
      sock.destroy();
      return;
    }
    sock.on('error', () => {});
    if (sessions.size >= o['pty-max-consoles']) {
      sock.end(`tsgi: too many consoles open (pty-max-consoles = ${o['pty-max-consoles']})\r\n`);
      log.warn(`tsgi: ${kind.name} console refused: pty-max-consoles (${o['pty-max-consoles']}) reached`);
      return;
    }
    let initial: Buffer | null = Buffer.alloc(0);
    if (tcp) {
      let token: string;
      try {
        token = consoleToken(o['pty-token-file']!);
      } catch (err) {
        log.error(`tsgi: console token: ${(err as Error).message}`);
        sock.destroy();
        return;
      }
      initial = await checkToken(sock, token);
      if (!initial) {
        log.warn(`tsgi: ${kind.name} console refused from ${sock.remoteAddress}: bad token`);
        return;
      }
    }
    const env = instanceEnv(gen.config);
    const cwd = gen.core.chdir ?? process.cwd();
    let program: ConsoleProgram;
    if (kind.router) program = commandProgram(o['forkptyrouter-command'] ?? '/bin/sh', cwd, env);
    else if (o['pty-exec']) program = { file: '/bin/sh', args: ['-c', o['pty-exec']], cwd, env };
    else {
      const app = gen.plugins.all('app-console')[0]?.contract;
      if (!app) {
        sock.end('tsgi: this instance has no app console; set pty-exec\r\n');
        return;
      }
      program = app.program(env);
    }
    let session: ConsoleSession;
    try {
      session = new ConsoleSession(
        sock,
        {
          framed: kind.framed,
          program,
          rows: o['forkptyrouter-rows'],
          cols: o['forkptyrouter-cols'],
          idleMs: o['pty-idle-timeout'] * 1000,
          killGraceMs: KILL_GRACE_MS,
          initial,
        },
        (e) => {
          sessions.delete(session);
          log.info(`tsgi: ${kind.name} console (pid ${e.pid}) closed (${e.reason})`);
        },
      );
    } catch (err) {
      sock.end(`tsgi: cannot start the console: ${(err as Error).message}\r\n`);
      log.error(`tsgi: ${kind.name} console: cannot start ${program.file}: ${(err as Error).message}`);
      return;
    }
    sessions.add(session);
    log.info(
      `tsgi: ${kind.name} console opened (pid ${session.pid}, ${program.file} ${program.args.join(' ')})`,
    );
  };

  const stops = KINDS.map((kind) =>
    runService(master, log, {
      name: kind.name,
      chmod: 0o600,
      address(config) {
        const o = config.values(ptyOptions);
        const address = o[kind.option];
        if (!address) return null;
        if (parseAddress(address, kind.option, null).kind === 'tcp') {
          try {
            consoleToken(o['pty-token-file']!);
          } catch (err) {
            log.error(`tsgi: ${kind.name} consoles not started: pty-token-file: ${(err as Error).message}`);
            return null;
          }
        }
        return { address, origin: config.origin(kind.option) };
      },
      onConnection(sock) {
        const address = opts()?.[kind.option] ?? '';
        const tcp = address !== '' && parseAddress(address, kind.option, null).kind === 'tcp';
        void open(kind, sock, tcp);
      },
      boundLine: (info) => {
        bound.set(kind.name, info.bound);
        announce();
        return `tsgi: ${kind.name} consoles on ${info.bound}${kind.framed ? ' (uwsgi framing)' : ''}`;
      },
    }),
  );

  // Consoles closed at stop get SIGHUP and a grace period; one still alive when the master exits
  // (a program ignoring SIGHUP) is killed then, so no console outlives its instance.
  const ending = new Set<ConsoleSession>();
  const closeAll = () => {
    for (const s of sessions) {
      ending.add(s);
      s.close();
    }
  };
  const onExit = () => {
    for (const s of [...sessions, ...ending]) s.killNow();
  };
  process.once('exit', onExit);
  const onLifecycle = (msg: unknown) => {
    const phase = (msg as MasterLifecycleEvent).phase;
    if (phase === 'stopping') closeAll();
    if (phase === 'reloaded') {
      const o = opts();
      const before = bound.size;
      for (const k of KINDS) if (!o?.[k.option]) bound.delete(k.name);
      if (bound.size !== before) announce();
    }
  };
  channels.lifecycle.subscribe(onLifecycle);
  return () => {
    process.off('exit', onExit);
    channels.lifecycle.unsubscribe(onLifecycle);
    closeAll();
    for (const stop of stops) stop();
  };
}
