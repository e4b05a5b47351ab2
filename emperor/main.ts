import { unlinkSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../core/config/ini-reader.js';
import { OptionIndex, type OptionValues } from '../core/config/option.js';
import { resolveConfig } from '../core/config/resolve.js';
import { ConfigError, TsgiError } from '../core/errors.js';
import { Logger, LogSink } from '../core/log/logger.js';
import { closeListener, type Listener } from '../core/net/listeners.js';
import { version } from '../core/version.js';
import { newToken } from './dashboard/auth.js';
import { LogTails } from './dashboard/log-tail.js';
import { Dashboard, TAIL_LINES } from './dashboard/server.js';
import { DirScanner } from './dir-scanner.js';
import { Emperor } from './emperor.js';
import { emperorRegistry, scrape } from './metrics.js';
import { emperorOptions } from './options.js';
import { RedisScanner } from './redis-scanner.js';
import type { Scanner } from './scanner.js';
import { emperorStats, serveMetrics, serveStats } from './stats.js';

/** The vassals directory when no source is given. */
export const DEFAULT_VASSALS = './vassals';

type Settings = OptionValues<typeof emperorOptions>;

function usage(index: OptionIndex): string {
  const lines = [
    "Usage: tsgi-emperor [DIR | 'GLOB' | redis://host:port/db?key=HASH ...] [options...]",
    '       tsgi --emperor DIR [options...]',
    '       tsgi-emperor console [NAME] [options...]   list vassal consoles, or attach to one',
    '',
    `Runs one tsgi instance (vassal) per .ini file in DIR (default ${DEFAULT_VASSALS}) or per field of a`,
    'Redis hash: a new file starts a vassal, a newer mtime reloads it, removal stops it.',
    'Signals: SIGHUP reloads every vassal, SIGTERM/SIGINT stop all gracefully, SIGUSR1 logs a status',
    'table, SIGURG clears the blacklist, SIGWINCH rescans.',
    '',
    'Options:',
  ];
  for (const name of index.names().sort()) {
    const o = index.get(name)!;
    if (o.canonical === name) lines.push(`  --${name.padEnd(28)} ${o.spec.help}`);
  }
  return lines.join('\n');
}

/**
 * Turn positional arguments into `--emperor` values (`tsgi-emperor vassals/` is
 * `--emperor vassals/`), using the option table to know which flags take a value.
 */
export function normalizeArgs(argv: readonly string[], index: OptionIndex): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-')) {
      out.push(a);
      const name = a.replace(/^--?/, '');
      const takesValue = !name.includes('=') && index.get(name)?.spec.arity === 'required';
      const next = argv[i + 1];
      if (takesValue && next !== undefined && !next.startsWith('-')) out.push(argv[++i]!);
    } else out.push('--emperor', a);
  }
  return out;
}

