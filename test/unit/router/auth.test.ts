import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bcrypt, parseBcrypt, piWords } from '../../../router/auth/bcrypt.js';
import { desCrypt } from '../../../router/auth/des-crypt.js';
import { parseHtpasswd } from '../../../router/auth/htpasswd.js';
import { md5Crypt } from '../../../router/auth/md5-crypt.js';
import { PasswordVerifier } from '../../../router/auth/verify.js';

// Vectors from glibc's crypt(3) (perl -e 'print crypt(...)') and `openssl passwd -apr1`.
const pw = (s: string) => Buffer.from(s, 'latin1');

test('DES crypt (glibc vectors); only 8 characters count', () => {
  assert.equal(desCrypt(pw('secret'), 'ab'), 'abNANd1rDfiNc');
  assert.equal(desCrypt(pw('password12345'), 'xy'), desCrypt(pw('password'), 'xy'));
  assert.notEqual(desCrypt(pw('secret'), 'ab'), desCrypt(pw('secreT'), 'ab'));
});

test('MD5 crypt: $1$ and $apr1$', () => {
  assert.equal(md5Crypt(pw('secret'), '$1$', 'saltsalt'), '$1$saltsalt$9xy1btjgzLYfb7hivXtC//');
  assert.equal(md5Crypt(pw('secret'), '$apr1$', 'abcd'), '$apr1$abcd$wdPjgnTArUvGHPa0JgcKo.');
  assert.equal(md5Crypt(pw('pass3'), '$apr1$', 'xyzw$J4z2'), '$apr1$xyzw$J4z2K6G1Uxdeu3uD8JANA1');
});

test('bcrypt: Blowfish state from pi, $2y$ vectors', () => {
  const w = piWords(18 + 1024);
  assert.equal(w[0], 0x243f6a88);
  assert.equal(w[17], 0x8979fb1b);
  assert.equal(w[18], 0xd1310ba6);
  assert.equal(w[1041], 0x3ac372e6);
  assert.equal(
    bcrypt(pw('secret'), '$2y$05$abcdefghijklmnopqrstuu'),
    '$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a',
  );
  assert.equal(parseBcrypt('$2y$03$abcdefghijklmnopqrstuu'), null);
  assert.equal(parseBcrypt('$3y$05$abcdefghijklmnopqrstuu'), null);
});

test('password verifier: every htpasswd format, bcrypt on a worker thread', async () => {
  const v = new PasswordVerifier();
  try {
    assert.equal(v.check(pw('secret'), 'abNANd1rDfiNc'), true);
    assert.equal(v.check(pw('hunter2'), '{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0='), true);
    assert.equal(v.check(pw('hunter3'), '{SHA}87u9ZqY9S/F0eUBXjsPQEDUw4h0='), false);
    assert.equal(v.check(pw('pass3'), '$apr1$xyzw$J4z2K6G1Uxdeu3uD8JANA1'), true);
    assert.equal(v.check(pw('pass4'), '$1$abcdefgh$y/VgR2Dt4cCpVcP2PgWJ90'), true);
    const hash = '$2y$05$abcdefghijklmnopqrstuuWKsaARrNe6WTXzLF9PRrI/RueumQd6S';
    assert.equal(await v.check(pw('pass5'), hash), true);
    assert.equal(await v.check(pw('wrong'), hash), false);
    assert.equal(v.check(pw('pass5'), hash), true, 'a repeated check is answered from the cache');
    assert.equal(v.check(pw('x'), 'plaintext'), false);
  } finally {
    v.close();
  }
});

test('htpasswd lines: comments, blanks and malformed lines skipped', () => {
  assert.deepEqual(parseHtpasswd('# c\n\nalice:abc\r\nbad line\n:nouser\nbob:{SHA}x \n'), [
    ['alice', 'abc'],
    ['bob', '{SHA}x'],
  ]);
});
