import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { usernameParam } from './common';
import { arrayOf, bool, int, nullable, obj, ref, str, time, type OperationMap, type Schema } from './schema';

const manage = can(P.usersManage);
const userPath = { username: usernameParam };

const factors = obj({
  totp: bool('An authenticator app (TOTP) is set up.'),
  passkeys: int('Passkeys and security keys registered.', { minimum: 0 }),
  recoveryCodesLeft: int('Unused recovery codes.', { minimum: 0 }),
});

export const signInSchemas: Record<string, Schema> = {
  SignInState: obj(
    {
      username: str(),
      secondFactor: factors,
      sessions: arrayOf(
        obj({
          id: str('Handle of the session (not its cookie value): pass it to end the session.', { pattern: '^[A-Za-z0-9_-]{22}$' }),
          device: str('Browser and system, e.g. "Chrome on Linux".'),
          ip: str('Client address at the last request.'),
          startedAt: time(),
          lastSeenAt: time(),
        }),
        'Live console sessions, the most recently used first.',
      ),
      throttledUntil: nullable(time('While set, password guesses on this account wait until then (the account itself is not locked).')),
    },
    { description: 'How a user signs in: second factors and sessions.' },
  ),
  SecondFactorReset: obj({ username: str(), removed: factors }, { description: 'The second factors that were removed.' }),
  SessionEnded: obj({ username: str(), ended: str('Handle of the session that was ended.') }),
};

const refused = 'Not yours to change: your own account (use the console’s My account), or an account whose role holds administration permissions yours lacks.';

export const signInOperations: OperationMap = {
  'GET /users/{username}/sign-in': {
    operationId: 'getUserSignIn',
    tag: 'Users',
    summary: 'Second factors and sessions of a user',
    description: 'What the user page shows under “Sign-in”: second factors (no secrets), live sessions, and whether password guessing on the account is being slowed down.',
    requires: manage,
    path: userPath,
    responses: { 200: { description: 'The sign-in state.', schema: ref('SignInState') } },
    errors: { 404: 'There is no such user.' },
  },
  'DELETE /users/{username}/second-factor': {
    operationId: 'resetUserSecondFactor',
    tag: 'Users',
    summary: 'Reset a user’s second factor',
    description: 'Removes the authenticator app, every passkey and the recovery codes of a user who lost them; they set up a new factor after signing in with their password. Audited as `auth.second_factor_reset`.',
    requires: manage,
    path: userPath,
    responses: { 200: { description: 'Reset.', schema: ref('SecondFactorReset') } },
    errors: { 403: refused, 404: 'There is no such user.', 409: 'The user has no second factor.' },
  },
  'DELETE /users/{username}/sessions/{session}': {
    operationId: 'endUserSession',
    tag: 'Users',
    summary: 'End one session of a user',
    description: 'Signs the user out of one console session (the `id` from the sign-in state). Audited as `auth.session_revoked`.',
    requires: manage,
    path: { ...userPath, session: { description: 'The session’s handle.', schema: { type: 'string', minLength: 1, maxLength: 40 }, example: 'Qm9vdHN0cmFwU2Vzc2lvbg' } },
    responses: { 200: { description: 'Ended.', schema: ref('SessionEnded') } },
    errors: { 403: refused, 404: 'There is no such user, or no live session with this handle.' },
  },
};
