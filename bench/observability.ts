/**
 * Observability benchmark: what metrics and request logging cost per request.
 *
 * 1. In process (exact, no noise from the load generator): the request path's share of metrics
 *    (`countDone`, published through the real diagnostics channel) and of request logging (the
 *    default line, a `log-format`, the json `log-encoder`), written to /dev/null through the real
 *    log sink.
 * 2. End to end with wrk, hello world, tsgi beside uWSGI: CPU per request of the master alone and
 *    of the whole server with logging off (`disable-logging`), with the default request line to a
 *    file, with a log-format, with the json encoder, and with the prometheus listener scraped every
 *    second.
 *
 *   npm run build && node dist/bench/observability.js [--seconds 5] [--rounds 3] [--workers 2] [--connections 50]
 *
 * Writes bench/results/observability.json and prints markdown tables for docs/benchmarks.md.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { encoderChain, parseLogEncoder } from '../core/log/encoders.js';
import { Logger, LogSink } from '../core/log/logger.js';
import { compileLogFormat, defaultRequestLine, type RequestLogEntry } from '../core/log/request-log.js';
import type { RequestDoneEvent } from '../core/master/events.js';
import type { Worker } from '../core/master/worker.js';
import { countDone } from '../core/metrics/instance.js';
import { Tallies } from '../core/metrics/tally.js';
import { TsgiRequest } from '../core/request/request.js';
import {
  BENCH,
  benchOption,
  freePort,
  have,
  type LoadResult,
  markdownTable,
  ROOT,
  runWrk,
  type Server,
  saveResults,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = benchOption('seconds', 5);
const WORKERS = benchOption('workers', 2);
const CONNECTIONS = benchOption('connections', 50);
/** Rounds over all cases, interleaved; each case reports its median round (the machine is shared). */
const ROUNDS = benchOption('rounds', 3);
const APP = join(BENCH, 'apps', 'hello.py');
const CLK_TCK = 100;
// biome-ignore lint/suspicious/noTemplateCurlyInString: uWSGI's encoder template syntax
const JSON_ENCODER = 'json {"unix":${unix},"msg":"${msg}"}';

// ---- 1. in process ----

function sampleRequest(): TsgiRequest {
  const vars = new Map(
    Object.entries({
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/hello?x=1',
      PATH_INFO: '/hello',
      QUERY_STRING: 'x=1',
      SERVER_PROTOCOL: 'HTTP/1.1',
      SCRIPT_NAME: '',
      SERVER_NAME: 'bench',
      SERVER_PORT: '8080',
      REMOTE_ADDR: '127.0.0.1',
      REMOTE_PORT: '50000',
      HTTP_HOST: '127.0.0.1:8080',
      HTTP_USER_AGENT: 'wrk',
      HTTP_ACCEPT: '*/*',
    }),
  );
  const req = new TsgiRequest(vars, null, 0, 'http');
  req.status = 200;
  req.bytesOut = 13;
  req.headerCount = 2;
  req.headerBytes = 68;
  return req;
}

/** ns per call of `fn` over `n` calls (after a warm-up). */
function nsPerCall(n: number, fn: (i: number) => void): number {
  for (let i = 0; i < 20_000; i++) fn(i);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(i);
  return ((performance.now() - t0) * 1e6) / n;
}

