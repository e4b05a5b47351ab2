import { join } from 'node:path';
import { EmperorProcess, writeVassal } from './emperor.js';
import { FIXTURES, fetchRaw, type Reply, tempDir } from './tsgi.js';

const WHOAMI = join(FIXTURES, 'apps', 'whoami.py');

/** A whoami.py vassal with a secret in its env (for the redaction checks). */
export function demoVassal(dir: string, file: string, extra: Record<string, string | number> = {}): string {
  return writeVassal(dir, file, {
    'http-socket': '127.0.0.1:0',
    'wsgi-file': WHOAMI,
    env: 'DB_PASSWORD=hunter2',
    processes: 2,
    'worker-reload-mercy': 5,
    'reload-mercy': 5,
    ...extra,
  });
}

/** An emperor with the dashboard on a loopback port, the address and token it logged. */
export interface DashboardRun {
  readonly emperor: EmperorProcess;
  readonly dir: string;
  /** `http://127.0.0.1:PORT` */
  readonly base: string;
  readonly token: string;
  /** One request to the dashboard with the bearer token (unless `auth: false`). */
  call(
    path: string,
    opts?: { method?: string; body?: string; headers?: Record<string, string>; auth?: boolean },
  ): Promise<Reply>;
}

/**
 * Start `tsgi-emperor DIR --emperor-dashboard :0 ...` on a fresh directory holding the vassals
 * `setup` writes, run `body`, then kill everything and remove the directory.
 */
export async function withDashboard(
  setup: (dir: string) => void,
  args: readonly string[],
  body: (run: DashboardRun) => Promise<void>,
): Promise<void> {
  const tmp = tempDir('tsgi-dash-');
  setup(tmp.path);
  const emperor = new EmperorProcess(
    [tmp.path, '--emperor-dashboard', ':0', '--emperor-freq', '1', ...args],
    { bin: 'tsgi-emperor' },
  );
  try {
    const m = await emperor.waitForLine(/dashboard on http:\/\/(\S+)\/(?: \(token (\S+)\))?$/m);
    const given = args.indexOf('--emperor-dashboard-token');
    const token = m[2] ?? args[given + 1]!;
    const base = `http://${m[1]}`;
    await body({
      emperor,
      dir: tmp.path,
      base,
      token,
      call: (path, o = {}) =>
        fetchRaw(`${base}${path}`, {
          method: o.method ?? 'GET',
          body: o.body,
          headers: { ...(o.auth === false ? {} : { authorization: `Bearer ${token}` }), ...o.headers },
        }),
    });
  } finally {
    emperor.kill();
    tmp.cleanup();
  }
}
