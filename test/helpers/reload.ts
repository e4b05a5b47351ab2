import assert from 'node:assert/strict';
import { alive, fetchRaw, type TsgiProcess, waitFor } from './tsgi.js';

/**
 * A graceful reload checked from outside, for any runner: two `slowPath` requests are started, the
 * instance gets SIGHUP while they run, and both must still answer 200 with `slowText` (they finish
 * on the old workers); afterwards `pidPath` (a body that is the worker's pid) must be answered by a
 * new worker, the old ones must exit, and the log must say `exited (reload, exit code 0)`.
 */
export async function assertGracefulReload(
  tsgi: TsgiProcess,
  slowPath: string,
  slowText: string,
  pidPath: string,
): Promise<void> {
  const base = tsgi.url();
  const old = new Set(tsgi.workerPids());
  const slow = [fetchRaw(`${base}${slowPath}`), fetchRaw(`${base}${slowPath}`)];
  await new Promise((r) => setTimeout(r, 300));
  tsgi.signal('SIGHUP');
  await tsgi.waitForLine(/reload done/);
  for (const r of await Promise.all(slow)) {
    assert.equal(r.status, 200);
    assert.equal(r.text, slowText);
  }
  const now = Number((await fetchRaw(`${base}${pidPath}`)).text);
  assert.ok(now > 0 && !old.has(now), 'a new worker answers after the reload');
  await waitFor(() => [...old].every((p) => !alive(p)), 10_000, 'old workers to exit');
  await tsgi.waitForLine(/exited \(reload, exit code 0\)/);
}
