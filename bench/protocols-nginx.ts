/**
 * Protocols benchmark: nginx in front of the app server, as deployed. nginx → tsgi (uwsgi_pass),
 * nginx → uWSGI (uwsgi_pass), nginx → tsgi (fastcgi_pass, keep-alive) and nginx → uWSGI
 * (fastcgi_pass), same WSGI apps and worker count; wrk on loopback against nginx.
 *
 *   npm run build && node dist/bench/protocols-nginx.js [--seconds 5] [--workers 2] [--connections 50]
 *
 * CPU time per request is reported for the app server (master and workers) and for nginx
 * separately, from /proc. Writes bench/results/protocols-nginx.json and prints a markdown table.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH,
  benchOption,
  freePort,
  groupCpuSeconds,
  have,
  markdownTable,
  ROOT,
  runWrk,
  type Server,
  saveResults,
  startNginx,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = benchOption('seconds', 5);
const WORKERS = benchOption('workers', 2);
const CONNECTIONS = benchOption('connections', 50);
const SYSTEM_PYTHON = '/usr/bin/python3';
const APPS = join(BENCH, 'apps');

interface AppCase {
  name: string;
  file: string;
  script?: string;
}
const cases: AppCase[] = [
  { name: 'hello world', file: 'hello.py' },
  { name: 'POST echo 4 KiB', file: 'echo.py', script: join(APPS, 'post.lua') },
];

interface Backend {
  name: string;
  /** nginx directives that pass a request to it (inside `location / { }`). */
  pass(port: number): string;
  /** An `upstream` block, if it needs one. */
  upstream?(port: number): string;
  start(app: string, port: number): Promise<Server>;
}

const tsgi = (flag: string) => (app: string, port: number) =>
  startServer(
    'tsgi',
    process.execPath,
    [
      join(ROOT, 'dist/core/cli.js'),
      flag,
      `127.0.0.1:${port}`,
      '--wsgi-file',
      join(APPS, app),
      '--processes',
      String(WORKERS),
      '--python-bin',
      SYSTEM_PYTHON,
      '--disable-logging',
    ],
    port,
  );

const uwsgi = (flag: string) => (app: string, port: number) =>
  startServer(
    'uwsgi',
    'uwsgi',
    [
      '--plugin',
      'python3',
      flag,
      `127.0.0.1:${port}`,
      '--wsgi-file',
      join(APPS, app),
      '--master',
      '--processes',
      String(WORKERS),
      '--disable-logging',
      '--die-on-term',
      '--need-app',
    ],
    port,
  );

const backends: Backend[] = [
  {
    name: 'nginx → tsgi (uwsgi_pass)',
    pass: (p) => `include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${p};`,
    start: tsgi('--socket'),
  },
  {
    name: 'nginx → uWSGI (uwsgi_pass)',
    pass: (p) => `include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${p};`,
    start: uwsgi('--socket'),
  },
  {
    name: 'nginx → tsgi (fastcgi_pass, keep-alive)',
    upstream: (p) => `upstream backend { server 127.0.0.1:${p}; keepalive 16; }`,
    pass: () => 'include /etc/nginx/fastcgi_params; fastcgi_keep_conn on; fastcgi_pass backend;',
    start: tsgi('--fastcgi-socket'),
  },
  {
    name: 'nginx → uWSGI (fastcgi_pass)',
    pass: (p) => `include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:${p};`,
    start: uwsgi('--fastcgi-socket'),
  },
];

interface Row {
  backend: string;
  app: string;
  rps: number;
  p50ms: number;
  p99ms: number;
  serverCpuUsPerReq: number;
  nginxCpuUsPerReq: number;
  errors: number;
  non2xx: number;
  serverRssMB: number;
}

async function main(): Promise<void> {
  for (const tool of ['nginx', 'uwsgi', 'wrk']) if (!have(tool)) throw new Error(`${tool} is needed`);
  const rows: Row[] = [];
  for (const c of cases) {
    for (const b of backends) {
      const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-nginx-'));
      chmodSync(dir, 0o755);
      const port = await freePort();
      const listen = await freePort();
      const server = await b.start(c.file, port);
      let nginx: Server | null = null;
      try {
        nginx = await startNginx(dir, listen, `location / { ${b.pass(port)} }`, b.upstream?.(port));
        const url = `http://127.0.0.1:${listen}/`;
        runWrk(server, url, { seconds: 1, connections: CONNECTIONS, script: c.script });
        const nginxCpu0 = groupCpuSeconds(nginx.child.pid!);
        const r = runWrk(server, url, { seconds: SECONDS, connections: CONNECTIONS, script: c.script });
        const nginxCpu = groupCpuSeconds(nginx.child.pid!) - nginxCpu0;
        rows.push({
          backend: b.name,
          app: c.name,
          rps: r.rps,
          p50ms: r.p50ms,
          p99ms: r.p99ms,
          serverCpuUsPerReq: r.cpuUsPerReq,
          nginxCpuUsPerReq: r.requests > 0 ? (nginxCpu / r.requests) * 1e6 : 0,
          errors: r.errors,
          non2xx: r.non2xx,
          serverRssMB: r.rssMB,
        });
        process.stderr.write(`${c.name} / ${b.name}: ${Math.round(r.rps)} req/s\n`);
      } finally {
        if (nginx) await stopServer(nginx);
        await stopServer(server);
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const path = saveResults('protocols-nginx', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    rows,
  });
  const table = markdownTable(
    ['app', 'path', 'req/s', 'p50 ms', 'p99 ms', 'server CPU µs/req', 'nginx CPU µs/req', 'errors / non-2xx'],
    rows.map((r) => [
      r.app,
      r.backend,
      Math.round(r.rps),
      r.p50ms.toFixed(2),
      r.p99ms.toFixed(2),
      Math.round(r.serverCpuUsPerReq),
      Math.round(r.nginxCpuUsPerReq),
      `${r.errors} / ${r.non2xx}`,
    ]),
  );
  process.stdout.write(`${table}\n\nwritten to ${path}\n`);
}

await main();
