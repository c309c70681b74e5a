/**
 * Sign-in security of an account through the API: its second factors and sessions, a reset of the second
 * factor and the end of one session — the same services (and who-may-change-whom rule) as the user page.
 */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import { P } from '../permissions/catalog';
import { operation } from '../api/operation';
import { component, count, flag, list, record, text, time, usernameParam } from '../api/schemas';
import * as users from '../users/repo';
import type { User } from '../users/repo';
import { resetSecondFactor, revokeSession, signInPanel } from './adminRoutes';

const manage = can(P.usersManage);
const TAG = 'Users';

async function loadUser(ctx: Koa.Context, params: { username: string }): Promise<User> {
  const u = await users.findByUsername(ctx.services.db, params.username);
  if (!u) throw notFound('User');
  return u;
}

const userPath = Joi.object<{ username: string }>({ username: usernameParam });

const Factors = component(
  'SecondFactors',
  record({
    totp: flag('An authenticator app (TOTP) is set up.'),
    passkeys: count('Passkeys and security keys registered.'),
    recoveryCodesLeft: count('Unused recovery codes.'),
  }),
);

const SignInState = component(
  'SignInState',
  record(
    {
      username: text(),
      secondFactor: Factors,
      sessions: list(
        record({
          id: text('Handle of the session (not its cookie value): pass it to end the session.').pattern(/^[A-Za-z0-9_-]{22}$/),
          device: text('Browser and system, e.g. "Chrome on Linux".'),
          ip: text('Client address at the last request.'),
          startedAt: time(),
          lastSeenAt: time(),
        }),
        'Live console sessions, the most recently used first.',
      ),
      throttledUntil: time('While set, password guesses on this account wait until then (the account itself is not locked).').allow(null),
    },
    'How a user signs in: second factors and sessions.',
  ),
);

const refused = 'Not yours to change: your own account (use My account in the console), or an account whose role holds administration permissions yours lacks.';
const iso = (ms: number) => new Date(ms).toISOString();

const getSignIn = operation({
  operationId: 'getUserSignIn',
  method: 'GET',
  path: '/users/:username/sign-in',
  tag: TAG,
  summary: 'Second factors and sessions of a user',
  description: 'What the user page shows under “Sign-in”: second factors (no secrets), live sessions, and whether password guessing on the account is being slowed down.',
  requires: manage,
  params: userPath,
  load: loadUser,
  responses: { 200: { description: 'The sign-in state.', schema: SignInState } },
  async handler(ctx, { target }) {
    const panel = await signInPanel(ctx.services.db, actorOf(ctx), target);
    return {
      username: target.username,
      secondFactor: panel.factors,
      sessions: panel.sessions.map((s) => ({ id: s.handle, device: s.device, ip: s.ip, startedAt: iso(s.startedAt), lastSeenAt: iso(s.lastSeenAt) })),
      throttledUntil: panel.throttledUntil ? iso(panel.throttledUntil) : null,
    };
  },
});

const resetFactor = operation({
  operationId: 'resetUserSecondFactor',
  method: 'DELETE',
  path: '/users/:username/second-factor',
  tag: TAG,
  summary: 'Reset a user’s second factor',
  description:
    'Removes the authenticator app, every passkey and the recovery codes of a user who lost them; they set up a new factor after signing in with their password. Audited as `auth.second_factor_reset`.',
  requires: manage,
  params: userPath,
  load: loadUser,
  responses: { 200: { description: 'Reset.', schema: component('SecondFactorReset', record({ username: text(), removed: Factors }, 'The second factors that were removed.')) } },
  errors: { 403: refused, 409: 'The user has no second factor.' },
  async handler(ctx, { target }) {
    const removed = await resetSecondFactor(ctx.services.db, actorOf(ctx), target.id);
    return { username: target.username, removed };
  },
});

const endSession = operation({
  operationId: 'endUserSession',
  method: 'DELETE',
  path: '/users/:username/sessions/:session',
  tag: TAG,
  summary: 'End one session of a user',
  description: 'Signs the user out of one console session (the `id` from the sign-in state). Audited as `auth.session_revoked`.',
  requires: manage,
  params: Joi.object<{ username: string; session: string }>({
    username: usernameParam,
    session: Joi.string().min(1).max(40).description('The session’s handle.').example('Qm9vdHN0cmFwU2Vzc2lvbg'),
  }),
  load: loadUser,
  responses: { 200: { description: 'Ended.', schema: component('SessionEnded', record({ username: text(), ended: text('Handle of the session that was ended.') })) } },
  errors: { 403: refused, 404: 'There is no such user, or no live session with this handle.' },
  async handler(ctx, { params, target }) {
    await revokeSession(ctx.services.db, actorOf(ctx), target.id, params.session);
    return { username: target.username, ended: params.session };
  },
});

export const operations = [getSignIn, resetFactor, endSession];
