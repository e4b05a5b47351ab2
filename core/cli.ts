#!/usr/bin/env node
import { builtinPlugins } from '../plugins/index.js';
import {
  ConfigExitRequest,
  formatShowConfig,
  type LoadConfigOptions,
  loadConfig,
} from './config/ini-reader.js';
import { type InstanceConfig, resolveConfig } from './config/resolve.js';
import { TsgiError } from './errors.js';
import { Logger, LogSink } from './log/logger.js';
import { attachRequestLog } from './log/request-logger.js';
import { maintainLog, openInstanceLog } from './log/setup.js';
import { EmperorLink, inlineConfigName } from './master/emperor-link.js';
import { channels, type MasterLifecycleEvent } from './master/events.js';
import { Master } from './master/master.js';
import { installSignals } from './master/signals.js';
import { instrumentInstance } from './metrics/instance.js';
import { startMetricsServer } from './metrics/server.js';
import { PluginRegistry } from './plugin/registry.js';
import { startStatsServer } from './stats/stats.js';
import { runTop } from './top/top.js';
import { version } from './version.js';

export { version };

/** Exit codes of `tsgi`. */
export const ExitCode = {
  OK: 0,
  /** The instance could not start or stopped on an error (bad config, app not loadable, bind failed). */
  FAILURE: 1,
  /** Bad command line. */
  USAGE: 2,
} as const;

function usage(registry: PluginRegistry): string {
  const lines = [
    'Usage: tsgi [options...]        (every option also works as `name = value` in an ini file)',
    '       tsgi --ini app.ini       tsgi app.ini',
    '       tsgi top ADDR            live view of a stats server (instance or emperor)',
    '       tsgi --pty-connect ADDR  attach this terminal to a console (--pty-uconnect: framed); Ctrl-] detaches',
    '',
    'Examples:',
    '  tsgi --http-socket 127.0.0.1:8080 --wsgi-file app.py --processes 4',
    '  tsgi --ini app.ini --show-config',
    '',
    'Options (docs/options.md has the full reference):',
  ];
  for (const name of registry.options.names().sort()) {
    const o = registry.options.get(name)!;
    if (o.canonical !== name) continue;
    lines.push(`  --${name.padEnd(26)} ${o.spec.help}`);
  }
  return lines.join('\n');
}

/**
 * How the CLI asks the config reader: tsgi's option arities and plugin names; under an emperor, the
 * in-band text of `--ini emperor://NAME` (the latest the emperor sent, so a reload reads the new one).
 */
function readerOptions(
  registry: PluginRegistry,
  isReload: boolean,
  argv: readonly string[],
  link: EmperorLink | null,
): LoadConfigOptions {
  const inline = link?.inline(argv);
  return {
    arity: (name) => registry.options.get(name)?.spec.arity,
    env: process.env,
    cwd: process.cwd(),
    isReload,
    isPluginLoaded: (name) => registry.find(name) !== undefined,
    ...(inline ? { inline } : {}),
  };
}

/** Read argv (and the ini files it names) into a validated config. @throws {ConfigError} */
function readConfig(
  argv: readonly string[],
  registry: PluginRegistry,
  isReload: boolean,
  link: EmperorLink | null,
): InstanceConfig {
  const { entries, warnings } = loadConfig(argv, readerOptions(registry, isReload, argv, link));
  return resolveConfig(entries, registry.options, {}, warnings);
}

/** `tsgi --emperor ...` (or an ini with `emperor = ...`) runs the emperor instead of an instance. */
async function runEmperor(argv: readonly string[]): Promise<void> {
  const { runEmperor: run } = await import('../emperor/main.js');
  await run(argv);
}

/** Entry point of the `tsgi` command. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === 'top') {
    process.exitCode = await runTop(argv.slice(1));
    return;
  }
  const command = builtinPlugins.find((p) => p.command?.matches(argv))?.command;
  if (command) {
    try {
      process.exitCode = await command.run(argv);
    } catch (err) {
      process.stderr.write(`tsgi: ${err instanceof TsgiError ? err.message : (err as Error).message}\n`);
      process.exitCode = ExitCode.USAGE;
    }
    return;
  }
  const registry = new PluginRegistry(builtinPlugins);
  if (argv.some((a) => a === '--emperor' || a.startsWith('--emperor='))) return runEmperor(argv);
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`tsgi ${version()}\n`);
    return;
  }
  if (argv.length === 0 || argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage(registry)}\n`);
    if (argv.length === 0) process.exitCode = ExitCode.USAGE;
    return;
  }
  const link = EmperorLink.fromEnv();
  if (link && inlineConfigName(argv) !== null) await link.configText();
  const boot = new Logger(new LogSink(2));
  let config: InstanceConfig;
  try {
    const { entries, warnings } = loadConfig(argv, readerOptions(registry, false, argv, link));
    if (entries.some((e) => e.key === 'emperor')) return runEmperor(argv);
    if (entries.some((e) => e.key === 'show-config' && e.value !== 'false'))
      process.stdout.write(formatShowConfig(entries));
    config = resolveConfig(entries, registry.options, {}, warnings);
  } catch (err) {
    if (err instanceof ConfigExitRequest) {
      boot.sink.close();
      process.exitCode = err.exitCode;
      return;
    }
    boot.error(err instanceof TsgiError ? err.message : String((err as Error).stack ?? err));
    boot.sink.close();
    process.exitCode = ExitCode.FAILURE;
    return;
  }
  let log: Logger;
  try {
    log = openInstanceLog(config, boot);
  } catch (err) {
    boot.error(`cannot open the logto file: ${(err as Error).message}`);
    boot.sink.close();
    process.exitCode = ExitCode.FAILURE;
    return;
  }
  log.info(`tsgi ${version()} starting (pid ${process.pid}, node ${process.version})`);
  const master = new Master({
    registry,
    log,
    reloadConfig: () => readConfig(argv, registry, true, link),
    onExit: (code) => {
      // Let the log drain (bounded: a stuck log destination must not keep the process alive).
      void log.sink.end(2000).finally(() => process.exit(code));
    },
  });
  installSignals(master);
  link?.attach(master, log);
  let ready = false;
  const onLifecycle = (msg: unknown) => {
    ready ||= (msg as MasterLifecycleEvent).phase === 'ready';
  };
  channels.lifecycle.subscribe(onLifecycle);
  await master.boot(config);
  channels.lifecycle.unsubscribe(onLifecycle);
  if (ready) startServices(master, log, link);
}

/**
 * Core services that read the running instance: request log, log reopening, metrics (the
 * `prometheus` listener), the stats server; then the plugins' instance services (the consoles). (The emperor link attaches before boot: it must see the
 * first `ready`.)
 */
function startServices(master: Master, log: Logger, link: EmperorLink | null): void {
  if (!master.current) return;
  attachRequestLog(master, log);
  maintainLog(master, log);
  instrumentInstance(master, log.sink);
  startMetricsServer(master, log);
  startStatsServer(master, log, version());
  for (const plugin of builtinPlugins) plugin.instanceService?.({ master, log, emperor: link });
}

main(process.argv.slice(2)).catch((err: unknown) => {
  process.stderr.write(`tsgi: fatal: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(ExitCode.FAILURE);
});
