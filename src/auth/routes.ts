import type Koa from 'koa';
import { get, post, PUBLIC, SIGNED_IN, SUPERUSER } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import { flash, freshSession, sessionData } from '../http/session';
import { HttpError } from '../http/errors';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import { transaction } from '../db/transaction';
import { verifyPassword } from './passwords';
import { claimGuess, guessSucceeded, type ThrottleKey } from './throttle';
import { canSignIn, guessKeys, loadCurrentUser, recordSignIn, SignInError, ThrottledError, verifyPasswordStep, waitText } from './service';
import { clientOf, startSession } from './startSession';
import * as factors from './factors';
import * as passkeys from './passkeys';
import { markAuthenticated } from './reauth';
import { safeReturnTo } from './startSession';
import * as resets from './passwordReset';

/** A sign-in whose password was right, waiting for the second factor (kept at most this long). */
const PENDING_TTL_MS = 10 * 60_000;

interface PendingSignIn {
  userId: number;
  subject: ThrottleKey;
  at: number;
  passkeyChallenge?: string;
}

const body = (ctx: Koa.Context) => (ctx.request.body ?? {}) as Record<string, unknown>;
const str = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : '');

function throttled(ctx: Koa.Context, e: ThrottledError) {
  ctx.set('Retry-After', String(e.retryAfterSeconds));
}

// --- Password step ---------------------------------------------------------------------------------------

function signInPage(ctx: Koa.Context, data: Record<string, unknown>, status = 200) {
  page(
    ctx,
    'auth/login',
    { title: 'Sign in', ssoProvider: ctx.services.config.sso?.providerName, canResetPassword: !!ctx.services.config.smtpUrl, ...data },
    status,
  );
}

async function showSignIn(ctx: Koa.Context) {
  if (ctx.state.user) return redirectTo(ctx, '/');
  signInPage(ctx, { username: '' });
}

async function submitSignIn(ctx: Koa.Context) {
  const b = body(ctx);
  const username = str(b.username, 254);
  const password = str(b.password, 1024);
  if (!username.trim() || !password) {
    return signInPage(
      ctx,
      { username, errors: { ...(username.trim() ? {} : { username: 'Enter your username.' }), ...(password ? {} : { password: 'Enter your password.' }) } },
      422,
    );
  }
  const { db, config } = ctx.services;
  const client = clientOf(ctx);
  let user;
  try {
    user = await verifyPasswordStep(db, config, username, password, client);
  } catch (e) {
    if (e instanceof ThrottledError) {
      throttled(ctx, e);
      return signInPage(ctx, { username, failure: e.message }, 429);
    }
    if (!(e instanceof SignInError)) throw e;
    return signInPage(ctx, { username, failure: e.message }, 401);
  }
  const owned = user.source === 'local' ? await factors.factorsOf(db, user.id) : null;
  if (owned && factors.hasSecondFactor(owned)) {
    // The password was right: remember that (briefly, in a session of its own) and ask for the second factor.
    const pending: PendingSignIn = { userId: user.id, subject: guessKeys(user.id, client).subject, at: Date.now() };
    await freshSession(ctx, { pending, hardExpiry: Date.now() + PENDING_TTL_MS });
    return redirectTo(ctx, '/login/two-factor');
  }
  const current = await loadCurrentUser(db, user.id);
  const mustEnrol = !!current && (await factors.secondFactorRequired(db, current));
  await recordSignIn(db, user, ctx.ip, 'password');
  const next = await startSession(ctx, user.id, mustEnrol ? { mustEnrol: true } : {});
  if (mustEnrol) return redirectTo(ctx, '/account/two-factor');
  redirectTo(ctx, next);
}

// --- Second-factor step ----------------------------------------------------------------------------------

function pendingOf(ctx: Koa.Context): PendingSignIn | null {
  const p = sessionData(ctx)?.pending as PendingSignIn | undefined;
  if (!p || typeof p.userId !== 'number' || Date.now() - p.at > PENDING_TTL_MS) return null;
  return p;
}

