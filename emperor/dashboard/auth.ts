import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The session cookie's name. */
export const SESSION_COOKIE = 'tsgi_dashboard';
/** The request header carrying the CSRF value on state-changing requests of a cookie session. */
export const CSRF_HEADER = 'x-csrf-token';
/** How long a login session lasts, ms (12 h). */
const SESSION_MS = 12 * 3600_000;
/** Most sessions kept at once; the oldest is dropped past it. */
const MAX_SESSIONS = 256;

/** A logged-in browser: who it says it is, where from, and its CSRF value. */
export interface Session {
  readonly id: string;
  readonly csrf: string;
  readonly who: string;
  readonly expiresAtMs: number;
}

/** How a request proved it holds the token, and who to log for it. */
export type Principal =
  | { readonly via: 'bearer'; readonly who: string }
  | { readonly via: 'cookie'; readonly who: string; readonly session: Session };

/** A new random token: 32 bytes, base64url (43 characters). */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compare two secrets in constant time (both hashed first, so lengths do not leak). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** Parse a Cookie header (RFC 6265 §5.4) into name → value (the first of duplicate names wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const name = part.slice(0, eq).trim();
    if (name && !out.has(name)) out.set(name, part.slice(eq + 1).trim());
  }
  return out;
}

/** The client's address for the log (`127.0.0.1`, `[::1]`). */
export function peerOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '?';
  return a.includes(':') ? `[${a}]` : a;
}

/**
 * The dashboard's access control: one token (from the option, or generated at start), proven either
 * by an `Authorization: Bearer <token>` header or by a session cookie set by the login form. Cookie
 * sessions carry a CSRF value that state-changing requests must echo in `X-CSRF-Token`; a bearer
 * header cannot be sent by another site's page, so it needs none.
 */
export class Auth {
  private readonly sessions = new Map<string, Session>();

  constructor(readonly token: string) {}

  /** Who made `req`, or null when it proves nothing. */
  principal(req: IncomingMessage): Principal | null {
    const peer = peerOf(req);
    const authz = req.headers.authorization;
    if (authz !== undefined) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authz);
      return m && sameSecret(m[1]!, this.token) ? { via: 'bearer', who: `bearer token from ${peer}` } : null;
    }
    const sid = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    const session = sid ? this.sessions.get(sid) : undefined;
    if (!session) return null;
    if (session.expiresAtMs <= Date.now()) {
      this.sessions.delete(session.id);
      return null;
    }
    return { via: 'cookie', who: session.who, session };
  }

  /**
   * Log in with `token` as `name` (free text, cut to 40 characters); returns the new session, or
   * null when the token is wrong.
   */
  login(token: string, name: string, req: IncomingMessage): Session | null {
    if (!sameSecret(token, this.token)) return null;
    const clean =
      name
        .replace(/[^\w .@-]/g, '')
        .slice(0, 40)
        .trim() || 'operator';
    const id = randomBytes(32).toString('base64url');
    const session: Session = {
      id,
      csrf: randomBytes(24).toString('base64url'),
      who: `${clean} (session ${id.slice(0, 6)} from ${peerOf(req)})`,
      expiresAtMs: Date.now() + SESSION_MS,
    };
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(id, session);
    return session;
  }

  /** End a session (logout). */
  logout(session: Session): void {
    this.sessions.delete(session.id);
  }

  /** Whether a state-changing request by `p` carries the right CSRF value (always, for a bearer). */
  csrfOk(p: Principal, req: IncomingMessage): boolean {
    if (p.via === 'bearer') return true;
    const sent = req.headers[CSRF_HEADER];
    return typeof sent === 'string' && sameSecret(sent, p.session.csrf);
  }

  /** The Set-Cookie value for `session` (HttpOnly, SameSite=Strict, the whole site), or clearing it. */
  static cookie(session: Session | null): string {
    if (!session) return `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
    return `${SESSION_COOKIE}=${session.id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${SESSION_MS / 1000}`;
  }
}
