/**
 * Sign-in security of another account, on the user page: its second factors (an administrator resets
 * them when the owner lost theirs), its sessions (each ended on its own), and its sign-in history. Every
 * change goes through the who-may-change-whom rule and is audited.
 */
import type Koa from 'koa';
import { can, get, idParam, post } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import { flash } from '../http/session';
import { HttpError, notFound } from '../http/errors';
import { P } from '../permissions/catalog';
import * as users from '../users/repo';
import type { User } from '../users/repo';
import { policyFor } from '../users/policy';
import * as audit from '../audit/service';
import * as auditRepo from '../audit/repo';
import * as sessions from '../sessions/service';
import type { Actor } from '../http/types';
import type { Db } from '../db/connect';
import { transaction } from '../db/transaction';
import * as factors from './factors';
import { accountWaitUntil } from './throttle';
import { sessionIdByHandle, sessionsOf, type SessionView } from './sessionList';
import * as passkeys from './passkeys';

const manage = can(P.usersManage);

/** The actions of the sign-in history, with the words the page shows. */
export const SIGN_IN_ACTIONS: Record<string, string> = {
  'auth.sign_in': 'Signed in',
  'auth.sign_in_failed': 'Sign-in failed',
  'auth.throttled': 'Guessing slowed down',
  'auth.sign_out': 'Signed out',
  'auth.second_factor_failed': 'Second factor refused',
  'auth.recovery_code_used': 'Used a recovery code',
  'auth.reauthenticated': 'Confirmed identity',
  'auth.reauth_failed': 'Confirmation refused',
  'auth.totp_enrolled': 'Set up an authenticator app',
  'auth.totp_removed': 'Removed the authenticator app',
  'auth.passkey_added': 'Added a passkey',
  'auth.passkey_removed': 'Removed a passkey',
  'auth.recovery_codes_generated': 'Made new recovery codes',
  'auth.second_factor_reset': 'Second factor reset by an administrator',
  'auth.session_revoked': 'Session ended',
  'auth.password_reset_requested': 'Asked for a password reset link',
  'auth.password_reset': 'Reset the password by e-mail',
  'account.change_password': 'Changed the password',
  'account.end_other_sessions': 'Signed out other sessions',
  'user.end_sessions': 'Sessions ended by an administrator',
  'user.unlock': 'Unlocked by an administrator',
};

export interface SignInPanel {
  subject: { id: number; username: string; source: string };
  factors: factors.FactorSummary;
  passkeys: passkeys.Passkey[];
  sessions: SessionView[];
  throttledUntil: number | null;
  /** Why this administrator may not change the account (null: may). */
  blocker: string | null;
}

/** What the user page shows about an account's sign-in (views/auth/_user-sign-in.eta). */
export async function signInPanel(db: Db, actor: Actor, user: User): Promise<SignInPanel> {
  const wait = await accountWaitUntil(db, user.id);
  return {
    subject: { id: user.id, username: user.username, source: user.source },
    factors: await factors.factorsOf(db, user.id),
    passkeys: await passkeys.listPasskeys(db, user.id),
    sessions: await sessionsOf(db, user.id),
    throttledUntil: wait?.until ?? null,
    blocker: (await policyFor(db, actor).blocker(user))?.message ?? null,
  };
}

async function loadUser(ctx: Koa.Context): Promise<User> {
  const u = await users.findById(ctx.services.db, idParam(ctx));
  if (!u) throw notFound('User');
  return u;
}

/** Removes every second factor of another account; the owner sets one up again at their next sign-in. */
export async function resetSecondFactor(db: Db, actor: Actor, userId: number): Promise<factors.FactorSummary> {
  return transaction(db, async (trx) => {
    const user = await users.findById(trx, userId);
    if (!user) throw notFound('User');
    await policyFor(trx, actor).assertMayChange(user);
    const before = await factors.removeAllFactors(trx, userId);
    if (!factors.hasSecondFactor(before) && !before.recoveryCodesLeft) throw new HttpError(409, 'no_second_factor', `${user.username} has no second factor to reset.`);
    await audit.record(trx, actor, { action: 'auth.second_factor_reset', objectType: 'user', objectId: userId, objectLabel: user.username, before });
    return before;
  });
}

/** Ends one session of another account. */
export async function revokeSession(db: Db, actor: Actor, userId: number, handle: string): Promise<void> {
  await transaction(db, async (trx) => {
    const user = await users.findById(trx, userId);
    if (!user) throw notFound('User');
    await policyFor(trx, actor).assertMayChange(user);
    const id = await sessionIdByHandle(trx, userId, handle);
    if (!id) throw notFound('Session');
    await sessions.endOneOf(trx, userId, id);
    await audit.record(trx, actor, { action: 'auth.session_revoked', objectType: 'user', objectId: userId, objectLabel: user.username, after: { session: handle } });
  });
}

function refusedOr(ctx: Koa.Context, e: unknown, userId: number) {
  if (!(e instanceof HttpError) || e.status >= 500) throw e;
  flash(ctx, 'error', e.message);
  redirectTo(ctx, `/users/${userId}`);
}

async function resetFactorRoute(ctx: Koa.Context) {
  const user = await loadUser(ctx);
  try {
    await resetSecondFactor(ctx.services.db, actorOf(ctx), user.id);
  } catch (e) {
    return refusedOr(ctx, e, user.id);
  }
  flash(ctx, 'success', `The second factor of ${user.username} is reset: they set up a new one after signing in with their password.`);
  redirectTo(ctx, `/users/${user.id}`);
}

async function revokeSessionRoute(ctx: Koa.Context) {
  const user = await loadUser(ctx);
  const handle = String((ctx as unknown as { params: { handle: string } }).params.handle).slice(0, 40);
  try {
    await revokeSession(ctx.services.db, actorOf(ctx), user.id, handle);
  } catch (e) {
    return refusedOr(ctx, e, user.id);
  }
  flash(ctx, 'success', `That session of ${user.username} is ended.`);
  redirectTo(ctx, `/users/${user.id}`);
}

const HISTORY_PAGE = 100;

async function signInHistory(ctx: Koa.Context) {
  const user = await loadUser(ctx);
  const { db } = ctx.services;
  const rows = await auditRepo.latestAbout(db, 'user', String(user.id), Object.keys(SIGN_IN_ACTIONS), HISTORY_PAGE);
  page(ctx, 'auth/sign-in-history', {
    title: `Sign-in history of ${user.username}`,
    subject: user,
    labels: SIGN_IN_ACTIONS,
    limit: HISTORY_PAGE,
    events: rows.map((r) => ({
      at: Number(r.at),
      action: String(r.action),
      actor: String(r.actor_username),
      ip: String(r.ip),
      details: r.after_json ? (JSON.parse(String(r.after_json)) as Record<string, unknown>) : {},
    })),
  });
}

export const routes = [
  post('/users/:id/two-factor/reset', manage, resetFactorRoute),
  post('/users/:id/sessions/:handle/end', manage, revokeSessionRoute),
  get('/users/:id/sign-in-history', manage, signInHistory),
];