async function twoFactorPage(ctx: Koa.Context, pending: PendingSignIn, data: Record<string, unknown> = {}, status = 200) {
  const owned = await factors.factorsOf(ctx.services.db, pending.userId);
  const user = await users.findById(ctx.services.db, pending.userId);
  page(ctx, 'auth/two-factor', { title: 'Second factor', factors: owned, username: user?.username ?? '', scripts: owned.passkeys ? PASSKEY_SCRIPTS : [], ...data }, status);
}

async function showTwoFactor(ctx: Koa.Context) {
  const pending = pendingOf(ctx);
  if (!pending) return redirectTo(ctx, '/login');
  await twoFactorPage(ctx, pending, { useRecovery: ctx.query.recovery === '1' });
}

/** Ends a half-done sign-in with every factor given. */
async function completeSecondFactor(ctx: Koa.Context, pending: PendingSignIn, method: string): Promise<string | null> {
  const { db } = ctx.services;
  const user = await users.findById(db, pending.userId);
  // Deactivated (or stripped of role or license) while the second factor was being asked for.
  if (!user || !canSignIn(user)) return null;
  await recordSignIn(db, user, ctx.ip, method);
  return startSession(ctx, user.id);
}

async function submitTwoFactor(ctx: Koa.Context) {
  const pending = pendingOf(ctx);
  if (!pending) return redirectTo(ctx, '/login');
  const { db, config } = ctx.services;
  const b = body(ctx);
  const recovery = str(b.recoveryCode, 64).trim();
  const code = str(b.code, 32).trim();
  if (!recovery && !code) return twoFactorPage(ctx, pending, { useRecovery: 'recoveryCode' in b, errors: { [('recoveryCode' in b) ? 'recoveryCode' : 'code']: 'Enter the code.' } }, 422);
  const user = await users.findById(db, pending.userId);
  if (!user) return redirectTo(ctx, '/login');
  const keys = { subject: pending.subject, address: guessKeys(user.id, { ip: ctx.ip }).address };
  const claim = await claimGuess(db, config.throttle, keys);
  if (!claim.allowed) {
    const e = new ThrottledError(claim.retryAfterMs);
    throttled(ctx, e);
    return twoFactorPage(ctx, pending, { useRecovery: !!recovery, failure: e.message }, 429);
  }
  const method = recovery ? 'recovery_code' : 'totp';
  const ok = recovery ? await factors.spendRecoveryCode(db, user.id, recovery) : await factors.acceptTotp(db, user.id, code);
  if (!ok) {
    await audit.record(db, { id: user.id, username: user.username, ip: ctx.ip, isSuperuser: false }, {
      action: 'auth.second_factor_failed',
      objectType: 'user',
      objectId: user.id,
      objectLabel: user.username,
      after: { method, failures: claim.subjectFailures },
    });
    const message = recovery ? 'This recovery code is not valid, or was used already.' : 'This code is not valid. Codes change every 30 seconds, and each works only once.';
    return twoFactorPage(ctx, pending, { useRecovery: !!recovery, errors: { [recovery ? 'recoveryCode' : 'code']: message } }, 401);
  }
  const settled = await guessSucceeded(db, config.throttle, keys, claim);
  if (!settled.ok) {
    const e = new ThrottledError(settled.retryAfterMs);
    throttled(ctx, e);
    return twoFactorPage(ctx, pending, { useRecovery: !!recovery, failure: e.message }, 429);
  }
  if (recovery) {
    await audit.record(db, { id: user.id, username: user.username, ip: ctx.ip, isSuperuser: false }, { action: 'auth.recovery_code_used', objectType: 'user', objectId: user.id, objectLabel: user.username });
  }
  const next = await completeSecondFactor(ctx, pending, `password+${method}`);
  if (next === null) return redirectTo(ctx, '/login');
  if (recovery) {
    const left = (await factors.factorsOf(db, user.id)).recoveryCodesLeft;
    flash(ctx, left <= 3 ? 'error' : 'info', `You signed in with a recovery code; ${left} left. ${left <= 3 ? 'Make new ones under Two-factor authentication.' : ''}`.trim());
  }
  redirectTo(ctx, next);
}

