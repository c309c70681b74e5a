import type Koa from 'koa';
import { get, idParam, post, SIGNED_IN } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { flash, freshSession, sessionData } from '../http/session';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError } from '../http/errors';
import { P } from '../permissions/catalog';
import { MIN_PASSWORD_LENGTH } from '../auth/passwordPolicy';
import * as users from '../users/repo';
import * as tokens from '../tokens/repo';
import * as tokenService from '../tokens/service';
import * as factors from '../auth/factors';
import * as passkeys from '../auth/passkeys';
import { requireRecentAuth, recentlyAuthenticated } from '../auth/reauth';
import { sessionIdByHandle, sessionsOf } from '../auth/sessionList';
import * as service from './service';
import * as secondFactor from './secondFactor';
import * as reveal from './reveal';

interface AccountView {
  values?: Record<string, unknown>;
  errors?: Record<string, string>;
  passwordErrors?: Record<string, string>;
  tokenErrors?: Record<string, string>;
  tokenValues?: Record<string, unknown>;
  status?: number;
}

const PASSKEY_SCRIPTS = ['/static/simplewebauthn-browser.js', '/static/passkeys.js'];
const body = (ctx: Koa.Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

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
      canUseApi,
      tokens: canUseApi ? await tokens.listForUser(db, me.id) : [],
      sessions: await sessionsOf(db, me.id, ctx.state.sessionId),
      factors: await factors.factorsOf(db, me.id),
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
  const b = body(ctx);
  const current = (await users.findById(ctx.services.db, ctx.state.user!.id))!;
  const emailChanges = typeof b.email === 'string' && b.email.trim().toLowerCase() !== current.email.toLowerCase();
  if (emailChanges && !requireRecentAuth(ctx)) return;
  try {
    await service.updateProfile(ctx.services.db, actorOf(ctx), ctx.state.user!.id, b);
    flash(ctx, 'success', 'Your profile is saved.');
    redirectTo(ctx, '/account');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500) throw e;
    await render(ctx, { values: b, errors: Object.keys(e.fields).length ? e.fields : { _: e.message }, status: e.status });
  }
}

