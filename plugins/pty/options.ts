import { option } from '../../core/config/option.js';
import { addressOption } from '../../core/net/service.js';

/**
 * Options of the `pty` plugin: consoles on the instance (uWSGI's pty plugin names), the forkpty
 * router (uWSGI's forkptyrouter plugin names) and tsgi's safety settings. `pty-connect` and
 * `pty-uconnect` are client modes handled by `tsgi` before any config is read.
 */
export const ptyOptions = {
  'pty-socket': addressOption({
    help: 'serve raw consoles on this address: each connection gets its own pseudo-terminal running the app console (or pty-exec)',
  }),
  'pty-usocket': addressOption({
    help: "serve framed consoles (uWSGI's forkpty-urouter framing: stdin, signals, window size) on this address",
    origin: 'extension',
  }),
  'pty-exec': option.string({
    help: 'run this command (with /bin/sh -c) in each console instead of the app console',
  }),
  'pty-connect': option.string({
    help: 'client: connect this terminal to a raw console (`tsgi --pty-connect ADDR`; detach with Ctrl-])',
  }),
  'pty-uconnect': option.string({
    help: 'client: connect this terminal to a framed console, sending window size and signals (detach with Ctrl-])',
  }),
  'pty-no-isig': option.bool({
    help: 'client: accepted for uWSGI compatibility; tsgi clients always pass Ctrl-C to the remote program',
    departure: 'always on: the terminal is in raw mode, Ctrl-C reaches the remote program',
  }),
  'pty-max-consoles': option.int({
    help: 'most consoles (pty-socket, pty-usocket, forkpty router together) open at once; more are refused',
    default: 8,
    min: 1,
    origin: 'extension',
  }),
  'pty-idle-timeout': option.seconds({
    help: 'close a console after this long without input or output (0: never)',
    default: 1800,
    origin: 'extension',
  }),
  'pty-token-file': option.path({
    help: 'file holding the token a client must send first on a TCP console (created with a random token, mode 0600, if missing); required for TCP consoles',
    origin: 'extension',
  }),
  'pty-allow-remote': option.bool({
    help: 'allow a TCP console on a non-loopback address (with pty-token-file)',
    origin: 'extension',
  }),
  forkptyrouter: addressOption({
    help: 'run the forkpty router (raw) on this address: each connection runs forkptyrouter-command in a fresh pty',
    aliases: ['forkpty-router'],
    origin: 'uwsgi',
  }),
  forkptyurouter: addressOption({
    help: 'run the forkpty router with the uwsgi framing (stdin, signals, window size) on this address',
    aliases: ['forkpty-urouter'],
    origin: 'uwsgi',
  }),
  'forkptyrouter-command': option.string({
    help: 'command run on every forkpty router connection (with a space: through /bin/sh -c)',
    default: '/bin/sh',
    aliases: ['forkpty-router-command', 'forkptyrouter-cmd', 'forkpty-router-cmd'],
  }),
  'forkptyrouter-rows': option.int({
    help: 'initial window rows of every console pty (forkpty router and pty-socket; framed clients then send their own)',
    default: 24,
    min: 1,
    max: 65535,
  }),
  'forkptyrouter-cols': option.int({
    help: 'initial window cols of every console pty (forkpty router and pty-socket; framed clients then send their own)',
    default: 80,
    min: 1,
    max: 65535,
  }),
} as const;
