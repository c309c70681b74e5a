/**
 * Re-authentication before sensitive changes (ASVS 7.5.1): changing one's password or email, adding or
 * removing a second factor, creating an API token, changing role permissions or license seats. When the
 * session's last proof of identity (the sign-in, or a confirmation) is older than GATEHOUSE_REAUTH_MINUTES,
 * the request is not carried out: the browser is sent to /reauth, which asks for the password or a second
 * factor and then brings the person back to the page they came from to submit again.
 */
import type Koa from 'koa';
import { flash, sessionData } from '../http/session';
import { redirectTo } from '../http/render';
import { safeReturnTo } from './startSession';

export function recentlyAuthenticated(ctx: Koa.Context, now = Date.now()): boolean {
  const authAt = sessionData(ctx)?.authAt;
  return typeof authAt === 'number' && now - authAt <= ctx.services.config.reauthMs;
}

/** The page to come back to: the page the form was on (same site), or `fallback`. */
function pageOfForm(ctx: Koa.Context, fallback: string): string {
  const referer = ctx.get('referer');
  if (!referer) return fallback;
  try {
    const u = new URL(referer);
    if (u.host !== ctx.host) return fallback;
    return safeReturnTo(u.pathname + u.search) === '/' && u.pathname !== '/' ? fallback : u.pathname + u.search;
  } catch {
    return fallback;
  }
}

/**
 * Call first in a handler of a sensitive change. Returns true when the last proof is recent enough; else
 * answers with the way to /reauth and returns false (the handler then stops). API requests carry a token,
 * not a session, and are not asked.
 */
export function requireRecentAuth(ctx: Koa.Context, fallback = '/account'): boolean {
  if (ctx.state.isApi || !ctx.state.user) return true;
  if (recentlyAuthenticated(ctx)) return true;
  const next = pageOfForm(ctx, fallback);
  flash(ctx, 'info', 'For your security, confirm it’s you before making this change.');
  redirectTo(ctx, `/reauth?next=${encodeURIComponent(next)}`);
  return false;
}

/** Records a fresh proof of identity in this session. */
export function markAuthenticated(ctx: Koa.Context, now = Date.now()): void {
  sessionData(ctx).authAt = now;
}