const PASSKEY_SCRIPTS = ['/static/simplewebauthn-browser.js', '/static/passkeys.js'];

async function twoFactorPasskeyOptions(ctx: Koa.Context) {
  const pending = pendingOf(ctx);
  if (!pending) throw new HttpError(401, 'no_sign_in', 'This sign-in expired. Start again.');
  const options = await passkeys.authenticationOptions(ctx.services.db, ctx.services.config.baseUrl, pending.userId);
  sessionData(ctx).pending = { ...pending, passkeyChallenge: options.challenge };
  ctx.body = options;
}

async function twoFactorPasskey(ctx: Koa.Context) {
  const pending = pendingOf(ctx);
  if (!pending?.passkeyChallenge) throw new HttpError(401, 'no_sign_in', 'This sign-in expired. Start again.');
  const { db, config } = ctx.services;
  sessionData(ctx).pending = { ...pending, passkeyChallenge: undefined };
  let response: unknown;
  try {
    response = JSON.parse(str(body(ctx).response, 20_000));
  } catch {
    throw new HttpError(400, 'malformed_body', 'The passkey answer could not be read.');
  }
  const user = await users.findById(db, pending.userId);
  const key = user ? await passkeys.authenticate(db, config.baseUrl, pending.userId, pending.passkeyChallenge, response) : null;
  if (!user || !key) {
    if (user) {
      await audit.record(db, { id: user.id, username: user.username, ip: ctx.ip, isSuperuser: false }, { action: 'auth.second_factor_failed', objectType: 'user', objectId: user.id, objectLabel: user.username, after: { method: 'passkey' } });
    }
    ctx.status = 401;
    ctx.body = { error: { code: 'passkey_failed', message: 'The passkey was not accepted. Try again, or use another factor.' } };
    return;
  }
  const next = await completeSecondFactor(ctx, pending, 'password+passkey');
  ctx.body = { redirect: next ?? '/login' };
}

// --- Sign out ---------------------------------------------------------------------------------------------

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

// --- Re-authentication ------------------------------------------------------------------------------------

async function reauthPage(ctx: Koa.Context, data: Record<string, unknown> = {}, status = 200) {
  const me = ctx.state.user!;
  const { db } = ctx.services;
  const user = (await users.findById(db, me.id))!;
  const owned = await factors.factorsOf(db, me.id);
  page(
    ctx,
    'auth/reauth',
    {
      title: 'Confirm it’s you',
      next: safeReturnTo(typeof ctx.query.next === 'string' ? ctx.query.next : data.next),
      hasPassword: !!user.passwordHash,
      factors: owned,
      sso: user.source === 'sso' ? ctx.services.config.sso?.providerName : undefined,
      minutes: Math.round(ctx.services.config.reauthMs / 60_000),
      scripts: owned.passkeys ? PASSKEY_SCRIPTS : [],
      ...data,
    },
    status,
  );
}

async function showReauth(ctx: Koa.Context) {
  await reauthPage(ctx);
}

