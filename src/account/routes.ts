import type Koa from 'koa';
import { get, idParam, post, SIGNED_IN } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { flash, sessionData } from '../http/session';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError } from '../http/errors';
import { P } from '../permissions/catalog';
import { MIN_PASSWORD_LENGTH } from '../auth/passwordPolicy';
import * as users from '../users/repo';
import * as tokens from '../tokens/repo';
import * as tokenService from '../tokens/service';
import * as sessions from '../sessions/repo';
import * as service from './service';

interface AccountView {
  values?: Record<string, unknown>;
  errors?: Record<string, string>;
  passwordErrors?: Record<string, string>;
  tokenErrors?: Record<string, string>;
  tokenValues?: Record<string, unknown>;
  newToken?: { token: string; name: string };
  status?: number;
}

async function render(ctx: Koa.Context, v: AccountView = {}) {
  const { db } = ctx.services;
  const me = ctx.state.user!;
  const user = (await users.findById(db, me.id))!;
  const canUseApi = me.permissions.has(P.apiAccess);
  page(
    ctx,
    'account/index',
    {
      title: 'My account',
      account: user,
      values: v.values ?? { firstName: user.firstName, lastName: user.lastName, email: user.email },
      errors: v.errors ?? {},
      passwordErrors: v.passwordErrors ?? {},
      tokenErrors: v.tokenErrors ?? {},
      tokenValues: v.tokenValues ?? {},
      newToken: v.newToken,
      canUseApi,
      tokens: canUseApi ? await tokens.listForUser(db, me.id) : [],
      sessions: await sessions.listLiveForUser(db, me.id, Date.now()),
      currentSessionId: ctx.state.sessionId,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      now: Date.now(),
    },
    v.status ?? 200,
  );
}

async function show(ctx: Koa.Context) {
  await render(ctx);
}

async function saveProfile(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    await service.updateProfile(ctx.services.db, actorOf(ctx), ctx.state.user!.id, body);
    flash(ctx, 'success', 'Your profile is saved.');
    redirectTo(ctx, '/account');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500) throw e;
    await render(ctx, { values: body, errors: Object.keys(e.fields).length ? e.fields : { _: e.message }, status: e.status });
  }
}

async function changePassword(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    await service.changePassword(ctx.services.db, actorOf(ctx), ctx.state.user!.id, body, ctx.services.config.scryptN);
    // The password change ended every session; start a fresh one for this browser.
    await (ctx.session as unknown as { regenerate(): Promise<void> }).regenerate();
    sessionData(ctx).userId = ctx.state.user!.id;
    flash(ctx, 'success', 'Your password is changed. Your other sessions have been signed out.');
    redirectTo(ctx, '/account');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await render(ctx, { passwordErrors: e.fields, status: e.status });
  }
}

function requireApiAccess(ctx: Koa.Context) {
  if (!ctx.state.user!.permissions.has(P.apiAccess)) throw new HttpError(403, 'forbidden', 'Your role does not include "Access API", so you cannot hold API tokens.');
}

async function createToken(ctx: Koa.Context) {
  requireApiAccess(ctx);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    const created = await tokenService.createToken(ctx.services.db, actorOf(ctx), ctx.state.user!.id, body);
    // Shown once, on this response only; never stored in the session or the database.
    await render(ctx, { newToken: created, status: 201 });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await render(ctx, { tokenErrors: e.fields, tokenValues: body, status: e.status });
  }
}

async function revokeToken(ctx: Koa.Context) {
  requireApiAccess(ctx);
  await tokenService.revokeToken(ctx.services.db, actorOf(ctx), ctx.state.user!.id, idParam(ctx));
  flash(ctx, 'success', 'The token is revoked.');
  redirectTo(ctx, '/account');
}

async function endOtherSessions(ctx: Koa.Context) {
  const n = await service.endOtherSessions(ctx.services.db, actorOf(ctx), ctx.state.user!.id, ctx.state.sessionId);
  flash(ctx, 'success', n ? `Signed out ${n} other session${n === 1 ? '' : 's'}.` : 'You had no other sessions.');
  redirectTo(ctx, '/account');
}

export const routes = [
  get('/account', SIGNED_IN, show),
  post('/account/profile', SIGNED_IN, saveProfile),
  post('/account/password', SIGNED_IN, changePassword),
  post('/account/tokens', SIGNED_IN, createToken),
  post('/account/tokens/:id/revoke', SIGNED_IN, revokeToken),
  post('/account/sessions/end-others', SIGNED_IN, endOtherSessions),
];
