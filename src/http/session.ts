import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import session from 'koa-session';
import type { Config } from '../config';
import type { Db } from '../db/connect';
import * as sessions from '../sessions/repo';
import type { FlashMessage } from './types';

export const SESSION_COOKIE = 'gh_sid';

/** What we keep in a session. The cookie itself carries only the session id. */
export interface SessionData {
  userId?: number;
  csrf?: string;
  flash?: FlashMessage[];
  /** Where to return after signing in. */
  returnTo?: string;
  [key: string]: unknown;
}

/**
 * koa-session store backed by the `sessions` table: sessions survive restarts, are shared by every server
 * on the database, list "who is logged in", and can be ended by an administrator.
 */
function databaseStore(db: Db, maxAgeMs: number) {
  return {
    async get(key: string, _maxAge: number, opts: { ctx?: Koa.Context }) {
      if (opts.ctx) opts.ctx.state.sessionId = key;
      const row = await sessions.findLive(db, key, Date.now());
      if (!row) return undefined;
      try {
        return JSON.parse(row.data) as Record<string, unknown>;
      } catch {
        return undefined;
      }
    },
    async set(key: string, sess: Record<string, unknown>, _maxAge: number, opts: { ctx?: Koa.Context }) {
      const now = Date.now();
      const ctx = opts.ctx!;
      ctx.state.sessionId = key;
      const userId = typeof sess.userId === 'number' ? sess.userId : null;
      await sessions.upsert(db, {
        id: key,
        user_id: userId,
        data: JSON.stringify(sess),
        ip: ctx.ip.slice(0, 64),
        user_agent: String(ctx.get('user-agent') || '').slice(0, 255),
        created_at: now,
        last_seen_at: now,
        expires_at: now + maxAgeMs,
      });
    },
    async destroy(key: string) {
      await sessions.remove(db, key);
    },
  };
}

export function sessionMiddleware(app: Koa, db: Db, config: Config): Koa.Middleware {
  return session(
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
      store: databaseStore(db, config.sessionMaxAgeMs),
    },
    app,
  );
}

export function flash(ctx: Koa.Context, type: FlashMessage['type'], text: string): void {
  const s = ctx.session as unknown as SessionData | null;
  if (!s) return;
  s.flash = [...(s.flash ?? []), { type, text }];
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
