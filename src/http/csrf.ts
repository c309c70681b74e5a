import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { HttpError } from './errors';
import { anonymousCookie, hasStoredSession, sessionData } from './session';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';
/** The anonymous visitor's token lives in a signed cookie, so showing the sign-in form writes no session row. */
const ANONYMOUS_CSRF_COOKIE = 'gh_csrf';

const newToken = () => randomBytes(24).toString('base64url');

/**
 * The CSRF token of this browser: the session's when there is a stored session (a new one is made at
 * sign-in, so the token rotates), otherwise the anonymous cookie's.
 */
export function csrfToken(ctx: Koa.Context): string {
  if (hasStoredSession(ctx)) {
    const s = sessionData(ctx);
    s.csrf ??= newToken();
    return s.csrf;
  }
  const existing = ctx.cookies.get(ANONYMOUS_CSRF_COOKIE, { signed: true });
  if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return existing;
  const token = newToken();
  ctx.cookies.set(ANONYMOUS_CSRF_COOKIE, token, anonymousCookie(ctx));
  return token;
}

/** Forgets the anonymous token (at sign-in: the signed-in session has its own). */
export function dropAnonymousCsrf(ctx: Koa.Context): void {
  if (ctx.cookies.get(ANONYMOUS_CSRF_COOKIE)) ctx.cookies.set(ANONYMOUS_CSRF_COOKIE, '', { ...anonymousCookie(ctx), maxAge: 0 });
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Synchroniser-token CSRF check for every state-changing request of the console: the token comes from
 * the hidden form field (no-JS path) or the X-CSRF-Token header that htmx sends from <body hx-headers>.
 */
export function csrfProtection(): Koa.Middleware {
  return async (ctx, next) => {
    ctx.state.csrfToken = csrfToken(ctx);
    if (!SAFE_METHODS.has(ctx.method)) {
      const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      const sent = String(ctx.get(CSRF_HEADER) || body[CSRF_FIELD] || '');
      if (!sent || !same(sent, ctx.state.csrfToken)) {
        throw new HttpError(403, 'csrf_failed', 'This form has expired or did not come from this site. Reload the page and try again.');
      }
    }
    await next();
  };
}
