import type Koa from 'koa';
import { get, post, PUBLIC, SIGNED_IN } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { sessionData } from '../http/session';
import { actorOf } from '../http/auth';
import * as audit from '../audit/service';
import { signIn, SignInError } from './service';

function safeReturnTo(value: unknown): string {
  // Only paths on this site: never `//evil.example` or a scheme.
  return typeof value === 'string' && /^\/(?!\/)[^\s\\]*$/.test(value) && !value.startsWith('/login') ? value : '/';
}

async function showSignIn(ctx: Koa.Context) {
  if (ctx.state.user) return redirectTo(ctx, '/');
  page(ctx, 'auth/login', { title: 'Sign in', username: '' });
}

async function submitSignIn(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const username = typeof body.username === 'string' ? body.username.slice(0, 254) : '';
  const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
  if (!username.trim() || !password) {
    return page(
      ctx,
      'auth/login',
      { title: 'Sign in', username, errors: { ...(username.trim() ? {} : { username: 'Enter your username.' }), ...(password ? {} : { password: 'Enter your password.' }) } },
      422,
    );
  }
  const { db, config } = ctx.services;
  try {
    const user = await signIn(db, config, username, password, ctx.ip);
    const returnTo = safeReturnTo(sessionData(ctx).returnTo);
    // A fresh session id at sign-in defeats session fixation.
    await (ctx.session as unknown as { regenerate(): Promise<void> }).regenerate();
    const s = sessionData(ctx);
    s.userId = user.id;
    s.touchedAt = Date.now();
    redirectTo(ctx, returnTo);
  } catch (e) {
    if (!(e instanceof SignInError)) throw e;
    page(ctx, 'auth/login', { title: 'Sign in', username, failure: e.message }, 401);
  }
}

async function signOut(ctx: Koa.Context) {
  if (ctx.state.user) {
    await audit.record(ctx.services.db, actorOf(ctx), {
      action: 'auth.sign_out',
      objectType: 'user',
      objectId: ctx.state.user.id,
      objectLabel: ctx.state.user.username,
    });
  }
  ctx.session = null;
  redirectTo(ctx, '/login?signed_out=1');
}

export const routes = [
  get('/login', PUBLIC, showSignIn),
  post('/login', PUBLIC, submitSignIn),
  post('/logout', SIGNED_IN, signOut),
];

