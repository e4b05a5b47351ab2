import { fetchStats } from './fetch.js';
import { type Frame, renderFrame, type Snapshot } from './render.js';

const USAGE = `Usage: tsgi top [--interval SECONDS] ADDR

A live view of a tsgi (or uWSGI) instance's or emperor's stats server, like uwsgitop.
ADDR: host:port, :port, a unix socket path, or an http:// URL (stats-http).
Keys: q or Ctrl-C to quit. When stdout is not a terminal, prints one snapshot and exits.`;

// Plain VT100/xterm sequences, understood by any terminal an SSH session gives.
const ALT_SCREEN_ON = '\x1b[?1049h';
const ALT_SCREEN_OFF = '\x1b[?1049l';
const CURSOR_HIDE = '\x1b[?25l';
const CURSOR_SHOW = '\x1b[?25h';
const HOME = '\x1b[H';
const CLEAR_LINE = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const REVERSE = '\x1b[7m';
const NORMAL = '\x1b[0m';

/** Parse `tsgi top` arguments. @returns null after printing usage for a bad command line. */
function parseArgs(argv: readonly string[]): { addr: string; intervalMs: number } | null {
  let addr: string | null = null;
  let interval = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--interval' || a === '-i' || a === '--frequency') {
      interval = Number(argv[++i]);
      if (!(interval > 0)) return null;
    } else if (a.startsWith('-')) return null;
    else if (addr === null) addr = a;
    else return null;
  }
  return addr ? { addr, intervalMs: interval * 1000 } : null;
}

function paint(frame: Frame, cols: number, rows: number, status: string): string {
  const fit = (s: string) => (s.length > cols ? s.slice(0, cols) : s);
  const lines = frame.lines.slice(0, Math.max(1, rows - 1));
  let out = HOME;
  lines.forEach((l, i) => {
    out += i === frame.headerLine ? `${REVERSE}${fit(l.padEnd(cols))}${NORMAL}` : `${fit(l)}${CLEAR_LINE}`;
    out += '\r\n';
  });
  out += CLEAR_BELOW;
  // The status line sits on the last row.
  out += `\x1b[${rows};1H${fit(status)}${CLEAR_LINE}`;
  return out;
}

/**
 * `tsgi top ADDR`: refresh a view of the stats at ADDR every interval until `q` or Ctrl-C. Uses the
 * terminal's alternate screen with the cursor hidden and stdin in raw mode, and restores all three on
 * every way out (q, Ctrl-C, SIGTERM, SIGHUP when the SSH session drops, an exception).
 * Resolves with the exit code.
 */
export async function runTop(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseArgs(argv);
  if (!args) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const { addr, intervalMs } = args;
  const out = process.stdout;
  if (!out.isTTY) {
    try {
      const doc = (await fetchStats(addr)) as Record<string, unknown>;
      out.write(`${renderFrame({ doc, atMs: Date.now() }, null).lines.join('\n')}\n`);
      return 0;
    } catch (err) {
      process.stderr.write(`tsgi top: ${(err as Error).message}\n`);
      return 1;
    }
  }

  const stdin = process.stdin;
  let prev: Snapshot | null = null;
  let cur: Snapshot | null = null;
  let error = '';
  let running = true;
  let timer: NodeJS.Timeout | null = null;
  let done: (code: number) => void = () => {};
  const finished = new Promise<number>((r) => {
    done = r;
  });

  const draw = () => {
    const cols = out.columns || 80;
    const rows = out.rows || 24;
    const status = error
      ? `${addr}: ${error} (retrying)`
      : `${addr} - every ${intervalMs / 1000}s - ${new Date().toLocaleTimeString()} - q to quit`;
    const frame = cur
      ? renderFrame(cur, prev)
      : {
          lines: [error ? `cannot read stats from ${addr}: ${error}` : `connecting to ${addr}...`],
          headerLine: -1,
        };
    out.write(paint(frame, cols, rows, status));
  };
  const refresh = async () => {
    try {
      const doc = (await fetchStats(addr)) as Record<string, unknown>;
      prev = cur;
      cur = { doc, atMs: Date.now() };
      error = '';
    } catch (err) {
      error = (err as Error).message;
    }
    if (!running) return;
    draw();
    timer = setTimeout(refresh, intervalMs);
  };

  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    running = false;
    if (timer) clearTimeout(timer);
    timer = null;
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    out.write(`${CURSOR_SHOW}${ALT_SCREEN_OFF}`);
  };
  const quit = (code: number) => {
    restore();
    done(code);
  };
  const onKey = (d: Buffer) => {
    for (const b of d) {
      if (b === 0x71 || b === 0x51 || b === 0x03 || b === 0x04) return quit(0); // q Q Ctrl-C Ctrl-D
    }
    draw();
  };
  const onSignal = () => quit(0);
  // Every way out restores the terminal: keys, signals (SIGHUP when the SSH session drops), exit.
  const hooks: Array<[NodeJS.EventEmitter, string, (d: Buffer) => void]> = [
    [stdin, 'data', onKey],
    [out, 'resize', draw],
    [process, 'SIGINT', onSignal],
    [process, 'SIGTERM', onSignal],
    [process, 'SIGHUP', onSignal],
    [process, 'exit', restore],
  ];

  out.write(`${ALT_SCREEN_ON}${CURSOR_HIDE}`);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.resume();
  for (const [emitter, event, fn] of hooks) emitter.on(event, fn);
  draw();
  void refresh();
  const code = await finished;
  for (const [emitter, event, fn] of hooks) emitter.off(event, fn);
  return code;
}
