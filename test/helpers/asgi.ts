import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { FIXTURES, SYSTEM_PYTHON, startTsgi, type TsgiProcess, waitFor } from './tsgi.js';

/** The ASGI test apps (plain ASGI, Starlette, failing lifespans). */
export const ASGI_FIXTURES = join(FIXTURES, 'asgi');

/**
 * Start `tsgi --asgi <app>` on an ephemeral HTTP port with Debian's Python (which sees Starlette and
 * Django), in the ASGI fixtures folder; `events` (a file path) is given to the app as $ASGI_EVENTS.
 */
export function startAsgi(app: string, extra: string[] = [], events?: string): Promise<TsgiProcess> {
  return startTsgi([
    '--http-socket',
    '127.0.0.1:0',
    '--python-bin',
    SYSTEM_PYTHON,
    '--chdir',
    ASGI_FIXTURES,
    '--asgi',
    app,
    ...(events ? ['--env', `ASGI_EVENTS=${events}`] : []),
    ...extra,
  ]);
}

/** The lines an app recorded in its events file so far. */
export function events(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter(Boolean) : [];
}

/** Wait until the events file has a line matching `re`. */
export async function waitForEvent(path: string, re: RegExp, timeoutMs = 10_000): Promise<string> {
  let hit = '';
  await waitFor(
    () => {
      hit = events(path).find((l) => re.test(l)) ?? '';
      return hit !== '';
    },
    timeoutMs,
    `${re} in ${path}: ${events(path).join(' | ')}`,
  );
  return hit;
}

/** `http://host:port` → `ws://host:port`. */
export function wsUrl(base: string, path: string): string {
  return `${base.replace(/^http/, 'ws')}${path}`;
}

/**
 * Messages received on a socket opened by {@link openWs} and not yet taken by {@link nextMessage}
 * (a message can arrive in the same read as the handshake, before the caller listens).
 */
const inboxes = new WeakMap<WebSocket, { queue: Array<[Buffer, boolean]>; waiter: (() => void) | null }>();

/** Open a WebSocket (the `ws` package's client); rejects on an HTTP answer or error, or after 10 s. */
export function openWs(
  url: string,
  protocols: string[] = [],
  options: WebSocket.ClientOptions = {},
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: 10_000, ...options });
    const inbox: { queue: Array<[Buffer, boolean]>; waiter: (() => void) | null } = {
      queue: [],
      waiter: null,
    };
    inboxes.set(ws, inbox);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      inbox.queue.push([data, isBinary]);
      inbox.waiter?.();
    });
    ws.on('close', () => inbox.waiter?.());
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () =>
        reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { status: res.statusCode, body })),
      );
    });
    ws.once('error', reject);
  });
}

/** The next message on `ws` as [data, isBinary]; rejects after 10 s or if the socket closes first. */
export function nextMessage(ws: WebSocket): Promise<[Buffer, boolean]> {
  const inbox = inboxes.get(ws);
  if (inbox)
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
      const check = () => {
        const m = inbox.queue.shift();
        if (m) {
          clearTimeout(t);
          inbox.waiter = null;
          resolve(m);
        } else if (ws.readyState === WebSocket.CLOSED) {
          clearTimeout(t);
          inbox.waiter = null;
          reject(new Error('closed before a message'));
        }
      };
      inbox.waiter = check;
      check();
    });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message within 10 s')), 10_000);
    const onClose = (code: number) => {
      clearTimeout(t);
      reject(new Error(`closed (${code}) before a message`));
    };
    ws.once('message', (data: Buffer, isBinary: boolean) => {
      clearTimeout(t);
      ws.off('close', onClose);
      resolve([data, isBinary]);
    });
    ws.once('close', onClose);
  });
}

/** Resolves with [code, reason] when `ws` closes (20 s at most). */
export function closed(ws: WebSocket): Promise<[number, string]> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve([0, '']);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('not closed within 20 s')), 20_000);
    ws.once('close', (code: number, reason: Buffer) => {
      clearTimeout(t);
      resolve([code, reason.toString()]);
    });
  });
}
