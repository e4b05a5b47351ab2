import { createHash, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { parseBcrypt } from './bcrypt.js';
import { desCrypt } from './des-crypt.js';
import { md5Crypt } from './md5-crypt.js';

/**
 * Check a password against an htpasswd hash, in every format Apache's `htpasswd` writes: `{SHA}`
 * (SHA-1, base64) and traditional DES crypt (what uWSGI's basicauth accepts), plus `$apr1$` and `$1$`
 * (MD5 crypt) and `$2y$`/`$2b$`/`$2a$` (bcrypt) as tsgi extensions. bcrypt runs on a worker thread
 * (its cost is deliberate; the master's event loop must not wait on it) and results are remembered
 * for a while (Apache's mod_authn_socache idea), so a client sending the same credentials on every
 * request pays once.
 */
export class PasswordVerifier {
  private worker: Worker | null = null;
  private seq = 0;
  private readonly pending = new Map<number, (ok: boolean) => void>();
  /** Recent bcrypt results by digest of (hash, password). Bounded. */
  private readonly cache = new Map<string, boolean>();
  private static readonly CACHE_ENTRIES = 1024;

  /** Whether `password` matches `hash`; sync formats answer at once, bcrypt through the worker. */
  check(password: Buffer, hash: string): boolean | Promise<boolean> {
    if (hash.startsWith('{SHA}')) {
      const want = `{SHA}${createHash('sha1').update(password).digest('base64')}`;
      return same(want, hash);
    }
    if (hash.startsWith('$apr1$')) return same(md5Crypt(password, '$apr1$', hash.slice(6)), hash);
    if (hash.startsWith('$1$')) return same(md5Crypt(password, '$1$', hash.slice(3)), hash);
    if (hash.startsWith('$2')) return this.checkBcrypt(password, hash);
    if (hash.length === 13 && /^[./0-9A-Za-z]{13}$/.test(hash)) return same(desCrypt(password, hash), hash);
    return false;
  }

  /** Stop the worker thread (instance cleanup). */
  close(): void {
    void this.worker?.terminate();
    this.worker = null;
    for (const cb of this.pending.values()) cb(false);
    this.pending.clear();
  }

  private checkBcrypt(password: Buffer, hash: string): boolean | Promise<boolean> {
    if (!parseBcrypt(hash)) return false;
    const key = createHash('sha256').update(hash).update('\0').update(password).digest('base64');
    const known = this.cache.get(key);
    if (known !== undefined) return known;
    return new Promise((resolve) => {
      const id = ++this.seq;
      this.pending.set(id, (ok) => {
        this.remember(key, ok);
        resolve(ok);
      });
      this.thread().postMessage({ id, password: new Uint8Array(password), hash });
    });
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      const cb = this.pending.get(m.id);
      this.pending.delete(m.id);
      cb?.(m.ok);
    });
    w.on('error', () => this.close());
    this.worker = w;
    return w;
  }

  private remember(key: string, ok: boolean): void {
    if (this.cache.size >= PasswordVerifier.CACHE_ENTRIES) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, ok);
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}
