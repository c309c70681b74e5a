/**
 * Secrets shown once after a redirect (a new API token, new recovery codes): the POST stores them and
 * redirects, the GET shows them and forgets them, so reloading the page makes nothing new and shows nothing
 * again. Between the two requests the secret is encrypted (AES-256-GCM) in the session row with a key that
 * only the browser holds, in a short-lived cookie: neither the database nor the cookie alone reveals it.
 */
import { randomBytes } from 'node:crypto';
import { seal, unseal } from '../crypto/seal';
import type Koa from 'koa';
import { anonymousCookie, sessionData } from '../http/session';

const KEY_COOKIE = 'gh_reveal';
const TTL_MS = 5 * 60_000;

interface Sealed {
  kind: string;
  sealed: string;
  at: number;
}

/** `path`: the pages that may read the key cookie (the page that shows the secret is below it). */
export function stash(ctx: Koa.Context, kind: string, payload: unknown, path = '/account'): void {
  const key = randomBytes(32);
  const stashed: Sealed = { kind, sealed: seal(key, JSON.stringify(payload)), at: Date.now() };
  sessionData(ctx).reveal = stashed;
  ctx.cookies.set(KEY_COOKIE, key.toString('base64url'), { ...anonymousCookie(ctx, TTL_MS), path });
}

/** The stashed payload of this kind, once; null when there is none (a reload, another browser, too late). */
export function take<T>(ctx: Koa.Context, kind: string, path = '/account'): T | null {
  const s = sessionData(ctx);
  const sealed = s.reveal as Sealed | undefined;
  const key = ctx.cookies.get(KEY_COOKIE, { signed: true });
  if (!sealed || sealed.kind !== kind) return null;
  delete s.reveal;
  ctx.cookies.set(KEY_COOKIE, '', { ...anonymousCookie(ctx), path, maxAge: 0 });
  if (!key || Date.now() - sealed.at > TTL_MS) return null;
  try {
    return JSON.parse(unseal(Buffer.from(key, 'base64url'), sealed.sealed)) as T;
  } catch {
    return null;
  }
}
