/**
 * Secrets shown once after a redirect (a new API token, new recovery codes): the POST stores them and
 * redirects, the GET shows them and forgets them, so reloading the page makes nothing new and shows nothing
 * again. Between the two requests the secret is encrypted (AES-256-GCM) in the session row with a key that
 * only the browser holds, in a short-lived cookie: neither the database nor the cookie alone reveals it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type Koa from 'koa';
import { anonymousCookie, sessionData } from '../http/session';

const KEY_COOKIE = 'gh_reveal';
const TTL_MS = 5 * 60_000;

interface Sealed {
  kind: string;
  iv: string;
  data: string;
  tag: string;
  at: number;
}

/** `path`: the pages that may read the key cookie (the page that shows the secret is below it). */
export function stash(ctx: Koa.Context, kind: string, payload: unknown, path = '/account'): void {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
  const sealed: Sealed = { kind, iv: iv.toString('base64url'), data: data.toString('base64url'), tag: cipher.getAuthTag().toString('base64url'), at: Date.now() };
  sessionData(ctx).reveal = sealed;
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
    const decipher = createDecipheriv('aes-256-gcm', Buffer.from(key, 'base64url'), Buffer.from(sealed.iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64url'));
    const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64url')), decipher.final()]);
    return JSON.parse(plain.toString('utf8')) as T;
  } catch {
    return null;
  }
}
