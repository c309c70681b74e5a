import type Koa from 'koa';
import { decisionState } from '../changes/follower';
import { HttpError } from '../http/errors';
import { P } from '../permissions/catalog';
import * as tokens from '../tokens/repo';
import { hashToken } from '../tokens/service';
import { RateLimiter } from './rateLimit';

/** Writes of last-used time are spaced out so a busy token does not write on every call. */
const TOUCH_INTERVAL_MS = 60_000;

/** RFC 6750: a token that was sent and refused. */
const INVALID_TOKEN = { 'WWW-Authenticate': 'Bearer realm="Gatehouse API", error="invalid_token"' };

/**
 * Authenticates /api/v1 requests by personal token (Authorization: Bearer …). A token acts as its owner
 * with the owner's current permissions; the API as a whole needs `api.access`. Token, account and role come
 * from the decision state in memory (src/access/state.ts), which the change log keeps current on every
 * server: a revoked token or a deactivated owner is refused as soon as the follower applied the change.
 */
export function apiAuthentication(): Koa.Middleware {
  let limiter: RateLimiter | undefined;
  const touched = new Map<number, number>();
  return async (ctx, next) => {
    const { db, config } = ctx.services;
    limiter ??= new RateLimiter(config.apiRateLimitPerMinute, 60_000);
    const header = ctx.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match) {
      const now = Date.now();
      const state = await decisionState(db);
      const token = state.activeToken(hashToken(match[1]), now);
      // A token whose owner was deleted went with it (ON DELETE CASCADE).
      if (!token || !state.account(token.userId)) throw new HttpError(401, 'invalid_token', 'The API token is unknown, revoked or expired.', {}, undefined, INVALID_TOKEN);
      const user = state.currentUser(token.userId, now);
      if (!user) throw new HttpError(401, 'account_disabled', 'The account behind this token cannot sign in (deactivated, locked, or without role or license).', {}, undefined, INVALID_TOKEN);
      if (!user.permissions.has(P.apiAccess)) throw new HttpError(403, 'forbidden', 'Your role does not include "Access API".');
      const wait = limiter.take(String(token.id), now);
      if (wait > 0) {
        ctx.set('Retry-After', String(Math.ceil(wait / 1000)));
        throw new HttpError(429, 'rate_limited', `Too many requests for this token. Retry after ${Math.ceil(wait / 1000)} s.`);
      }
      ctx.state.user = user;
      ctx.state.apiTokenId = token.id;
      if (now - (touched.get(token.id) ?? 0) > TOUCH_INTERVAL_MS) {
        touched.set(token.id, now);
        await tokens.touch(db, token.id, now);
      }
    }
    await next();
  };
}
