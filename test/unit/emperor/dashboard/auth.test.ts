import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { Auth, newToken, parseCookies, SESSION_COOKIE } from '../../../../emperor/dashboard/auth.js';

/** Just enough of a request for Auth: headers and a peer address. */
const req = (headers: Record<string, string>) =>
  ({ headers, socket: { remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;

test('parseCookies keeps the first of duplicate names and ignores junk', () => {
  const c = parseCookies('a=1; b = 2 ;junk; a=3; =x');
  assert.equal(c.get('a'), '1');
  assert.equal(c.get('b'), '2');
  assert.equal(c.size, 2);
});

test('bearer and cookie principals; CSRF only for cookies; logout ends a session', () => {
  const token = newToken();
  assert.equal(token.length, 43);
  const auth = new Auth(token);
  assert.equal(auth.principal(req({})), null);
  assert.equal(auth.principal(req({ authorization: 'Bearer nope' })), null);
  assert.equal(auth.principal(req({ authorization: `Basic ${token}` })), null);
  const bearer = auth.principal(req({ authorization: `Bearer ${token}` }))!;
  assert.equal(bearer.via, 'bearer');
  assert.ok(auth.csrfOk(bearer, req({})));

  assert.equal(auth.login('wrong', 'eve', req({})), null);
  const s = auth.login(token, 'alice<script>', req({}))!;
  assert.match(s.who, /^alicescript \(session/);
  const cookie = Auth.cookie(s);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const p = auth.principal(req({ cookie: `${SESSION_COOKIE}=${s.id}` }))!;
  assert.equal(p.via, 'cookie');
  assert.equal(auth.csrfOk(p, req({})), false);
  assert.equal(auth.csrfOk(p, req({ 'x-csrf-token': 'guess' })), false);
  assert.ok(auth.csrfOk(p, req({ 'x-csrf-token': s.csrf })));
  // a wrong bearer header is not rescued by a good cookie
  assert.equal(auth.principal(req({ cookie: `${SESSION_COOKIE}=${s.id}`, authorization: 'Bearer x' })), null);
  auth.logout(s);
  assert.equal(auth.principal(req({ cookie: `${SESSION_COOKIE}=${s.id}` })), null);
});