async function submitReauth(ctx: Koa.Context) {
  const { db, config } = ctx.services;
  const me = ctx.state.user!;
  const b = body(ctx);
  const next = safeReturnTo(b.next);
  const password = str(b.password, 1024);
  const code = str(b.code, 32).trim();
  if (!password && !code) return reauthPage(ctx, { next, errors: { password: 'Enter your password, or a code from your authenticator app.' } }, 422);
  const keys = guessKeys(me.id, clientOf(ctx));
  const claim = await claimGuess(db, config.throttle, keys);
  if (!claim.allowed) {
    const e = new ThrottledError(claim.retryAfterMs);
    throttled(ctx, e);
    return reauthPage(ctx, { next, failure: e.message }, 429);
  }
  const user = (await users.findById(db, me.id))!;
  const ok = password ? await verifyPassword(password, user.passwordHash) : await factors.acceptTotp(db, me.id, code);
  if (!ok) {
    await audit.record(db, actorOf(ctx), { action: 'auth.reauth_failed', objectType: 'user', objectId: me.id, objectLabel: me.username, after: { method: password ? 'password' : 'totp' } });
    return reauthPage(ctx, { next, errors: password ? { password: 'This is not your password.' } : { code: 'This code is not valid.' } }, 401);
  }
  await guessSucceeded(db, config.throttle, keys, claim);
  markAuthenticated(ctx);
  await audit.record(db, actorOf(ctx), { action: 'auth.reauthenticated', objectType: 'user', objectId: me.id, objectLabel: me.username, after: { method: password ? 'password' : 'totp' } });
  flash(ctx, 'success', `Confirmed. You can make sensitive changes for the next ${Math.round(config.reauthMs / 60_000)} minutes.`);
  redirectTo(ctx, next);
}

async function reauthPasskeyOptions(ctx: Koa.Context) {
  const options = await passkeys.authenticationOptions(ctx.services.db, ctx.services.config.baseUrl, ctx.state.user!.id);
  sessionData(ctx).reauthChallenge = { challenge: options.challenge, at: Date.now() };
  ctx.body = options;
}

async function reauthPasskey(ctx: Koa.Context) {
  const { db, config } = ctx.services;
  const s = sessionData(ctx);
  const pending = s.reauthChallenge as { challenge: string; at: number } | undefined;
  delete s.reauthChallenge;
  if (!pending || Date.now() - pending.at > passkeys.CEREMONY_TTL_MS) throw new HttpError(400, 'expired', 'This confirmation expired. Start again.');
  let response: unknown;
  try {
    response = JSON.parse(str(body(ctx).response, 20_000));
  } catch {
    throw new HttpError(400, 'malformed_body', 'The passkey answer could not be read.');
  }
  const me = ctx.state.user!;
  const key = await passkeys.authenticate(db, config.baseUrl, me.id, pending.challenge, response);
  if (!key) {
    await audit.record(db, actorOf(ctx), { action: 'auth.reauth_failed', objectType: 'user', objectId: me.id, objectLabel: me.username, after: { method: 'passkey' } });
    ctx.status = 401;
    ctx.body = { error: { code: 'passkey_failed', message: 'The passkey was not accepted.' } };
    return;
  }
  markAuthenticated(ctx);
  await audit.record(db, actorOf(ctx), { action: 'auth.reauthenticated', objectType: 'user', objectId: me.id, objectLabel: me.username, after: { method: 'passkey' } });
  flash(ctx, 'success', `Confirmed. You can make sensitive changes for the next ${Math.round(config.reauthMs / 60_000)} minutes.`);
  ctx.body = { redirect: safeReturnTo(body(ctx).next) };
}

// --- Forgot password --------------------------------------------------------------------------------------

function requireMail(ctx: Koa.Context) {
  if (!ctx.services.config.smtpUrl) throw new HttpError(404, 'not_found', 'There is nothing at this address.');
}

async function showForgot(ctx: Koa.Context) {
  requireMail(ctx);
  page(ctx, 'auth/forgot', { title: 'Forgot password', login: '' });
}

async function submitForgot(ctx: Koa.Context) {
  requireMail(ctx);
  const login = str(body(ctx).login, 254).trim();
  if (!login) return page(ctx, 'auth/forgot', { title: 'Forgot password', login, errors: { login: 'Enter your username or email address.' } }, 422);
  await resets.requestReset(ctx.services.db, ctx.services.config, login, ctx.ip);
  // The same answer whether or not the account exists.
  page(ctx, 'auth/forgot', { title: 'Forgot password', sent: true, minutes: Math.round(resets.RESET_TTL_MS / 60_000) });
}

