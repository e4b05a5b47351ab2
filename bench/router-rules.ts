/**
 * Router micro-benchmark: the cost of internal routing per request in the master, with 0, 10 and
 * 100 rules, measured in-process on the real code path (the router plugin's request hook run by the
 * master's hook runner, the rules engine, the response head through the shaped sink).
 *
 *   npm run build && node dist/bench/router-rules.js [--iterations 200000]
 *
 * Rule sets are what configs look like: regex rules on PATH_INFO (most not matching), conditions on
 * vars and cookies, a rewrite, and header rules. Writes bench/results/router-rules.json.
 */
import type { ConfigEntry } from '../core/config/types.js';
import { Logger, LogSink } from '../core/log/logger.js';
import { runRequestHooks } from '../core/plugin/hooks.js';
import type { RequestHook } from '../core/plugin/types.js';
import { TsgiRequest } from '../core/request/request.js';
import type { ResponseSink } from '../core/request/sink.js';
import { routerPlugin } from '../router/index.js';
import { benchOption, markdownTable, saveResults } from './lib.js';

const ITERATIONS = benchOption('iterations', 200_000);

/** N rules: a realistic mix, the last ones reached by every request. */
function rules(n: number): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; out.length < n; i++) {
    switch (i % 5) {
      case 0:
        out.push(['route', `^/section${i}/(.*)$ rewrite:/new${i}/$1`]);
        break;
      case 1:
        out.push(['route-if', `equal:\${cookie[theme]};dark${i} addvar:THEME=dark`]);
        break;
      case 2:
        out.push(['route-host', `^static${i}\\.example\\.com$ addheader:X-Static: ${i}`]);
        break;
      case 3:
        out.push(['route-if', `startswith:\${PATH_INFO};/api${i}/ addheader:X-Api: yes`]);
        break;
      default:
        out.push(['route-uri', `\\?debug=${i} return:403`]);
    }
  }
  return out;
}

function hookFor(lines: Array<[string, string]>): RequestHook | null {
  const entries: ConfigEntry[] = lines.map(([key, value], i) => ({
    key,
    value,
    origin: { file: 'bench.ini', line: i + 1, source: 'ini' },
  }));
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(routerPlugin.options)) values[name] = spec.default;
  for (const [k, v] of lines) values[k] = [...((values[k] as string[]) ?? []), v];
  const config = {
    entries,
    values: (table: Record<string, { default: unknown }>) =>
      table === routerPlugin.options
        ? values
        : Object.fromEntries(Object.entries(table).map(([k, s]) => [k, s.default])),
    has: () => false,
    origins: () => [],
    origin: () => null,
  };
  const log = new Logger(new LogSink(2));
  // biome-ignore lint/suspicious/noExplicitAny: a minimal InstanceConfig stand-in for the plugin
  const inst = routerPlugin.create({ options: values as any, config: config as any, log });
  return inst.provides['request-hook'] ?? null;
}

/** A sink that only counts. */
const sink: ResponseSink = {
  headSent: false,
  head() {},
  write: () => true,
  end() {},
  fail() {},
  onDrain() {},
  onAbort() {},
};

function request(): TsgiRequest {
  return new TsgiRequest(
    new Map([
      ['REQUEST_METHOD', 'GET'],
      ['REQUEST_URI', '/app/page?x=1'],
      ['PATH_INFO', '/app/page'],
      ['QUERY_STRING', 'x=1'],
      ['SERVER_PROTOCOL', 'HTTP/1.1'],
      ['REMOTE_ADDR', '127.0.0.1'],
      ['HTTP_HOST', 'www.example.com'],
      ['HTTP_COOKIE', 'theme=light; session=abc'],
      ['HTTP_USER_AGENT', 'bench/1.0'],
    ]),
    null,
    0,
    'http',
  );
}

function measure(hook: RequestHook | null): number {
  const hooks = hook ? [hook] : [];
  let dispatched = 0;
  const next = (_r: TsgiRequest, s: ResponseSink) => {
    dispatched++;
    s.head(200, 'OK', ['Content-Type', 'text/plain'], 0);
  };
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const req = request();
      if (hooks.length > 0) runRequestHooks(hooks, req, sink, next);
      else next(req, sink);
    }
  };
  run(20_000);
  const base = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) request();
  const alloc = Number(process.hrtime.bigint() - base);
  const t0 = process.hrtime.bigint();
  run(ITERATIONS);
  const total = Number(process.hrtime.bigint() - t0);
  if (dispatched < ITERATIONS) throw new Error('requests were not all dispatched');
  return Math.max(0, (total - alloc) / ITERATIONS);
}

const rows: Array<{ rules: number; nsPerRequest: number }> = [];
for (const n of [0, 10, 100]) {
  const hook = n === 0 ? hookFor([]) : hookFor(rules(n));
  const samples = [measure(hook), measure(hook), measure(hook)].sort((a, b) => a - b);
  rows.push({ rules: n, nsPerRequest: Math.round(samples[1]!) });
}
const path = saveResults('router-rules', { iterations: ITERATIONS, node: process.version, rows });
console.log(
  markdownTable(
    ['rules', 'routing cost per request'],
    rows.map((r) => [r.rules, `${(r.nsPerRequest / 1000).toFixed(2)} µs`]),
  ),
);
console.log(`\nwritten to ${path}`);
