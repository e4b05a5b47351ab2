/**
 * PHP runner benchmark: the same PHP scripts (bench/apps/php/) under tsgi's PHP runner (HTTP edge →
 * php-cgi workers over keep-alive FastCGI) and under nginx → php-fpm (the usual deployment: nginx's
 * stock fastcgi_params, php-fpm `pm = static` over a unix socket), with the same number of PHP
 * processes; wrk on loopback.
 *
 *   npm run build && node dist/bench/runner-php.js [--seconds 5] [--workers 2] [--connections 50]
 *
 * php-fpm is Debian's `php-fpm` package (installed for this benchmark only; no test needs it).
 * CPU time per request is the whole server side's: tsgi's master and php-cgi processes, or nginx
 * plus php-fpm's master and children, from /proc. Writes bench/results/runner-php.json and prints a
 * markdown table.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BENCH,
  freePort,
  groupCpuSeconds,
  groupMemory,
  have,
  numberOption,
  type ResultRow,
  ROOT,
  resultTable,
  runWrk,
  type Server,
  saveResults,
  startNginx,
  startServer,
  stopServer,
} from './lib.js';

const SECONDS = numberOption('seconds', 5);
const WORKERS = numberOption('workers', 2);
const CONNECTIONS = numberOption('connections', 50);
const DOCROOT = join(BENCH, 'apps', 'php');

const cases = [
  { name: 'hello world', path: '/hello.php' },
  { name: 'JSON (20 items)', path: '/json.php' },
];

/** The php-fpm binary (`php-fpm8.2` on Debian 12), or null. */
function phpFpm(): string | null {
  const found = readdirSync('/usr/sbin').find((f) => /^php-fpm[\d.]*$/.test(f));
  return found ? join('/usr/sbin', found) : null;
}

interface Setup {
  /** The processes wrk's CPU is counted for (every process group of the setup). */
  readonly servers: Server[];
  readonly port: number;
  readonly dir: string | null;
}

async function startTsgi(): Promise<Setup> {
  const port = await freePort();
  const server = await startServer(
    'tsgi',
    process.execPath,
    [
      join(ROOT, 'dist/core/cli.js'),
      '--http-socket',
      `127.0.0.1:${port}`,
      '--php-docroot',
      DOCROOT,
      '--processes',
      String(WORKERS),
      '--disable-logging',
    ],
    port,
  );
  return { servers: [server], port, dir: null };
}

async function startFpm(fpm: string): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'tsgi-bench-fpm-'));
  chmodSync(dir, 0o755);
  const sock = join(dir, 'php-fpm.sock');
  const root = process.getuid?.() === 0;
  writeFileSync(
    join(dir, 'php-fpm.conf'),
    `[global]
pid = ${join(dir, 'php-fpm.pid')}
error_log = ${join(dir, 'php-fpm.log')}
daemonize = no
[www]
${root ? 'user = nobody\ngroup = nogroup\n' : ''}listen = ${sock}
listen.mode = 0666
pm = static
pm.max_children = ${WORKERS}
`,
  );
  const fpmServer = await startServer('php-fpm', fpm, ['-F', '-y', join(dir, 'php-fpm.conf'), '-R'], sock);
  const port = await freePort();
  const nginx = await startNginx(
    dir,
    port,
    `root ${DOCROOT};
    location ~ \\.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_pass unix:${sock};
    }`,
  );
  return { servers: [nginx, fpmServer], port, dir };
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'php-cgi']) if (!have(tool)) throw new Error(`${tool} is needed`);
  const fpm = phpFpm();
  if (!fpm) throw new Error('php-fpm is needed (apt-get install php-fpm)');
  const kinds = [
    { name: `tsgi php runner (${WORKERS} php-cgi)`, start: startTsgi },
    { name: `nginx → php-fpm (${WORKERS} children)`, start: () => startFpm(fpm) },
  ];
  const rows: ResultRow[] = [];
  for (const kind of kinds) {
    const setup = await kind.start();
    try {
      for (const c of cases) {
        const url = `http://127.0.0.1:${setup.port}${c.path}`;
        const [first, ...others] = setup.servers;
        runWrk(first!, url, { seconds: 1, connections: CONNECTIONS });
        const cpu0 = others.map((s) => groupCpuSeconds(s.child.pid!));
        const r = runWrk(first!, url, { seconds: SECONDS, connections: CONNECTIONS });
        const extraCpu = others.reduce((sum, s, i) => sum + groupCpuSeconds(s.child.pid!) - cpu0[i]!, 0);
        const extraRss = others.reduce((sum, s) => sum + groupMemory(s.child.pid!).rss, 0) / 1048576;
        rows.push({
          server: kind.name,
          app: c.name,
          ...r,
          cpuUsPerReq: r.cpuUsPerReq + (r.requests > 0 ? (extraCpu / r.requests) * 1e6 : 0),
          rssMB: r.rssMB + extraRss,
        });
        process.stderr.write(`${c.name} / ${kind.name}: ${Math.round(r.rps)} req/s\n`);
      }
    } finally {
      for (const s of setup.servers) await stopServer(s);
      if (setup.dir) rmSync(setup.dir, { recursive: true, force: true });
    }
  }
  const path = saveResults('runner-php', {
    date: new Date().toISOString(),
    seconds: SECONDS,
    workers: WORKERS,
    connections: CONNECTIONS,
    rows,
  });
  const table = resultTable(rows, 'script');
  process.stdout.write(`${table}\n\nwritten to ${path}\n`);
}

await main();
