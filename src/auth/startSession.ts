import type Koa from 'koa';
import { sessionData } from '../http/session';
import * as sessions from '../sessions/repo';

/** Only paths on this site: never `//evil.example` or a scheme, and not back to the sign-in pages. */
export function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[^\s\\]*$/.test(value) && !value.startsWith('/login') && !value.startsWith('/sso/') ? value : '/';
}

/**
 * Signs this user in on the current browser, whatever the method (password or single sign-on), and
 * returns where to go next (the page that asked for sign-in, or the start page).
 */
export async function startSession(ctx: Koa.Context, userId: number): Promise<string> {
  const returnTo = safeReturnTo(sessionData(ctx).returnTo);
  // A fresh session id at sign-in defeats session fixation.
  await (ctx.session as unknown as { regenerate(): Promise<void> }).regenerate();
  const s = sessionData(ctx);
  delete s.returnTo;
  s.userId = userId;
  s.touchedAt = Date.now();
  // Expired sessions are swept here, at a moment that is rare enough to cost nothing and frequent enough
  // to keep the table to the live sessions.
  await sessions.removeExpired(ctx.services.db, Date.now());
  return returnTo;
}
