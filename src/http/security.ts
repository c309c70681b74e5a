import type Koa from 'koa';
import type { Config } from '../config';

/** Strict CSP: no inline script or style anywhere; htmx and app.js are served from our own origin. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "object-src 'none'",
].join('; ');

/**
 * What a JSON API response needs (OWASP REST Security): never cached (decisions and account data change),
 * never sniffed, rendered or framed as a document. The console's page headers (CSP for scripts and styles,
 * permissions policy…) say nothing to an API client and would cost every decision their bytes.
 */
export const API_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Cache-Control', 'no-store'],
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-Frame-Options', 'DENY'],
];
export const HSTS = 'max-age=31536000; includeSubDomains';

/** Sets the API response headers (see API_HEADERS), and HSTS when the caller reached us over HTTPS. */
export function setApiSecurityHeaders(ctx: Koa.Context, config: Config): void {
  for (const [name, value] of API_HEADERS) ctx.set(name, value);
  // HSTS whenever the caller reached us over HTTPS (directly, or through a trusted TLS proxy).
  if (config.cookieSecure || ctx.secure) ctx.set('Strict-Transport-Security', HSTS);
}

/** Security headers on every response: the console's page set, or the API set under one of `apiPrefixes`. */
export function securityHeaders(config: Config, apiPrefixes: readonly string[] = []): Koa.Middleware {
  const isApi = (path: string) => apiPrefixes.some((prefix) => path === prefix || path.startsWith(`${prefix}/`));
  return async (ctx, next) => {
    if (isApi(ctx.path)) {
      setApiSecurityHeaders(ctx, config);
      return next();
    }
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
    ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
    ctx.set('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    if (config.cookieSecure || ctx.secure) ctx.set('Strict-Transport-Security', HSTS);
    await next();
  };
}
