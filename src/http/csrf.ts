import { randomBytes, timingSafeEqual } from 'node:crypto';
import type Koa from 'koa';
import { HttpError } from './errors';
import { sessionData } from './session';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_FIELD = '_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** The session's CSRF token, created on first use. */
export function csrfToken(ctx: Koa.Context): string {
  const s = sessionData(ctx);
  s.csrf ??= randomBytes(24).toString('base64url');
  return s.csrf;
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
