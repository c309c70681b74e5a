import type Koa from 'koa';
import { get, post, PUBLIC, SIGNED_IN } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import * as audit from '../audit/service';
import { signIn, SignInError } from './service';
import { startSession } from './startSession';

/** The sign-in page; offers single sign-on beside the password form when it is configured. */
function signInPage(ctx: Koa.Context, data: Record<string, unknown>, status = 200) {
  page(ctx, 'auth/login', { title: 'Sign in', ssoProvider: ctx.services.config.sso?.providerName, ...data }, status);
}

async function showSignIn(ctx: Koa.Context) {
  if (ctx.state.user) return redirectTo(ctx, '/');
  signInPage(ctx, { username: '' });
}

async function submitSignIn(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const username = typeof body.username === 'string' ? body.username.slice(0, 254) : '';
  const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
  if (!username.trim() || !password) {
    return signInPage(
      ctx,
      { username, errors: { ...(username.trim() ? {} : { username: 'Enter your username.' }), ...(password ? {} : { password: 'Enter your password.' }) } },
      422,
    );
  }
  const { db, config } = ctx.services;
  try {
    const user = await signIn(db, config, username, password, ctx.ip);
    redirectTo(ctx, await startSession(ctx, user.id));
  } catch (e) {
    if (!(e instanceof SignInError)) throw e;
    signInPage(ctx, { username, failure: e.message }, 401);
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

