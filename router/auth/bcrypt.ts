/**
 * bcrypt (`$2a$`, `$2b$`, `$2y$`: what `htpasswd -B` writes), Provos and Mazières' EksBlowfish over
 * OpenBSD's format: `$2y$NN$` + 22 characters of salt + 31 of hash, in bcrypt's own base64. The
 * Blowfish initial state is the hexadecimal expansion of π (Schneier's P-array and S-boxes), computed
 * once here with Machin's formula instead of being carried as a table.
 *
 * This is CPU-heavy by design (cost 10 ≈ 1M Blowfish encryptions); tsgi runs it off the master's
 * event loop (see `verify.ts`).
 */

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
/** "OrpheanBeholderScryDoubt" as six big-endian words. */
const MAGIC = Uint32Array.from([0x4f727068, 0x65616e42, 0x65686f6c, 0x64657253, 0x63727944, 0x6f756274]);

let initial: Uint32Array | null = null;

/** The first `n` 32-bit words of π's fractional part (0x243f6a88, 0x85a308d3, ...). */
export function piWords(n: number): Uint32Array {
  const guard = 64n;
  const bits = BigInt(n * 32) + guard;
  const one = 1n << bits;
  const atanInv = (x: bigint): bigint => {
    let sum = 0n;
    let term = one / x;
    const x2 = x * x;
    for (let k = 1n, sign = 1n; term !== 0n; k += 2n, sign = -sign) {
      sum += (sign * term) / k;
      term /= x2;
    }
    return sum;
  };
  const pi = 16n * atanInv(5n) - 4n * atanInv(239n);
  let frac = (pi - (3n << bits)) >> guard;
  const out = new Uint32Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(frac & 0xffffffffn);
    frac >>= 32n;
  }
  return out;
}

/** Blowfish state: P (18 words) then S0..S3 (256 words each), in one array. */
function initialState(): Uint32Array {
  initial ??= piWords(18 + 4 * 256);
  return Uint32Array.from(initial);
}

/** Blowfish's F: ((S0[a] + S1[b]) ^ S2[c]) + S3[d], mod 2^32 (S-boxes at offsets 18, 274, 530, 786). */
function f(st: Uint32Array, x: number): number {
  return (
    ((((st[18 + (x >>> 24)]! + st[274 + ((x >>> 16) & 0xff)]!) | 0) ^ st[530 + ((x >>> 8) & 0xff)]!) +
      st[786 + (x & 0xff)]!) |
    0
  );
}

/** Encrypt the 64-bit block `lr[off], lr[off+1]` in place. */
function encipher(st: Uint32Array, lr: Uint32Array, off: number): void {
  let l = lr[off]! | 0;
  let r = lr[off + 1]! | 0;
  for (let i = 0; i < 16; i += 2) {
    l ^= st[i]!;
    r ^= f(st, l) ^ st[i + 1]!;
    l ^= f(st, r);
  }
  lr[off] = r ^ st[17]!;
  lr[off + 1] = l ^ st[16]!;
}

/** The first `n` big-endian words of a byte string repeated cyclically (Blowfish's stream2word). */
function streamWords(data: Uint8Array, n: number): Uint32Array {
  const out = new Uint32Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    let w = 0;
    for (let k = 0; k < 4; k++) {
      w = (w << 8) | data[j]!;
      j = (j + 1) % data.length;
    }
    out[i] = w;
  }
  return out;
}

/** Blowfish key expansion (EksBlowfish's ExpandKey): `keyWords` are 18, `saltWords` 1042 or null. */
function expand(st: Uint32Array, saltWords: Uint32Array | null, keyWords: Uint32Array): void {
  for (let i = 0; i < 18; i++) st[i] = st[i]! ^ keyWords[i]!;
  const lr = new Uint32Array(2);
  for (let i = 0; i < 18 + 1024; i += 2) {
    if (saltWords) {
      lr[0] = lr[0]! ^ saltWords[i]!;
      lr[1] = lr[1]! ^ saltWords[i + 1]!;
    }
    encipher(st, lr, 0);
    st[i] = lr[0]!;
    st[i + 1] = lr[1]!;
  }
}

function encode(bytes: Uint8Array, chars: number): string {
  let out = '';
  let acc = 0;
  let n = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    n += 8;
    while (n >= 6) {
      n -= 6;
      out += BCRYPT_ALPHABET[(acc >> n) & 0x3f];
    }
    acc &= (1 << n) - 1;
  }
  if (n > 0) out += BCRYPT_ALPHABET[(acc << (6 - n)) & 0x3f];
  return out.slice(0, chars);
}

function decode(text: string, bytes: number): Uint8Array | null {
  const out = new Uint8Array(bytes);
  let acc = 0;
  let n = 0;
  let o = 0;
  for (const c of text) {
    const v = BCRYPT_ALPHABET.indexOf(c);
    if (v === -1) return null;
    acc = (acc << 6) | v;
    n += 6;
    if (n >= 8) {
      n -= 8;
      if (o < bytes) out[o++] = (acc >> n) & 0xff;
    }
    acc &= (1 << n) - 1;
  }
  return o === bytes ? out : null;
}

/** Parse `$2y$10$<22 salt chars>...`: the variant, cost and salt bytes; null when malformed. */
export function parseBcrypt(hash: string): { prefix: string; cost: number; salt: Uint8Array } | null {
  const m = /^\$2([abxy])\$(\d\d)\$([./A-Za-z0-9]{22})/.exec(hash);
  if (!m) return null;
  const cost = Number(m[2]);
  const salt = decode(m[3]!, 16);
  if (cost < 4 || cost > 31 || !salt) return null;
  return { prefix: `$2${m[1]}$${m[2]}$`, cost, salt };
}

/** Hash `password` with the variant, cost and salt of `setting` (a full hash or just its first 29 characters). */
export function bcrypt(password: Buffer, setting: string): string | null {
  const p = parseBcrypt(setting);
  if (!p) return null;
  const key = new Uint8Array(Math.min(password.length + 1, 72));
  key.set(password.subarray(0, key.length - 1));
  const st = initialState();
  const keyWords = streamWords(key, 18);
  const saltKeyWords = streamWords(p.salt, 18);
  expand(st, streamWords(p.salt, 18 + 1024), keyWords);
  for (let i = 2 ** p.cost; i > 0; i--) {
    expand(st, null, keyWords);
    expand(st, null, saltKeyWords);
  }
  const ctext = Uint32Array.from(MAGIC);
  for (let i = 0; i < 64; i++) for (let j = 0; j < 6; j += 2) encipher(st, ctext, j);
  const raw = new Uint8Array(24);
  ctext.forEach((w, i) => {
    raw[i * 4] = w >>> 24;
    raw[i * 4 + 1] = (w >>> 16) & 0xff;
    raw[i * 4 + 2] = (w >>> 8) & 0xff;
    raw[i * 4 + 3] = w & 0xff;
  });
  return p.prefix + encode(p.salt, 22) + encode(raw.subarray(0, 23), 31);
}
