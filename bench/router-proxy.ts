/**
 * Router proxy benchmark: the front's proxy throughput beside nginx and uWSGI's http router, to the
 * same backends.
 *
 * - uwsgi backend (uWSGI `--socket`, hello-world WSGI, 2 workers): tsgi `http-to` (router mode),
 *   uWSGI `--http --http-to`, nginx `uwsgi_pass`.
 * - HTTP backend (nginx answering `return 200` from memory): tsgi `http-to = http://...` (keep-alive
 *   pool), a bare node:http proxy (the floor of any Node proxy), nginx `proxy_pass` (keep-alive
 *   upstream).
 *
 *   npm run build && node dist/bench/router-proxy.js [--seconds 5] [--connections 50]
 *
 * Reports req/s, latency and the front's own CPU time per request (its process group, from /proc;
 * the backend and wrk are not counted). Writes bench/results/router-proxy.json.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
const CONNECTIONS = benchOption('connections', 50);
const HELLO = join(BENCH, 'apps', 'hello.py');
const TSGI = join(ROOT, 'dist', 'core', 'cli.js');

function nginxConf(dir: string, body: string): string {
  const root = process.getuid?.() === 0;
  const conf = `${root ? 'user nobody nogroup;\n' : ''}worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, t)};`).join('\n')}
${body}
}
`;
  const path = join(dir, 'nginx.conf');
  writeFileSync(path, conf);
  return path;
}

async function startNginx(name: string, dir: string, port: number, body: string): Promise<Server> {
  const conf = nginxConf(dir, body);
  return startServer(
    name,
    'nginx',
    ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    port,
  );
}

interface Front {
  readonly name: string;
  readonly backend: 'uwsgi' | 'http';
  start(port: number, backendPort: number, dir: string): Promise<Server>;
}

const fronts: Front[] = [
  {
    name: 'tsgi front (http-to, uwsgi)',
    backend: 'uwsgi',
    start: (p, b) =>
      startServer(
        'tsgi',
        process.execPath,
        [TSGI, '--http-socket', `127.0.0.1:${p}`, '--http-to', `127.0.0.1:${b}`, '--disable-logging'],
        p,
      ),
  },
  {
    name: "uWSGI's http router (--http-to)",
    backend: 'uwsgi',
    start: (p, b) =>
      startServer(
        'uwsgi-http',
        'uwsgi',
        [
          '--plugin',
          'http',
          '--http',
          `127.0.0.1:${p}`,
          '--http-to',
          `127.0.0.1:${b}`,
          '--http-keepalive',
          '--master',
          '--disable-logging',
          '--die-on-term',
        ],
        p,
      ),
  },
  {
    name: 'nginx uwsgi_pass',
    backend: 'uwsgi',
    start: (p, b, dir) =>
      startNginx(
        'nginx-uwsgi',
        dir,
        p,
        `server { listen 127.0.0.1:${p}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${b}; } }`,
      ),
  },
  {
    name: 'tsgi front (http-to http://, keep-alive pool)',
    backend: 'http',
    start: (p, b) =>
      startServer(
        'tsgi',
        process.execPath,
        [TSGI, '--http-socket', `127.0.0.1:${p}`, '--http-to', `http://127.0.0.1:${b}`, '--disable-logging'],
        p,
      ),
  },
  {
    name: 'bare node:http proxy (no tsgi code, the floor)',
    backend: 'http',
    start: (p, b) =>
      startServer(
        'node-proxy',
        process.execPath,
        [join(BENCH, 'apps', 'node-proxy.mjs'), String(p), String(b)],
        p,
      ),
  },
  {
    name: 'nginx proxy_pass (keep-alive upstream)',
    backend: 'http',
    start: (p, b, dir) =>
      startNginx(
        'nginx-proxy',
        dir,
        p,
        `upstream be { server 127.0.0.1:${b}; keepalive 32; }
server { listen 127.0.0.1:${p}; location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; } }`,
      ),
  },
];

async function backend(kind: 'uwsgi' | 'http', port: number, dir: string): Promise<Server> {
  if (kind === 'uwsgi')
    return startServer(
      'uwsgi-app',
      'uwsgi',
      [
        '--plugin',
        'python3',
        '--socket',
        `127.0.0.1:${port}`,
        '--wsgi-file',
        HELLO,
        '--master',
        '--processes',
        '2',
        '--disable-logging',
        '--die-on-term',
      ],
      port,
    );
  return startNginx(
    'nginx-backend',
    dir,
    port,
    `server { listen 127.0.0.1:${port}; location / { return 200 "Hello, world!\\n"; } }`,
  );
}

interface Row extends LoadResult {
  readonly front: string;
  readonly backend: string;
}

async function main(): Promise<void> {
  for (const cmd of ['wrk', 'uwsgi', 'nginx'])
    if (!have(cmd)) {
      console.error(`router-proxy: ${cmd} is needed`);
      process.exit(1);
    }
  const rows: Row[] = [];
  for (const kind of ['uwsgi', 'http'] as const) {
    const bdir = mkdtempSync(join(tmpdir(), 'tsgi-bench-be-'));
    chmodSync(bdir, 0o755);
    const bport = await freePort();
    const be = await backend(kind, bport, bdir);
    try {
      for (const f of fronts.filter((x) => x.backend === kind)) {
        const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-fr-'));
        chmodSync(dir, 0o755);
        const port = await freePort();
        const s = await f.start(port, bport, dir);
        try {
          runWrk(s, `http://127.0.0.1:${port}/`, { seconds: 1, connections: CONNECTIONS });
          const r = runWrk(s, `http://127.0.0.1:${port}/`, { seconds: SECONDS, connections: CONNECTIONS });
          rows.push({ front: f.name, backend: kind, ...r });
          console.error(`${f.name}: ${r.rps.toFixed(0)} req/s, ${r.cpuUsPerReq.toFixed(1)} µs CPU/req`);
        } finally {
          await stopServer(s);
          rmSync(dir, { recursive: true, force: true });
        }
      }
    } finally {
      await stopServer(be);
      rmSync(bdir, { recursive: true, force: true });
    }
  }
  const path = saveResults('router-proxy', { seconds: SECONDS, connections: CONNECTIONS, rows });
  console.log(
    markdownTable(
      ['front', 'backend', 'req/s', 'p50', 'p99', 'front CPU / request', 'errors'],
      rows.map((r) => [
        r.front,
        r.backend === 'uwsgi' ? 'uWSGI --socket (2 workers)' : 'nginx return 200',
        r.rps.toFixed(0),
        `${r.p50ms.toFixed(2)} ms`,
        `${r.p99ms.toFixed(2)} ms`,
        `${r.cpuUsPerReq.toFixed(1)} µs`,
        r.errors + r.non2xx,
      ]),
    ),
  );
  console.log(`\nwritten to ${path}`);
}

await main();
