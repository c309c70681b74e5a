import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import session from 'koa-session';
import type { Config } from '../config';
import type { Db } from '../db/connect';
import * as sessions from '../sessions/repo';
import { sessionCacheFor } from '../sessions/cache';
import { end as endSession } from '../sessions/service';
import type { FlashMessage } from './types';

export const SESSION_COOKIE = 'gh_sid';
/** The version of its session the browser last saw (see databaseStore). */
export const VERSION_COOKIE = 'gh_sv';
/** Where an anonymous visitor wanted to go before signing in (signed, short-lived): no session row for that. */
const RETURN_COOKIE = 'gh_return';
const RETURN_TTL_MS = 30 * 60_000;

/** Flash messages kept at most: a session row never grows with messages nobody read. */
export const MAX_FLASH_MESSAGES = 5;
const MAX_FLASH_LENGTH = 500;

/** What we keep in a session. The cookie itself carries only the session id. */
export interface SessionData {
  userId?: number;
  csrf?: string;
  flash?: FlashMessage[];
  /** Epoch ms of the sign-in. */
  startedAt?: number;
  /** Epoch ms of the last proof of identity (sign-in or re-authentication). */
  authAt?: number;
  /** The session ends at this time whatever the activity (absolute lifetime; short for a half-done sign-in). */
  hardExpiry?: number;
  [key: string]: unknown;
}

/** What this request read of its session: the version a save may overwrite, and whether it was a copy. */
interface SessionRead {
  id: string;
  version: number;
  fromCopy: boolean;
}

/**
 * koa-session store backed by the `sessions` table: sessions survive restarts, are shared by every server
 * on the database, list "who is logged in", and can be ended by an administrator. Only signed-in users
 * (and sign-ins half done: waiting for a second factor, an SSO round trip) have a row; anonymous visitors
 * keep what they need in signed cookies.
 *
 * A page view (GET/HEAD) of a signed-in session is answered from this server's copy of the row when the
 * browser's gh_sv cookie names the copy's version (src/sessions/cache.ts says when a copy may be used).
 * Every save bumps the row's version and tells the browser; a save based on a copy writes only over the
 * version it read, and no save re-creates a session that was ended meanwhile.
 */
export function databaseStore(db: Db, idleMs: number, absoluteMs: number) {
  const copies = sessionCacheFor(db);
  /** The stored data, or undefined when the session ended by its hard expiry or absolute lifetime. */
  const live = (json: string, createdAt: number, now: number): SessionData | undefined => {
    const data = JSON.parse(json) as SessionData;
    if (typeof data.hardExpiry === 'number' && data.hardExpiry <= now) return undefined;
    // Sessions signed in before the absolute lifetime existed end by their start time.
    if (typeof data.userId === 'number' && createdAt + absoluteMs <= now) return undefined;
    return data;
  };
  return {
    async get(key: string, _maxAge: number, opts: { ctx?: Koa.Context }) {
      const now = Date.now();
      const ctx = opts.ctx;
      if (ctx && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
        const copy = copies.find(key, Number(ctx.cookies.get(VERSION_COOKIE)), now);
        const data = copy && live(copy.data, copy.createdAt, now);
        if (copy && data) {
          ctx.state.sessionId = key;
          ctx.state.sessionRead = { id: key, version: copy.version, fromCopy: true } satisfies SessionRead;
          return data as Record<string, unknown>;
        }
      }
      const mark = copies.mark();
      const row = await sessions.findLive(db, key, now);
      if (!row) return undefined;
      let data: SessionData | undefined;
      try {
        data = live(row.data, Number(row.created_at), now);
      } catch {
        return undefined;
      }
      if (!data) return undefined;
      const version = Number(row.version);
      if (row.user_id !== null) {
        copies.keep({ id: key, userId: Number(row.user_id), data: row.data, createdAt: Number(row.created_at), expiresAt: Number(row.expires_at), version, copiedAt: now }, mark);
      }
      if (ctx) {
        ctx.state.sessionId = key;
        ctx.state.sessionRead = { id: key, version, fromCopy: false } satisfies SessionRead;
        if (ctx.cookies.get(VERSION_COOKIE) !== String(version)) ctx.cookies.set(VERSION_COOKIE, String(version), versionCookie(ctx));
      }
      return data as Record<string, unknown>;
    },
    async set(key: string, sess: Record<string, unknown>, _maxAge: number, opts: { ctx?: Koa.Context }) {
      const now = Date.now();
      const ctx = opts.ctx!;
      ctx.state.sessionId = key;
      const userId = typeof sess.userId === 'number' ? sess.userId : null;
      const hard = typeof sess.hardExpiry === 'number' ? sess.hardExpiry : Infinity;
      const createdAt = typeof sess.startedAt === 'number' ? sess.startedAt : now;
      const row = {
        id: key,
        user_id: userId,
        data: JSON.stringify(sess),
        ip: ctx.ip.slice(0, 64),
        user_agent: String(ctx.get('user-agent') || '').slice(0, 255),
        last_seen_at: now,
        expires_at: Math.min(now + idleMs, hard),
      };
      const read = ctx.state.sessionRead as SessionRead | undefined;
      const mark = copies.mark();
      let version: number;
      if (read?.id !== key) {
        // A new session (signing in, or a sign-in step starting one).
        await sessions.insert(db, { ...row, created_at: createdAt, version: 1 });
        version = 1;
      } else if (await sessions.updateVersion(db, row, read.version)) {
        version = read.version + 1;
      } else if (read.fromCopy || !(await sessions.updateAnyVersion(db, row))) {
        // Saved elsewhere since this page's copy was made (what the copy would write is stale: dropped), or
        // ended meanwhile (an ended session stays ended).
        copies.drop(key);
        return;
      } else {
        // Saved over a version another request wrote meanwhile (which number it is now is not known): the
        // next page reads the row.
        copies.drop(key);
        ctx.cookies.set(VERSION_COOKIE, '', { ...versionCookie(ctx), maxAge: 0 });
        return;
      }
      if (userId !== null) copies.keep({ id: key, userId, data: row.data, createdAt, expiresAt: row.expires_at, version, copiedAt: now }, mark);
      ctx.state.sessionRead = { id: key, version, fromCopy: false } satisfies SessionRead;
      ctx.cookies.set(VERSION_COOKIE, String(version), versionCookie(ctx));
    },
    async destroy(key: string) {
      copies.drop(key);
      await endSession(db, key);
    },
  };
}

