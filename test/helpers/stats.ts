import { connect } from 'node:net';
import type { TsgiProcess } from './tsgi.js';

/** One worker as the uWSGI-compatible stats document shows it (the fields tests read). */
export interface StatsWorker {
  id: number;
  pid: number;
  accepting: number;
  requests: number;
  harakiri_count: number;
  respawn_count: number;
  status: string;
}

/** The stats document (the fields tests read). */
export interface StatsDoc {
  listen_queue: number;
  listen_queue_errors: number;
  workers: StatsWorker[];
}

/** Read the stats JSON of an instance started with `--stats 127.0.0.1:0` (address from its log). */
export async function readStats(tsgi: TsgiProcess): Promise<StatsDoc> {
  const m = await tsgi.waitForLine(/stats server on 127\.0\.0\.1:(\d+)/);
  const port = Number(m[1]);
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let text = '';
    sock.setEncoding('utf8');
    sock.setTimeout(5000, () => sock.destroy(new Error('stats server timed out')));
    sock.on('data', (d: string) => {
      text += d;
    });
    sock.on('end', () => {
      try {
        resolve(JSON.parse(text) as StatsDoc);
      } catch (err) {
        reject(err);
      }
    });
    sock.on('error', reject);
  });
}

/** Workers taking requests (slot holders that are ready). */
export function accepting(doc: StatsDoc): StatsWorker[] {
  return doc.workers.filter((w) => w.accepting === 1);
}
