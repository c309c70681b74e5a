import type Koa from 'koa';
import { loadCurrentUser } from '../auth/service';
import * as users from '../users/repo';
import type { Actor } from './types';
import { sessionData } from './session';

/** Activity is written at most this often per session, so page views do not each cost a write. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Puts the signed-in user (with their permission set, computed once per request) on ctx.state.user.
 * A session whose user may no longer sign in (deactivated, removed) is ended here. Signed-in pages are
 * never stored by the browser (`Cache-Control: no-store`), so Back after signing out shows nothing.
 */
export function loadUserFromSession(): Koa.Middleware {
  return async (ctx, next) => {
    const s = sessionData(ctx);
    if (typeof s.userId === 'number') {
      const { db } = ctx.services;
      const user = await loadCurrentUser(db, s.userId);
      if (!user) {
        ctx.session = null;
      } else {
        ctx.state.user = user;
        const now = Date.now();
        const lastTouch = typeof s.touchedAt === 'number' ? s.touchedAt : 0;
        if (now - lastTouch > TOUCH_INTERVAL_MS) {
          // Changing the session makes koa-session save it, which slides its expiry and last-seen time.
          s.touchedAt = now;
          await users.recordActivity(db, user.id, now);
        }
      }
    }
    try {
      await next();
    } finally {
      if (ctx.state.user || typeof s?.userId === 'number') ctx.set('Cache-Control', 'no-store');
    }
  };
}

/**
 * Who the audit trail names for this request: the signed-in user, or a machine client as `client:<name>`
 * (with its owner's id, whose permissions it acts with and as whom the who-may-change-whom rule judges it).
 */
export function actorOf(ctx: Koa.Context): Actor {
  const u = ctx.state.user;
  const client = ctx.state.client;
  if (u && client) return { id: u.id, username: `client:${client.name}`, ip: ctx.ip, isSuperuser: u.isSuperuser };
  return { id: u?.id ?? null, username: u?.username ?? 'anonymous', ip: ctx.ip, isSuperuser: !!u?.isSuperuser };
}
