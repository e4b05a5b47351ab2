import { createServer as createHttpServer } from 'node:http';
import type { Logger } from '../core/log/logger.js';
import { bindListener, type Listener } from '../core/net/listeners.js';
import type { Emperor } from './emperor.js';
import type { Vassal } from './vassal.js';

function vassalStats(v: Vassal, emperor: Emperor) {
  const bl = emperor.blacklist.get(v.name);
  return {
    id: v.name,
    pid: v.pid || -1,
    born: v.bornS,
    last_mod: v.spec.mtimeS,
    last_heartbeat: v.lastHeartbeatS,
    loyal: v.loyal ? 1 : 0,
    ready: v.ready ? 1 : 0,
    accepting: v.loyal ? 1 : 0,
    last_loyal: v.lastLoyalS,
    last_ready: v.lastReadyS,
    last_accepting: v.lastLoyalS,
    first_run: v.firstRunS,
    last_run: v.lastRunS,
    cursed: v.state === 'cursed' ? v.cursedAtS : 0,
    zerg: 0,
    on_demand: '',
    suspended: 0,
    adopted: 0,
    uid: v.identity.uid ?? process.getuid?.() ?? 0,
    gid: v.identity.gid ?? process.getgid?.() ?? 0,
    monitor: v.spec.monitor,
    attrs: [],
    respawns: v.respawns,
    // tsgi additions
    state: v.state,
    blacklist_delay: bl?.delayMs ?? 0,
    last_exit: v.lastExit ? { code: v.lastExit.code, signal: v.lastExit.signal, at: v.lastExit.atS } : null,
    listeners: v.listeners,
    consoles: v.consoles,
  };
}

/**
 * The emperor's stats document: uWSGI's keys (`core/emperor.c`, `emperor_send_stats`: version, pid,
 * uid, gid, cwd, emperor, emperor_tyrant, throttle_level, vassals[], blacklist[]) plus, per vassal,
 * `state`, `blacklist_delay` (ms), `last_exit` ({code, signal, at}), `listeners` and `consoles`. Times are epoch
 * seconds as in uWSGI. `throttle_level` is 0: tsgi has no global spawn throttle.
 */
export function emperorStats(
  emperor: Emperor,
  monitors: readonly string[],
  tyrant: boolean,
  version: string,
): Record<string, unknown> {
  return {
    version: `tsgi ${version}`,
    pid: process.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cwd: process.cwd(),
    emperor: monitors,
    emperor_tyrant: tyrant ? 1 : 0,
    throttle_level: 0,
    vassals: [...emperor.vassals.values()].map((v) => vassalStats(v, emperor)),
    blacklist: emperor.blacklist.all().map((e) => ({
      id: e.name,
      throttle_level: Math.round(e.delayMs / 1000),
      attempt: e.attempt,
      first_attempt: Math.floor(e.firstAttemptAtMs / 1000),
      last_attempt: Math.floor(e.lastAttemptAtMs / 1000),
      delay_ms: e.delayMs,
    })),
  };
}

/** Bind one of the emperor’s own listeners (stale unix sockets handled as for any tsgi listener). */
export function bindService(proto: string, address: string): Promise<Listener> {
  return bindListener({ proto, address, origin: null }, `${proto} ${address}`, {
    backlog: 64,
    chmod: null,
    chown: null,
  });
}

/**
 * Serve a JSON document as uWSGI's stats servers do: each connection gets the document, then the
 * connection is closed. `address` is `host:port` (`:0` picks a port) or a unix socket path.
 * @throws {TsgiError} when the address cannot be bound.
 */
export async function serveStats(address: string, document: () => unknown, log: Logger): Promise<Listener> {
  const l = await bindService('emperor-stats', address);
  l.server.on('connection', (sock) => {
    sock.on('error', () => {});
    sock.end(JSON.stringify(document()));
  });
  log.info(`stats server on ${l.info.bound}`);
  return l;
}

/**
 * Serve Prometheus text on `address` (any path; `/metrics` by convention), rendered by `render` at
 * each scrape. @throws {TsgiError} when the address cannot be bound.
 */
export async function serveMetrics(
  address: string,
  render: () => Promise<string>,
  log: Logger,
): Promise<Listener> {
  const l = await bindService('emperor-prometheus', address);
  const http = createHttpServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    render().then(
      (body) => res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
      (err: Error) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${err.message}\n`),
    );
  });
  l.server.on('connection', (sock) => http.emit('connection', sock));
  log.info(`prometheus metrics on http://${l.info.bound}/metrics`);
  return l;
}
