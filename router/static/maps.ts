import { realpath, stat } from 'node:fs/promises';
import type { ConfigOrigin } from '../../core/errors.js';
import { ConfigError } from '../../core/errors.js';
import type { Logger } from '../../core/log/logger.js';
import type { TsgiRequest } from '../../core/request/request.js';
import { type FoundFile, findFile, type StaticSettings, skipped, staticMethod } from './files.js';

/**
 * Where plain static serving looks for a request's file, in uWSGI's order (`uwsgi_parse_vars`,
 * core/protocol.c): every `check-static` directory (PATH_INFO under it), then every `static-map`
 * whose mountpoint prefixes PATH_INFO (the rest of the path under its directory, or the mapped file
 * itself), then every `static-map2` (the whole PATH_INFO under its directory).
 */

/** One configured place to look. */
interface Source {
  readonly kind: 'check-static' | 'static-map' | 'static-map2';
  /** Mountpoint (prefix of PATH_INFO); '' for check-static. */
  readonly mount: string;
  /** Directory or file as configured. */
  readonly target: string;
  readonly origin: ConfigOrigin | null;
  /** Its realpath and whether it is a file, once resolved. */
  resolved: { readonly root: string; readonly isFile: boolean } | null;
}

/** The result of a lookup: a file to serve, a refusal, or nothing (the request goes on). */
export type StaticHit = { readonly file: FoundFile } | { readonly refused: true } | null;

export class StaticMaps {
  private readonly sources: Source[] = [];

  constructor(
    private readonly settings: StaticSettings,
    private readonly log: Logger,
  ) {}

  /**
   * Add `check-static = DIR`, `static-map = MOUNT=DIR` or `static-map2 = MOUNT=DIR`.
   * @throws {ConfigError} TSGI_ERR_CONFIG_VALUE for a map without `=`.
   */
  add(kind: Source['kind'], value: string, origin: ConfigOrigin | null): void {
    if (kind === 'check-static') {
      this.sources.push({ kind, mount: '', target: value, origin, resolved: null });
      return;
    }
    const eq = value.indexOf('=');
    if (eq === -1)
      throw new ConfigError(
        'TSGI_ERR_CONFIG_VALUE',
        `expected MOUNTPOINT=DIRECTORY, got '${value}'`,
        origin,
        kind,
      );
    this.sources.push({
      kind,
      mount: value.slice(0, eq),
      target: value.slice(eq + 1),
      origin,
      resolved: null,
    });
  }

  get size(): number {
    return this.sources.length;
  }

  /** Resolve every source's directory now (provision); a missing one is retried per request. */
  async resolveAll(): Promise<void> {
    for (const s of this.sources) if (!(await this.resolve(s))) this.warnMissing(s);
  }

  /** Whether any source could apply to this request (no I/O): lets most requests skip the lookup. */
  applies(req: TsgiRequest): boolean {
    if (this.sources.length === 0 || !staticMethod(req)) return false;
    const path = req.vars.get('PATH_INFO') ?? '';
    return this.sources.some((s) => path.startsWith(s.mount));
  }

  /** Look the request's file up in every source, in order. */
  async lookup(req: TsgiRequest): Promise<StaticHit> {
    const path = req.vars.get('PATH_INFO') ?? '';
    let refused = false;
    for (const s of this.sources) {
      if (!path.startsWith(s.mount)) continue;
      const r = await this.resolve(s);
      if (!r) continue;
      const filename = r.isFile
        ? r.root
        : `${r.root}/${s.kind === 'static-map' ? path.slice(s.mount.length) : path}`;
      const found = await findFile(filename, r.root, this.settings);
      if (found === 'forbidden') {
        this.log.warn(`[uwsgi-fileserve] security error: ${filename} is not under ${r.root} or a safe path`);
        refused = true;
        continue;
      }
      if (found === 'missing' || skipped(found, this.settings)) continue;
      if (found.index) appendIndex(req, found.index);
      return { file: found };
    }
    return refused ? { refused: true } : null;
  }

  private async resolve(s: Source): Promise<Source['resolved']> {
    if (s.resolved) return s.resolved;
    try {
      const root = await realpath(s.target);
      s.resolved = { root, isFile: (await stat(root)).isFile() };
    } catch {
      return null;
    }
    return s.resolved;
  }

  private warnMissing(s: Source): void {
    this.log.warn(
      `tsgi: ${s.kind} target '${s.target}' does not exist (yet); it is looked up again per request`,
    );
  }
}

/** uWSGI's `uwsgi_req_append_path_info_with_index`: PATH_INFO names the index file served. */
function appendIndex(req: TsgiRequest, index: string): void {
  const p = req.vars.get('PATH_INFO') ?? '';
  req.vars.set('PATH_INFO', p.endsWith('/') ? p + index : `${p}/${index}`);
}