/**
 * The session version cookie: which save of its session the browser last saw. Not secret and not signed —
 * a wrong number only makes the server read the row.
 */
function versionCookie(ctx: Koa.Context) {
  return { httpOnly: true, sameSite: 'lax' as const, signed: false, secure: ctx.services.config.cookieSecure || ctx.secure, overwrite: true };
}

export function sessionMiddleware(app: Koa, db: Db, config: Config): Koa.Middleware {
  const koaSession = session(
    {
      key: SESSION_COOKIE,
      maxAge: config.sessionMaxAgeMs,
      httpOnly: true,
      sameSite: 'lax',
      signed: true,
      secure: config.cookieSecure,
      renew: true,
      rolling: false,
      autoCommit: true,
      genid: () => randomBytes(24).toString('base64url'),
      store: databaseStore(db, config.sessionMaxAgeMs, config.sessionAbsoluteMs),
    },
    app,
  );
  return async (ctx, next) => {
    // Secure cookies whenever the browser reached us over HTTPS (directly, or through a trusted TLS proxy).
    ctx.sessionOptions.secure = config.cookieSecure || ctx.secure;
    await koaSession(ctx, next);
  };
}

/** Options for the small signed cookies anonymous visitors carry instead of a session row. */
export function anonymousCookie(ctx: Koa.Context, maxAge?: number) {
  return { httpOnly: true, sameSite: 'lax' as const, signed: true, secure: ctx.services.config.cookieSecure || ctx.secure, overwrite: true, ...(maxAge ? { maxAge } : {}) };
}

export function flash(ctx: Koa.Context, type: FlashMessage['type'], text: string): void {
  const s = ctx.session as unknown as SessionData | null;
  if (!s || typeof s.userId !== 'number') return;
  const message = { type, text: text.length > MAX_FLASH_LENGTH ? `${text.slice(0, MAX_FLASH_LENGTH - 1)}…` : text };
  s.flash = [...(s.flash ?? []), message].slice(-MAX_FLASH_MESSAGES);
}

export function takeFlash(ctx: Koa.Context): FlashMessage[] {
  const s = ctx.session as unknown as SessionData | null;
  if (!s?.flash?.length) return [];
  const messages = s.flash;
  s.flash = [];
  return messages;
}

export function sessionData(ctx: Koa.Context): SessionData {
  return ctx.session as unknown as SessionData;
}

/** True when this request belongs to a stored session (signed in, or a sign-in under way). */
export function hasStoredSession(ctx: Koa.Context): boolean {
  return typeof ctx.state.sessionId === 'string';
}

/** Remembers, for an anonymous visitor, the page to return to after signing in. */
export function rememberReturnTo(ctx: Koa.Context, url: string): void {
  if (url.length > 2000) return;
  ctx.cookies.set(RETURN_COOKIE, url, anonymousCookie(ctx, RETURN_TTL_MS));
}

/** The remembered page (once). */
export function takeReturnTo(ctx: Koa.Context): string | undefined {
  const url = ctx.cookies.get(RETURN_COOKIE, { signed: true });
  if (url !== undefined) ctx.cookies.set(RETURN_COOKIE, '', { ...anonymousCookie(ctx), maxAge: 0 });
  return url;
}

/**
 * Starts a fresh session for this browser (a new id defeats session fixation), dropping whatever the old
 * one held — its CSRF token included, so a token seen before signing in is worthless after.
 */
export async function freshSession(ctx: Koa.Context, data: SessionData): Promise<void> {
  const s = sessionData(ctx);
  for (const key of Object.keys(s)) if (!key.startsWith('_') && key !== 'isNew') delete s[key];
  await (ctx.session as unknown as { regenerate(): Promise<void> }).regenerate();
  Object.assign(sessionData(ctx), { ...data, csrf: randomBytes(24).toString('base64url') });
}