async function changePassword(ctx: Koa.Context) {
  const b = body(ctx);
  try {
    // The form asks for the current password: that is the proof re-authentication wants.
    await service.changePassword(ctx.services.db, actorOf(ctx), ctx.state.user!.id, b, ctx.services.config.scryptN);
    // The password change ended every session; start a fresh one for this browser.
    const s = sessionData(ctx);
    const now = Date.now();
    await freshSession(ctx, { userId: ctx.state.user!.id, startedAt: s.startedAt ?? now, hardExpiry: s.hardExpiry, authAt: now, touchedAt: now });
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
  if (!requireRecentAuth(ctx)) return;
  const b = body(ctx);
  try {
    const created = await tokenService.createToken(ctx.services.db, actorOf(ctx), ctx.state.user!.id, b);
    // Shown once, on the page the redirect leads to: a reload there makes no second token.
    reveal.stash(ctx, 'token', { token: created.token, name: created.name });
    redirectTo(ctx, '/account/tokens/created');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await render(ctx, { tokenErrors: e.fields, tokenValues: b, status: e.status });
  }
}

async function showCreatedToken(ctx: Koa.Context) {
  requireApiAccess(ctx);
  const created = reveal.take<{ token: string; name: string }>(ctx, 'token');
  if (!created) {
    flash(ctx, 'info', 'A new token is shown only once, right after it is created.');
    return redirectTo(ctx, '/account#tokens');
  }
  page(ctx, 'account/token-created', { title: 'Token created', newToken: created });
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

async function endSession(ctx: Koa.Context) {
  const { db } = ctx.services;
  const me = ctx.state.user!;
  const handle = String((ctx as unknown as { params: { handle: string } }).params.handle).slice(0, 40);
  const id = await sessionIdByHandle(db, me.id, handle);
  if (!id) throw new HttpError(404, 'not_found', 'This session has ended already.');
  await secondFactor.endOwnSession(db, actorOf(ctx), me.id, id, handle);
  if (id === ctx.state.sessionId) {
    ctx.session = null;
    return redirectTo(ctx, '/login?signed_out=1');
  }
  flash(ctx, 'success', 'That session is signed out.');
  redirectTo(ctx, '/account');
}

// --- Two-factor authentication ------------------------------------------------------------------------------

async function twoFactorPage(ctx: Koa.Context, data: Record<string, unknown> = {}, status = 200) {
  const { db } = ctx.services;
  const me = ctx.state.user!;
  page(
    ctx,
    'account/two-factor',
    {
      title: 'Two-factor authentication',
      account: me,
      factors: await factors.factorsOf(db, me.id),
      passkeys: await passkeys.listPasskeys(db, me.id),
      required: await factors.secondFactorRequired(db, me),
      mustEnrol: !!sessionData(ctx).mustEnrol,
      recent: recentlyAuthenticated(ctx),
      scripts: PASSKEY_SCRIPTS,
      errors: {},
      ...data,
    },
    status,
  );
}

function requireLocal(ctx: Koa.Context) {
  if (ctx.state.user!.source !== 'local') throw new HttpError(403, 'forbidden', 'Your account signs in with single sign-on: your provider owns your second factor.');
}

async function showTwoFactor(ctx: Koa.Context) {
  requireLocal(ctx);
  await twoFactorPage(ctx);
}

const TOTP_SETUP_KEY = 'totpSetup';
const TOTP_SETUP_TTL_MS = 15 * 60_000;

async function startTotp(ctx: Koa.Context) {
  requireLocal(ctx);
  if (!requireRecentAuth(ctx, '/account/two-factor')) return;
  sessionData(ctx)[TOTP_SETUP_KEY] = { secret: factors.newTotpSecret(), at: Date.now() };
  redirectTo(ctx, '/account/two-factor/totp');
}

function totpSetup(ctx: Koa.Context): { secret: string; at: number } | null {
  const setup = sessionData(ctx)[TOTP_SETUP_KEY] as { secret: string; at: number } | undefined;
  return setup && Date.now() - setup.at < TOTP_SETUP_TTL_MS ? setup : null;
}

async function totpPage(ctx: Koa.Context, secret: string, errors: Record<string, string> = {}, status = 200) {
  const me = ctx.state.user!;
  const { uri, qrDataUri } = await factors.enrolmentCode(secret, me.username);
  page(ctx, 'account/totp', { title: 'Set up an authenticator app', secret, grouped: secret.match(/.{1,4}/g)!.join(' '), uri, qrDataUri, errors }, status);
}

async function showTotp(ctx: Koa.Context) {
  requireLocal(ctx);
  const setup = totpSetup(ctx);
  if (!setup) return redirectTo(ctx, '/account/two-factor');
  await totpPage(ctx, setup.secret);
}

async function confirmTotp(ctx: Koa.Context) {
  requireLocal(ctx);
  const setup = totpSetup(ctx);
  if (!setup) return redirectTo(ctx, '/account/two-factor');
  const code = typeof body(ctx).code === 'string' ? String(body(ctx).code).slice(0, 20) : '';
  try {
    const codes = await secondFactor.enrolTotp(ctx.services.db, actorOf(ctx), ctx.state.user!.id, setup.secret, code);
    delete sessionData(ctx)[TOTP_SETUP_KEY];
    delete sessionData(ctx).mustEnrol;
    flash(ctx, 'success', 'Your authenticator app is set up: sign-ins now ask for its code.');
    if (codes) {
      reveal.stash(ctx, 'recovery', codes);
      return redirectTo(ctx, '/account/two-factor/recovery-codes');
    }
    redirectTo(ctx, '/account/two-factor');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await totpPage(ctx, setup.secret, e.fields, 422);
  }
}

function refused(ctx: Koa.Context, e: unknown) {
  if (!(e instanceof HttpError) || e.status >= 500) throw e;
  flash(ctx, 'error', e.message);
  redirectTo(ctx, '/account/two-factor');
}

async function removeTotp(ctx: Koa.Context) {
  requireLocal(ctx);
  if (!requireRecentAuth(ctx, '/account/two-factor')) return;
  try {
    await secondFactor.removeTotp(ctx.services.db, actorOf(ctx), ctx.state.user!);
  } catch (e) {
    return refused(ctx, e);
  }
  flash(ctx, 'success', 'The authenticator app is removed.');
  redirectTo(ctx, '/account/two-factor');
}

async function makeRecoveryCodes(ctx: Koa.Context) {
  requireLocal(ctx);
  if (!requireRecentAuth(ctx, '/account/two-factor')) return;
  try {
    reveal.stash(ctx, 'recovery', await secondFactor.newRecoveryCodes(ctx.services.db, actorOf(ctx), ctx.state.user!.id));
  } catch (e) {
    return refused(ctx, e);
  }
  redirectTo(ctx, '/account/two-factor/recovery-codes');
}

async function showRecoveryCodes(ctx: Koa.Context) {
  requireLocal(ctx);
  const codes = reveal.take<string[]>(ctx, 'recovery');
  if (!codes) {
    flash(ctx, 'info', 'Recovery codes are shown only once, right after they are made. Make new ones if you lost them.');
    return redirectTo(ctx, '/account/two-factor');
  }
  page(ctx, 'account/recovery-codes', { title: 'Your recovery codes', codes });
}

// --- Passkeys (JavaScript: the browser's WebAuthn API) -----------------------------------------------------

const PASSKEY_SETUP_KEY = 'passkeySetup';

async function passkeyOptions(ctx: Koa.Context) {
  requireLocal(ctx);
  if (!recentlyAuthenticated(ctx)) {
    ctx.body = { reauth: `/reauth?next=${encodeURIComponent('/account/two-factor')}` };
    return;
  }
  const me = ctx.state.user!;
  const options = await passkeys.registrationOptions(ctx.services.db, ctx.services.config.baseUrl, me);
  sessionData(ctx)[PASSKEY_SETUP_KEY] = { challenge: options.challenge, at: Date.now() };
  ctx.body = options;
}

async function addPasskey(ctx: Koa.Context) {
  requireLocal(ctx);
  const s = sessionData(ctx);
  const setup = s[PASSKEY_SETUP_KEY] as { challenge: string; at: number } | undefined;
  delete s[PASSKEY_SETUP_KEY];
  const b = body(ctx);
  const name = typeof b.name === 'string' ? b.name.trim().slice(0, 100) : '';
  const fail = (status: number, message: string) => {
    ctx.status = status;
    ctx.body = { error: { code: 'passkey_failed', message } };
  };
  if (!setup || Date.now() - setup.at > passkeys.CEREMONY_TTL_MS) return fail(400, 'This setup expired. Start again.');
  if (!recentlyAuthenticated(ctx)) return fail(401, 'Confirm it’s you first.');
  let response: unknown;
  try {
    response = JSON.parse(typeof b.response === 'string' ? b.response.slice(0, 20_000) : '');
  } catch {
    return fail(400, 'The passkey answer could not be read.');
  }
  try {
    const { passkey, codes } = await secondFactor.addPasskey(ctx.services.db, actorOf(ctx), ctx.state.user!.id, ctx.services.config.baseUrl, name || 'Passkey', setup.challenge, response);
    delete s.mustEnrol;
    flash(ctx, 'success', `Passkey “${passkey.name}” added: sign-ins can now use it.`);
    if (codes) reveal.stash(ctx, 'recovery', codes);
    ctx.body = { redirect: codes ? '/account/two-factor/recovery-codes' : '/account/two-factor' };
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500) throw e;
    fail(e.status, e.fields.passkey ?? e.message);
  }
}

async function removePasskey(ctx: Koa.Context) {
  requireLocal(ctx);
  if (!requireRecentAuth(ctx, '/account/two-factor')) return;
  try {
    const name = await secondFactor.removePasskey(ctx.services.db, actorOf(ctx), ctx.state.user!, idParam(ctx));
    flash(ctx, 'success', `Passkey “${name}” removed.`);
  } catch (e) {
    return refused(ctx, e);
  }
  redirectTo(ctx, '/account/two-factor');
}

export const routes = [
  get('/account', SIGNED_IN, show),
  post('/account/profile', SIGNED_IN, saveProfile),
  post('/account/password', SIGNED_IN, changePassword),
  post('/account/tokens', SIGNED_IN, createToken),
  get('/account/tokens/created', SIGNED_IN, showCreatedToken),
  post('/account/tokens/:id/revoke', SIGNED_IN, revokeToken),
  post('/account/sessions/end-others', SIGNED_IN, endOtherSessions),
  post('/account/sessions/:handle/end', SIGNED_IN, endSession),
  get('/account/two-factor', SIGNED_IN, showTwoFactor),
  post('/account/two-factor/totp/start', SIGNED_IN, startTotp),
  get('/account/two-factor/totp', SIGNED_IN, showTotp),
  post('/account/two-factor/totp', SIGNED_IN, confirmTotp),
  post('/account/two-factor/totp/remove', SIGNED_IN, removeTotp),
  post('/account/two-factor/recovery-codes', SIGNED_IN, makeRecoveryCodes),
  get('/account/two-factor/recovery-codes', SIGNED_IN, showRecoveryCodes),
  post('/account/passkeys/options', SIGNED_IN, passkeyOptions),
  post('/account/passkeys', SIGNED_IN, addPasskey),
  post('/account/passkeys/:id/remove', SIGNED_IN, removePasskey),
];
