import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { parseAddress } from '../../core/net/address.js';
import { encodeStdin, encodeWinsize } from './framing.js';

/** The detach key of `tsgi --pty-connect`: Ctrl-] (0x1d), as telnet's escape. */
export const DETACH_KEY = 0x1d;

/** What the client needs. */
export interface PtyClientOptions {
  /** `host:port` or a unix socket path. */
  readonly address: string;
  /** uWSGI framing (`--pty-uconnect`): stdin as packets, window size at start and on resize. */
  readonly framed: boolean;
  /** Token sent as the first line (TCP consoles), or null. */
  readonly token: string | null;
}

/** Parse the client's argv: `--pty-connect ADDR` / `--pty-uconnect ADDR` (or `=ADDR`), `--pty-token-file F`. */
export function clientArgs(argv: readonly string[]): PtyClientOptions | null {
  let address: string | null = null;
  let framed = false;
  let tokenFile: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(pty-connect|pty-uconnect|pty-token-file)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[2] ?? argv[++i] ?? '';
    if (m[1] === 'pty-token-file') tokenFile = value;
    else {
      address = value;
      framed = m[1] === 'pty-uconnect';
    }
  }
  if (address === null) return null;
  const token = tokenFile ? readFileSync(tokenFile, 'utf8').trim() : (process.env.TSGI_PTY_TOKEN ?? null);
  return { address, framed, token };
}

/**
 * Connect this terminal to a console: the terminal goes to raw mode (so Ctrl-C and every other key
 * reach the remote program), output is copied to stdout, and the terminal is restored on any exit:
 * the detach key (Ctrl-]), the remote program ending, a dropped connection, a signal. In framed
 * mode the window size is sent at start and on every resize (SIGWINCH). Resolves with the exit code
 * (0 after a detach or a clean end, 1 when the connection failed).
 */
export function runPtyClient(o: PtyClientOptions): Promise<number> {
  const addr = parseAddress(o.address, o.framed ? 'pty-uconnect' : 'pty-connect', null);
  const stdin = process.stdin;
  const stdout = process.stdout;
  return new Promise((resolve) => {
    const sock: Socket =
      addr.kind === 'unix' ? connect(addr.path) : connect({ host: addr.host, port: addr.port });
    let raw = false;
    let finished = false;
    const restore = () => {
      if (raw && stdin.isTTY) stdin.setRawMode(false);
      raw = false;
    };
    const onSignal = () => finish(0, 'tsgi: console client stopped by a signal');
    const finish = (code: number, message: string) => {
      if (finished) return;
      finished = true;
      restore();
      stdin.pause();
      stdin.off('data', onInput);
      stdout.off('resize', sendSize);
      for (const s of ['SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.off(s, onSignal);
      process.off('exit', restore);
      sock.destroy();
      if (message) process.stderr.write(`\r\n${message}\r\n`);
      resolve(code);
    };
    const send = (data: Buffer) => {
      if (data.length) sock.write(o.framed ? encodeStdin(data) : data);
    };
    const onInput = (d: Buffer) => {
      const k = d.indexOf(DETACH_KEY);
      if (k < 0) return send(d);
      send(d.subarray(0, k));
      finish(0, 'tsgi: detached');
    };
    const sendSize = () => {
      if (o.framed && stdout.isTTY) sock.write(encodeWinsize(stdout.rows, stdout.columns));
    };
    process.on('exit', restore);
    for (const s of ['SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, onSignal);
    sock.on('connect', () => {
      if (o.token !== null) sock.write(`${o.token}\n`);
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        raw = true;
      }
      sendSize();
      stdout.on('resize', sendSize);
      stdin.on('data', onInput);
      stdin.on('end', () => sock.end());
      stdin.resume();
    });
    sock.on('data', (d: Buffer) => stdout.write(d));
    sock.on('error', (err: NodeJS.ErrnoException) =>
      finish(1, `tsgi: console ${o.address}: ${err.code ?? err.message}`),
    );
    sock.on('close', () => finish(0, 'tsgi: console closed'));
  });
}
