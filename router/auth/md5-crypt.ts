import { createHash } from 'node:crypto';

/**
 * MD5-based crypt: `$1$` (Poul-Henning Kamp's FreeBSD md5crypt, glibc's) and `$apr1$` (Apache's
 * variant, what `htpasswd -m` writes): the same algorithm with a different magic. Salt up to 8
 * characters, 1000 rounds of MD5.
 */

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function to64(v: number, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) {
    out += ITOA64[v & 0x3f];
    v >>>= 6;
  }
  return out;
}

function md5(...parts: Buffer[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * Hash `password` with `magic` (`$1$` or `$apr1$`) and `salt` (the characters after the magic up to
 * `$`, at most 8). Returns the whole `$magic$salt$hash` string.
 */
export function md5Crypt(password: Buffer, magic: '$1$' | '$apr1$', salt: string): string {
  const s = Buffer.from(salt.split('$', 1)[0]!.slice(0, 8), 'latin1');
  const m = Buffer.from(magic, 'latin1');
  const alt = md5(password, s, password);
  const ctx = createHash('md5');
  ctx.update(password).update(m).update(s);
  for (let left = password.length; left > 0; left -= 16) ctx.update(alt.subarray(0, Math.min(16, left)));
  for (let i = password.length; i > 0; i >>= 1)
    ctx.update(i & 1 ? Buffer.from([0]) : password.subarray(0, 1));
  let final: Buffer = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const parts: Buffer[] = [];
    parts.push(i & 1 ? password : final);
    if (i % 3) parts.push(s);
    if (i % 7) parts.push(password);
    parts.push(i & 1 ? final : password);
    final = md5(...parts);
  }
  const f = final;
  const hash =
    to64((f[0]! << 16) | (f[6]! << 8) | f[12]!, 4) +
    to64((f[1]! << 16) | (f[7]! << 8) | f[13]!, 4) +
    to64((f[2]! << 16) | (f[8]! << 8) | f[14]!, 4) +
    to64((f[3]! << 16) | (f[9]! << 8) | f[15]!, 4) +
    to64((f[4]! << 16) | (f[10]! << 8) | f[5]!, 4) +
    to64(f[11]!, 2);
  return `${magic}${s.toString('latin1')}$${hash}`;
}