async function inProcess(): Promise<Array<{ what: string; ns: number }>> {
  const out: Array<{ what: string; ns: number }> = [];
  const req = sampleRequest();
  const worker = { id: 1, pid: 4242, requests: 1 } as unknown as Worker;
  const ev: RequestDoneEvent = { req, worker, outcome: 'complete', durationMs: 0.8 };
  const ch = diagnostics_channel.channel('bench:request:done');
  const N = 500_000;
  out.push({
    what: 'publish with no subscriber (channel check only)',
    ns: nsPerCall(N, () => ch.hasSubscribers && ch.publish(ev)),
  });
  const tallies = new Tallies();
  const onDone = (m: unknown) => countDone(tallies, m as RequestDoneEvent);
  ch.subscribe(onDone);
  out.push({
    what: 'metrics: event built and published, counted (tsgi, always on)',
    ns: nsPerCall(N, () => ch.publish({ ...ev })),
  });
  ch.unsubscribe(onDone);

  {
    // /dev/null makes the write itself constant and tiny: what remains is tsgi's own work.
    const sink = new LogSink(openSync('/dev/null', 'a'), 64 * 1024 * 1024);
    const log = new Logger(sink);
    const entry = (): RequestLogEntry => ({
      req,
      durationUs: 800,
      workerId: 1,
      workerPid: 4242,
      workerRequests: 7,
      totalRequests: 9,
      addr: '127.0.0.1',
      writeErrors: 0,
      memory: null,
    });
    const M = 200_000;
    const flushEvery = (i: number) => {
      if (i % 512 === 0) sink.flush(true);
    };
    out.push({
      what: "request log: uWSGI's default line",
      ns: nsPerCall(M, (i) => {
        log.request(defaultRequestLine(entry(), { micros: false, memoryReport: 0 }));
        flushEvery(i);
      }),
    });
    const fmt = compileLogFormat(
      '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)" %(msecs)',
    );
    out.push({
      what: 'request log: log-format (Apache combined style, 11 variables)',
      ns: nsPerCall(M, (i) => {
        log.request(fmt.render(entry()));
        flushEvery(i);
      }),
    });
    const origin = { file: null, line: 0, source: 'argv' as const };
    sink.setEncoder(encoderChain([parseLogEncoder(JSON_ENCODER, 'log-encoder', origin)]));
    out.push({
      what: 'request log: default line + json log-encoder',
      ns: nsPerCall(M, (i) => {
        log.request(defaultRequestLine(entry(), { micros: false, memoryReport: 0 }));
        flushEvery(i);
      }),
    });
    sink.close();
  }
  out.push({
    what: 'request log: default line through the async sink to a file, 4000 lines/s (process CPU incl. the write thread)',
    ns: await sinkCpuPerLine(),
  });
  return out;
}

/**
 * CPU per line of the whole logging path as the master runs it: lines arrive over time (4 per ms for
 * 2 s), the sink batches them and writes through libuv's thread pool to a real file. Process CPU
 * (all threads) with logging minus the same loop without it, per line.
 */
