import { parentPort } from 'node:worker_threads';
import { bcrypt } from './bcrypt.js';

/**
 * The bcrypt worker thread: one request at a time, `{ id, password, hash }` in, `{ id, ok }` out.
 * Keeps bcrypt's deliberate CPU cost off the master's event loop.
 */
parentPort?.on('message', (m: { id: number; password: Uint8Array; hash: string }) => {
  let ok = false;
  try {
    ok = bcrypt(Buffer.from(m.password), m.hash) === m.hash;
  } catch {
    ok = false;
  }
  parentPort!.postMessage({ id: m.id, ok });
});
