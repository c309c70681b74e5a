import type Koa from 'koa';
import { decisionState } from '../changes/follower';
import { loadCurrentUser } from '../auth/service';
import * as users from '../users/repo';
import type { Actor } from './types';
import { sessionData } from './session';

/** Activity is written at most this often per session, so page views do not each cost a write. */
const TOUCH_INTERVAL_MS = 60_000;

/**
 * Puts the signed-in user (with their permission set) on ctx.state.user, from this server's decision state
 * (src/access/state.ts: accounts and roles held in memory, following the change log) instead of a query per
 * request. Every write to an account or a role records its change, and the state answers a request only
 * once it includes the writes this server committed; another server's writes reach it within the
 * follower's poll interval, as they reach its decisions and API tokens (a refusal is confirmed by a query).
 * A session whose user may no longer sign in (deactivated, locked, removed) is ended here. Signed-in pages are
 * never stored by the browser (`Cache-Control: no-store`), so Back after signing out shows nothing.
 */
export function loadUserFromSession(): Koa.Middleware {
  return async (ctx, next) => {
    const s = sessionData(ctx);
    if (typeof s.userId === 'number') {
      const { db } = ctx.services;
      // The state's yes is enough; its no is checked against the row before the session ends, since this
      // server may not have applied a change another server made a moment ago (an account or role made or
      // restored there, then the browser's next request landing here).
      const user = (await decisionState(db)).currentUser(s.userId, Date.now()) ?? (await loadCurrentUser(db, s.userId));
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