async function sinkCpuPerLine(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-sink-'));
  try {
    const req = sampleRequest();
    const e: RequestLogEntry = {
      req,
      durationUs: 800,
      workerId: 1,
      workerPid: 4242,
      workerRequests: 7,
      totalRequests: 9,
      addr: '127.0.0.1',
      writeErrors: 0,
      memory: null,
    };
    const run = async (log: Logger | null): Promise<{ cpuUs: number; lines: number }> => {
      let lines = 0;
      const c0 = process.cpuUsage();
      await new Promise<void>((resolve) => {
        const end = performance.now() + 2000;
        const t = setInterval(() => {
          for (let i = 0; i < 4; i++) {
            const line = defaultRequestLine(e, { micros: false, memoryReport: 0 });
            if (log) log.request(line);
            lines++;
          }
          if (performance.now() > end) {
            clearInterval(t);
            resolve();
          }
        }, 1);
      });
      const c = process.cpuUsage(c0);
      return { cpuUs: c.user + c.system, lines };
    };
    const base = await run(null);
    const sink = LogSink.open(join(dir, 'bench.log'));
    const logged = await run(new Logger(sink));
    await sink.end(2000);
    return ((logged.cpuUs / logged.lines - base.cpuUs / base.lines) * 1000) | 0;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- 2. end to end ----

function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

interface Case {
  name: string;
  server: 'tsgi' | 'uWSGI';
  args: (port: number, dir: string) => string[];
  /** Port of the prometheus listener to scrape every second, if any. */
  scrape?: number;
}

async function endToEnd(): Promise<Array<{ case: string; server: string; masterUs: number } & LoadResult>> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-obs-'));
  const tsgiBase = (port: number) => [
    join(ROOT, 'dist/core/cli.js'),
    '--http-socket',
    `127.0.0.1:${port}`,
    '--wsgi-file',
    APP,
    '--processes',
    String(WORKERS),
    '--python-bin',
    '/usr/bin/python3',
  ];
  const uwsgiBase = (port: number) => [
    '--plugin',
    'python3',
    '--http-socket',
    `127.0.0.1:${port}`,
    '--wsgi-file',
    APP,
    '--master',
    '--processes',
    String(WORKERS),
    '--die-on-term',
  ];
  const promPort = await freePort();
  const cases: Case[] = [
    { name: 'disable-logging', server: 'tsgi', args: (p) => [...tsgiBase(p), '--disable-logging'] },
    {
      name: 'disable-logging + prometheus (scraped every 1 s)',
      server: 'tsgi',
      args: (p) => [...tsgiBase(p), '--disable-logging', '--prometheus', `127.0.0.1:${promPort}`],
      scrape: promPort,
    },
    {
      name: 'default request line (logto file)',
      server: 'tsgi',
      args: (p, d) => [...tsgiBase(p), '--logto', join(d, 't1.log')],
    },
    {
      name: 'log-format, 11 variables (logto file)',
      server: 'tsgi',
      args: (p, d) => [
        ...tsgiBase(p),
        '--logto',
        join(d, 't2.log'),
        '--log-format',
        '%(addr) - %(user) [%(ltime)] "%(method) %(uri) %(proto)" %(status) %(size) "%(referer)" "%(uagent)" %(msecs)',
      ],
    },
    {
      name: 'default line + json log-encoder (logto file)',
      server: 'tsgi',
      args: (p, d) => [...tsgiBase(p), '--logto', join(d, 't3.log'), '--log-encoder', JSON_ENCODER],
    },
  ];
  if (have('uwsgi'))
    cases.push(
      { name: 'disable-logging', server: 'uWSGI', args: (p) => [...uwsgiBase(p), '--disable-logging'] },
      {
        name: 'default request line (logto file)',
        server: 'uWSGI',
        args: (p, d) => [...uwsgiBase(p), '--logto', join(d, 'u1.log')],
      },
    );
  type Row = { case: string; server: string; masterUs: number } & LoadResult;
  const runs = new Map<Case, Row[]>();
  try {
    for (let round = 0; round < ROUNDS; round++)
      for (const c of cases) {
        const port = await freePort();
        const cmd = c.server === 'tsgi' ? process.execPath : 'uwsgi';
        const s: Server = await startServer(c.server, cmd, c.args(port, dir), port);
        const scraper = c.scrape ? setInterval(() => scrape(c.scrape!), 1000) : null;
        try {
          const m0 = cpuSeconds(s.child.pid!);
          const r = runWrk(s, `http://127.0.0.1:${port}/`, { seconds: SECONDS, connections: CONNECTIONS });
          const masterUs = r.requests > 0 ? ((cpuSeconds(s.child.pid!) - m0) / r.requests) * 1e6 : 0;
          runs.set(c, [...(runs.get(c) ?? []), { case: c.name, server: c.server, masterUs, ...r }]);
          process.stderr.write(
            `round ${round + 1}: ${c.server} ${c.name}: ${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(0)} µs CPU/req, master ${masterUs.toFixed(0)} µs/req\n`,
          );
        } finally {
          if (scraper) clearInterval(scraper);
          await stopServer(s);
        }
      }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // The round with the median server CPU per request, per case.
  return [...runs.values()].map(
    (rs) => [...rs].sort((a, b) => a.cpuUsPerReq - b.cpuUsPerReq)[Math.floor(rs.length / 2)]!,
  );
}

function scrape(port: number): void {
  const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => res.resume());
  req.on('error', () => {});
  req.end();
}

async function main(): Promise<void> {
  const micro = await inProcess();
  for (const m of micro) process.stderr.write(`${m.what}: ${m.ns.toFixed(0)} ns\n`);
  const macro = have('wrk') ? await endToEnd() : [];
  const path = saveResults('observability', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    rounds: ROUNDS,
    inProcess: micro,
    endToEnd: macro,
  });
  process.stdout.write(
    `${markdownTable(
      ['request-path work (in process)', 'ns per request'],
      micro.map((m) => [m.what, m.ns.toFixed(0)]),
    )}\n\n${markdownTable(
      ['server', 'case', 'req/s', 'p99 ms', 'server CPU µs/req', 'master CPU µs/req'],
      macro.map((r) => [
        r.server,
        r.case,
        r.rps.toFixed(0),
        r.p99ms.toFixed(1),
        r.cpuUsPerReq.toFixed(0),
        r.server === 'tsgi' ? r.masterUs.toFixed(0) : `${r.masterUs.toFixed(0)} (uWSGI master)`,
      ]),
    )}\n\n(${path})\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