/** Build a scanner per source: `redis://`/`rediss://` read a hash, anything else is a directory or glob. */
function makeScanners(specs: readonly string[], s: Settings, log: Logger): Scanner[] {
  const cwd = process.cwd();
  return specs.map((arg) => {
    if (/^rediss?:\/\//.test(arg))
      return new RedisScanner(arg, { freqS: s['emperor-freq'], redisDir: s['emperor-redis-dir']!, cwd, log });
    if (/^[a-z][a-z0-9+.-]*:\/\//.test(arg) && !/^(dir|glob):\/\//.test(arg))
      throw new ConfigError(
        'TSGI_ERR_CONFIG_VALUE',
        `unsupported vassal source '${arg}' (tsgi reads directories, globs and redis:// hashes)`,
        null,
        'emperor',
      );
    return new DirScanner(arg, {
      freqS: s['emperor-freq'],
      nofollow: s['emperor-nofollow'],
      tyrantNofollow: s['emperor-tyrant-nofollow'],
      cwd,
      log,
    });
  });
}

/**
 * Entry point of `tsgi-emperor` and `tsgi --emperor`: read the options, start the scanners, the
 * stats and metrics servers, and supervise vassals until a stop signal.
 */
export async function runEmperor(argv: readonly string[]): Promise<void> {
  const index = new OptionIndex();
  index.add('emperor', emperorOptions);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage(index)}\n`);
    return;
  }
  const boot = new Logger(new LogSink(2), '[emperor] ');
  let settings: Settings;
  let explicitCurse: boolean;
  try {
    const { entries, warnings } = loadConfig(normalizeArgs(argv, index), {
      arity: (name) => index.get(name)?.spec.arity,
      env: process.env,
      cwd: process.cwd(),
      isReload: false,
    });
    const config = resolveConfig(entries, index, {}, warnings);
    for (const w of config.warnings) boot.warn(w.message);
    settings = config.values(emperorOptions);
    explicitCurse = config.has('emperor-curse-tolerance');
  } catch (err) {
    boot.error(err instanceof TsgiError ? err.message : String(err));
    boot.sink.close();
    process.exitCode = 1;
    return;
  }
  const log = settings.logto ? new Logger(LogSink.open(settings.logto), '[emperor] ') : boot;
  try {
    await govern(settings, explicitCurse, log);
  } catch (err) {
    log.error(err instanceof TsgiError ? err.message : String((err as Error).stack ?? err));
    log.sink.close();
    process.exit(1);
  }
}

async function govern(s: Settings, explicitCurse: boolean, log: Logger): Promise<void> {
  const sources = s.emperor.length > 0 ? s.emperor : [DEFAULT_VASSALS];
  const scanners = makeScanners(sources, s, log);
  const monitors = scanners.map((sc) => (sc instanceof RedisScanner ? sc.display : sc.arg));
  const servers: Listener[] = [];
  const finish = () => {
    for (const l of servers) closeListener(l, true, log);
    if (s['emperor-pidfile'])
      try {
        unlinkSync(s['emperor-pidfile']);
      } catch {}
    log.info('the emperor is buried');
    // Bounded: a log destination that stopped reading must not keep the emperor alive.
    void log.sink.end(2000).finally(() => process.exit(0));
  };
  // with the dashboard, vassal output goes through the emperor (kept for the log tail, then logged)
  const tails = s['emperor-dashboard'] ? new LogTails(TAIL_LINES) : null;
  tails?.subscribe((_, line) => log.sink.line(line.text));
  const emperor = new Emperor({
    scanners,
    templates: {
      inheritBefore: s['vassals-inherit-before'],
      includeBefore: s['vassals-include-before'],
      set: s['vassal-set'],
      inherit: s['vassals-inherit'],
      include: s['vassals-include'],
    },
    throttleMs: s['emperor-throttle'],
    maxThrottleMs: s['emperor-max-throttle'],
    noBlacklist: s['emperor-no-blacklist'],
    curseToleranceMs: explicitCurse ? s['emperor-curse-tolerance'] * 1000 : null,
    requiredHeartbeatMs: s['emperor-required-heartbeat'] * 1000,
    tyrant: s['emperor-tyrant'],
    log,
    ...(tails ? { output: (v, chunk) => tails.push(v.name, chunk.toString('utf8')) } : {}),
    onStopped: finish,
  });
  log.info(`tsgi ${version()} emperor starting (pid ${process.pid}): ${monitors.join(' ')}`);
  if (s['emperor-tyrant'] && process.getuid?.() !== 0)
    log.warn('emperor-tyrant needs root to run vassals as their owners; vassals will fail to start');
  if (s['emperor-pidfile']) writeFileSync(s['emperor-pidfile'], `${process.pid}\n`);
  if (s['emperor-stats'])
    servers.push(
      await serveStats(
        s['emperor-stats'],
        () => emperorStats(emperor, monitors, s['emperor-tyrant'], version()),
        log,
      ),
    );
  if (s['emperor-prometheus']) {
    const own = emperorRegistry(emperor);
    servers.push(await serveMetrics(s['emperor-prometheus'], () => scrape(emperor, own), log));
  }
  if (s['emperor-dashboard']) {
    const token = s['emperor-dashboard-token'] ?? newToken();
    const dash = new Dashboard(
      emperor,
      { address: s['emperor-dashboard'], token, showSecrets: s['emperor-dashboard-secrets'] },
      log,
      tails!,
    );
    servers.push(await dash.start());
    log.info(`dashboard on http://${dash.bound}/${s['emperor-dashboard-token'] ? '' : ` (token ${token})`}`);
  }
  installEmperorSignals(emperor);
  emperor.start();
}

/**
 * The emperor's signals (uWSGI's, with tsgi's graceful SIGTERM): SIGHUP reload every vassal,
 * SIGTERM/SIGINT stop all gracefully (a second SIGINT, or SIGQUIT, at once), SIGUSR1 log the status
 * table, SIGURG clear the blacklist, SIGWINCH rescan now.
 */
function installEmperorSignals(emperor: Emperor): void {
  let interrupts = 0;
  process.on('SIGHUP', () => emperor.reloadAll());
  process.on('SIGTERM', () => emperor.stop(true));
  process.on('SIGINT', () => emperor.stop(++interrupts < 2));
  process.on('SIGQUIT', () => emperor.stop(false));
  process.on('SIGUSR1', () => emperor.logStatus());
  process.on('SIGURG', () => emperor.clearBlacklist());
  process.on('SIGWINCH', () => emperor.rescan());
  process.on('SIGPIPE', () => {});
}
