import { loadConfig } from '../core/config/ini-reader.js';
import { OptionIndex } from '../core/config/option.js';
import { resolveConfig } from '../core/config/resolve.js';
import { TsgiError } from '../core/errors.js';
import { fetchStats } from '../core/top/fetch.js';
import { builtinPlugins } from '../plugins/index.js';
import { normalizeArgs } from './main.js';
import { emperorOptions } from './options.js';

/** Which of a vassal's consoles `console NAME` attaches to, best first, and whether it is framed. */
const PREFERENCE: ReadonlyArray<{ proto: string; framed: boolean }> = [
  { proto: 'pty-u', framed: true },
  { proto: 'pty', framed: false },
  { proto: 'forkptyurouter', framed: true },
  { proto: 'forkptyrouter', framed: false },
];

interface VassalConsoles {
  readonly id: string;
  readonly state?: string;
  readonly uid?: number;
  readonly consoles?: ReadonlyArray<{ proto: string; address: string }>;
}

const USAGE =
  'Usage: tsgi-emperor console [NAME] [--pty-token-file FILE] (--emperor-stats ADDR | the emperor’s own options, e.g. --ini emperor.ini)\n' +
  '  without NAME: list the vassals and their consoles; with NAME: attach this terminal to its console (Ctrl-] detaches)\n';

/** The emperor's stats address from the rest of the command line (read as the emperor reads it). */
function statsAddress(argv: readonly string[]): string | null {
  const index = new OptionIndex();
  index.add('emperor', emperorOptions);
  const { entries, warnings } = loadConfig(normalizeArgs(argv, index), {
    arity: (name) => index.get(name)?.spec.arity,
    env: process.env,
    cwd: process.cwd(),
    isReload: false,
  });
  return resolveConfig(entries, index, {}, warnings).values(emperorOptions)['emperor-stats'];
}

/**
 * `tsgi-emperor console [NAME] ...`: ask the emperor's stats server which consoles each vassal
 * serves (vassals report them over the emperor link), then list them, or attach this terminal to
 * NAME's console (framed `pty-usocket` first, then `pty-socket`, then a forkpty router) with the
 * same client as `tsgi --pty-connect`. The console runs as the vassal runs (in tyrant mode, as its
 * owner), never as the emperor's user. Resolves with the exit code.
 */
export async function runEmperorConsole(args: readonly string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const name = args[0] && !args[0].startsWith('-') ? args[0] : null;
  const rest = (name ? args.slice(1) : args).slice();
  const tokenAt = rest.findIndex((a) => a === '--pty-token-file' || a.startsWith('--pty-token-file='));
  const tokenArgs = tokenAt < 0 ? [] : rest.splice(tokenAt, rest[tokenAt]!.includes('=') ? 1 : 2);
  let addr: string | null;
  try {
    addr = statsAddress(rest);
  } catch (err) {
    process.stderr.write(`tsgi-emperor console: ${err instanceof TsgiError ? err.message : String(err)}\n`);
    return 2;
  }
  if (!addr) {
    process.stderr.write(
      `tsgi-emperor console: the emperor's stats server is needed to find consoles\n${USAGE}`,
    );
    return 2;
  }
  let vassals: VassalConsoles[];
  try {
    vassals = ((await fetchStats(addr)) as { vassals?: VassalConsoles[] }).vassals ?? [];
  } catch (err) {
    process.stderr.write(
      `tsgi-emperor console: cannot read the emperor's stats at ${addr}: ${(err as Error).message}\n`,
    );
    return 1;
  }
  if (!name) {
    const rows = vassals.map((v) => {
      const list = (v.consoles ?? []).map((c) => `${c.proto} ${c.address}`).join(', ');
      return `${v.id.padEnd(24)} ${(v.state ?? '').padEnd(10)} ${list || '-'}`;
    });
    process.stdout.write(`${'VASSAL'.padEnd(24)} ${'STATE'.padEnd(10)} CONSOLES\n${rows.join('\n')}\n`);
    return 0;
  }
  const v = vassals.find((x) => x.id === name || x.id === `${name}.ini`);
  if (!v) {
    process.stderr.write(
      `tsgi-emperor console: no vassal named '${name}' (known: ${vassals.map((x) => x.id).join(', ') || 'none'})\n`,
    );
    return 1;
  }
  for (const p of PREFERENCE) {
    const c = v.consoles?.find((x) => x.proto === p.proto);
    if (!c) continue;
    // The pty plugin's own client command, as `tsgi --pty-[u]connect ADDR` runs it.
    const client = builtinPlugins.find((d) => d.name === 'pty')?.command;
    if (client) return client.run([p.framed ? '--pty-uconnect' : '--pty-connect', c.address, ...tokenArgs]);
  }
  process.stderr.write(
    `tsgi-emperor console: vassal '${v.id}' serves no console (set pty-usocket in its config)\n`,
  );
  return 1;
}