async function showReset(ctx: Koa.Context) {
  requireMail(ctx);
  const token = String((ctx as unknown as { params: { token: string } }).params.token);
  const reset = await resets.findUsable(ctx.services.db, token);
  ctx.set('Referrer-Policy', 'no-referrer');
  if (!reset) return page(ctx, 'auth/reset', { title: 'Choose a new password', expired: true }, 410);
  page(ctx, 'auth/reset', { title: 'Choose a new password', token, username: reset.username, errors: {} });
}

async function submitReset(ctx: Koa.Context) {
  requireMail(ctx);
  const token = String((ctx as unknown as { params: { token: string } }).params.token);
  ctx.set('Referrer-Policy', 'no-referrer');
  const b = body(ctx);
  const result = await resets.completeReset(ctx.services.db, ctx.services.config, token, str(b.newPassword, 1024), str(b.confirmPassword, 1024), ctx.ip);
  if (result.kind === 'expired') return page(ctx, 'auth/reset', { title: 'Choose a new password', expired: true }, 410);
  if (result.kind === 'invalid') return page(ctx, 'auth/reset', { title: 'Choose a new password', token, username: result.username, errors: result.errors }, 422);
  page(ctx, 'auth/reset', { title: 'Password changed', done: true });
}

// --- Sign-in policy (Superuser) ---------------------------------------------------------------------------

async function showPolicy(ctx: Koa.Context) {
  const { config, db } = ctx.services;
  page(ctx, 'auth/policy', {
    title: 'Sign-in security',
    requireAdmins: await factors.adminsMustUseTwoFactor(db),
    throttle: config.throttle,
    waitText,
    sessionHours: config.sessionMaxAgeMs / 3600_000,
    sessionDays: config.sessionAbsoluteMs / 86400_000,
    reauthMinutes: config.reauthMs / 60_000,
    mail: !!config.smtpUrl,
  });
}

async function savePolicy(ctx: Koa.Context) {
  const want = body(ctx).requireAdmins === 'on' || body(ctx).requireAdmins === 'true';
  const { db } = ctx.services;
  await transaction(db, async (trx) => {
    const before = await factors.adminsMustUseTwoFactor(trx);
    if (before === want) return;
    await factors.setAdminsMustUseTwoFactor(trx, want);
    await audit.record(trx, actorOf(ctx), { action: 'settings.two_factor_policy', objectType: 'settings', objectLabel: 'Two-factor for administrators', before: { required: before }, after: { required: want } });
  });
  flash(ctx, 'success', want ? 'Roles with administration permissions now need a second factor: their users set one up at their next sign-in.' : 'A second factor is no longer required.');
  redirectTo(ctx, '/settings/sign-in');
}

export const routes = [
  get('/login', PUBLIC, showSignIn),
  post('/login', PUBLIC, submitSignIn),
  get('/login/two-factor', PUBLIC, showTwoFactor),
  post('/login/two-factor', PUBLIC, submitTwoFactor),
  post('/login/two-factor/passkey/options', PUBLIC, twoFactorPasskeyOptions),
  post('/login/two-factor/passkey', PUBLIC, twoFactorPasskey),
  post('/logout', SIGNED_IN, signOut),
  get('/reauth', SIGNED_IN, showReauth),
  post('/reauth', SIGNED_IN, submitReauth),
  post('/reauth/passkey/options', SIGNED_IN, reauthPasskeyOptions),
  post('/reauth/passkey', SIGNED_IN, reauthPasskey),
  get('/password/forgot', PUBLIC, showForgot),
  post('/password/forgot', PUBLIC, submitForgot),
  get('/password/reset/:token', PUBLIC, showReset),
  post('/password/reset/:token', PUBLIC, submitReset),
  get('/settings/sign-in', SUPERUSER, showPolicy),
  post('/settings/sign-in', SUPERUSER, savePolicy),
];

