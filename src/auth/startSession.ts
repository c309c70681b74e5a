import { randomBytes } from 'node:crypto';
import type Koa from 'koa';
import { anonymousCookie, freshSession, takeReturnTo } from '../http/session';
import { dropAnonymousCsrf } from '../http/csrf';
import type { Client } from './service';

/** The known-device cookie: which account completed a sign-in in this browser (OWASP "device cookies"). */
const DEVICE_COOKIE = 'gh_device';
const DEVICE_TTL_MS = 180 * 86400_000;

/** Only paths on this site: never `//evil.example` or a scheme, and not back to the sign-in pages. */
export function safeReturnTo(value: unknown): string {
  return typeof value === 'string' && /^\/(?!\/)[^\s\\]*$/.test(value) && !value.startsWith('/login') && !value.startsWith('/sso/') && !value.startsWith('/password/')
    ? value
    : '/';
}

/** The client of a sign-in attempt: its address and, when its browser carries one, its known-device id. */
export function clientOf(ctx: Koa.Context): Client {
  const raw = ctx.cookies.get(DEVICE_COOKIE, { signed: true });
  const m = raw ? /^([1-9][0-9]{0,9})\.([A-Za-z0-9_-]{22})$/.exec(raw) : null;
  return { ip: ctx.ip, ...(m ? { device: { userId: Number(m[1]), id: m[2] } } : {}) };
}

/**
 * Signs this user in on the current browser once every factor is given, whatever the method (password,
 * second factor, single sign-on), and returns where to go next (the page that asked for sign-in, or the
 * start page).
 */
export async function startSession(ctx: Koa.Context, userId: number, extra: Record<string, unknown> = {}): Promise<string> {
  const returnTo = safeReturnTo(takeReturnTo(ctx));
  const now = Date.now();
  const { config } = ctx.services;
  await freshSession(ctx, { userId, startedAt: now, authAt: now, touchedAt: now, hardExpiry: now + config.sessionAbsoluteMs, ...extra });
  dropAnonymousCsrf(ctx);
  // This browser is now a known device of the account: its own failed guesses are counted apart from an
  // attacker's, so guessing elsewhere cannot keep the owner out.
  const known = clientOf(ctx).device;
  const id = known && known.userId === userId ? known.id : randomBytes(16).toString('base64url');
  ctx.cookies.set(DEVICE_COOKIE, `${userId}.${id}`, anonymousCookie(ctx, DEVICE_TTL_MS));
  return returnTo;
}
