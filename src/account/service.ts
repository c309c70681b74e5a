import Joi from 'joi';
import type { Db } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { ValidationError, conflict, notFound } from '../http/errors';
import { hashPassword, verifyPassword } from '../auth/passwords';
import { passwordProblem } from '../auth/passwordPolicy';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import * as sessions from '../sessions/service';
import { emailSchema } from '../users/service';
import { recordChange } from '../changes/service';
import { transaction } from '../db/transaction';

const profileSchema = Joi.object({
  firstName: Joi.string().trim().max(100).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).required().label('First name'),
  lastName: Joi.string().trim().max(100).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).required().label('Last name'),
  email: emailSchema.required(),
});

export async function updateProfile(db: Db, actor: Actor, userId: number, raw: unknown): Promise<void> {
  const input = validate<{ firstName: string; lastName: string; email: string }>(profileSchema, raw);
  await transaction(db, async (trx) => {
    const before = await users.findById(trx, userId);
    if (!before) throw notFound('User');
    if (before.source === 'sso' && input.email.toLowerCase() !== before.email.toLowerCase()) {
      throw new ValidationError({ email: 'Your email comes from single sign-on and is changed there.' });
    }
    if (await users.emailTaken(trx, input.email, userId)) throw new ValidationError({ email: 'Another user already has this email address.' });
    if (!(await users.update(trx, userId, input, before.version))) throw conflict('Your account was changed meanwhile. Reload and try again.');
    await recordChange(trx, { kind: 'user', id: userId });
    await audit.record(trx, actor, {
      action: 'account.update_profile',
      objectType: 'user',
      objectId: userId,
      objectLabel: before.username,
      before: { firstName: before.firstName, lastName: before.lastName, email: before.email },
      after: input,
    });
  });
}

const passwordSchema = Joi.object({
  currentPassword: Joi.string().max(1024).required().label('Current password'),
  newPassword: Joi.string().max(1024).required().label('New password'),
  confirmPassword: Joi.string().max(1024).required().label('Confirmation'),
});

export async function changePassword(db: Db, actor: Actor, userId: number, raw: unknown, scryptN: number): Promise<void> {
  const input = validate<{ currentPassword: string; newPassword: string; confirmPassword: string }>(passwordSchema, raw);
  const user = await users.findById(db, userId);
  if (!user) throw notFound('User');
  if (!(await verifyPassword(input.currentPassword, user.passwordHash))) throw new ValidationError({ currentPassword: 'This is not your current password.' });
  const problem = passwordProblem(input.newPassword, { username: user.username, email: user.email });
  if (problem) throw new ValidationError({ newPassword: problem });
  if (input.newPassword !== input.confirmPassword) throw new ValidationError({ confirmPassword: 'The two new passwords differ.' });
  const hash = await hashPassword(input.newPassword, scryptN);
  await transaction(db, async (trx) => {
    await users.update(trx, userId, { passwordHash: hash });
    // Other sessions of this user end; the current one stays signed in.
    await sessions.endAllOf(trx, userId);
    await audit.record(trx, actor, { action: 'account.change_password', objectType: 'user', objectId: userId, objectLabel: user.username });
  });
}

/** Signs the user out everywhere but this browser. */
export async function endOtherSessions(db: Db, actor: Actor, userId: number, currentSessionId: string | undefined): Promise<number> {
  return transaction(db, async (trx) => {
    const ended = await sessions.endOthersOf(trx, userId, currentSessionId);
    await audit.record(trx, actor, { action: 'account.end_other_sessions', objectType: 'user', objectId: userId, objectLabel: actor.username, after: { sessionsEnded: ended } });
    return ended;
  });
}
