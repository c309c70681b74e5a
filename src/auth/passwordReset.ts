/**
 * "Forgot password" for local accounts: a link valid for 30 minutes and only once, sent by e-mail. Only the
 * link's SHA-256 is stored. The page answers the same whether or not the account exists, and the mail is
 * sent after the answer, so the time taken tells nothing either.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/connect';
import type { Config } from '../config';
import * as users from '../users/repo';
import * as sessions from '../sessions/service';
import * as audit from '../audit/service';
import { transaction } from '../db/transaction';
import { hashPassword } from './passwords';
import { passwordProblem } from './passwordPolicy';
import { clearAccount } from './throttle';
import { sendMail } from './mailer';

export const RESET_TTL_MS = 30 * 60_000;
/** Links a person may have outstanding at once: more requests send nothing (mail bombing). */
const MAX_OUTSTANDING = 3;

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export async function requestReset(db: Db, config: Config, login: string, ip: string): Promise<void> {
  const name = login.trim();
  const user = name.includes('@') ? ((await users.findByEmail(db, name)) ?? (await users.findByUsername(db, name))) : await users.findByUsername(db, name);
  if (!user || user.source !== 'local' || user.status !== 'active' || !config.smtpUrl) return;
  const now = Date.now();
  const token = randomBytes(32).toString('base64url');
  const created = await transaction(db, async (trx) => {
    const outstanding = await trx('password_resets').where({ user_id: user.id }).whereNull('used_at').andWhere('expires_at', '>', now).count({ n: '*' }).first();
    if (Number(outstanding?.n ?? 0) >= MAX_OUTSTANDING) return false;
    await trx('password_resets').insert({ user_id: user.id, token_hash: hash(token), created_at: now, expires_at: now + RESET_TTL_MS });
    await audit.record(trx, { id: null, username: 'anonymous', ip, isSuperuser: false }, {
      action: 'auth.password_reset_requested',
      objectType: 'user',
      objectId: user.id,
      objectLabel: user.username,
    });
    return true;
  });
  if (!created) return;
  const link = `${config.baseUrl.replace(/\/$/, '')}/password/reset/${token}`;
  const mail = {
    to: user.email,
    subject: 'Reset your Gatehouse password',
    text: [
      `Hello ${user.firstName || user.username},`,
      '',
      `Someone (hopefully you) asked to reset the password of the Gatehouse account "${user.username}".`,
      `Choose a new password here within ${RESET_TTL_MS / 60_000} minutes; the link works once:`,
      '',
      link,
      '',
      'If you did not ask for this, ignore this message: your password stays as it is.',
    ].join('\n'),
  };
  // Not awaited: the answer must not take longer for an existing account than for an unknown one.
  sendMail(config.smtpUrl!, config.mailFrom, mail).catch((err: Error) => {
    if (config.env !== 'test') console.error(`Password-reset mail to user ${user.id} could not be sent: ${err.message}`);
  });
}

export async function findUsable(db: Db, token: string): Promise<{ id: number; userId: number; username: string } | null> {
  if (!/^[A-Za-z0-9_-]{43}$/.test(token)) return null;
  const row = await db('password_resets').join('users', 'users.id', 'password_resets.user_id').where('password_resets.token_hash', hash(token)).first('password_resets.*', 'users.username');
  if (!row || row.used_at !== null || Number(row.expires_at) <= Date.now()) return null;
  return { id: Number(row.id), userId: Number(row.user_id), username: String(row.username) };
}

export type ResetResult = { kind: 'done' } | { kind: 'expired' } | { kind: 'invalid'; username: string; errors: Record<string, string> };

export async function completeReset(db: Db, config: Config, token: string, newPassword: string, confirm: string, ip: string): Promise<ResetResult> {
  const reset = await findUsable(db, token);
  if (!reset) return { kind: 'expired' };
  const user = await users.findById(db, reset.userId);
  if (!user) return { kind: 'expired' };
  const errors: Record<string, string> = {};
  const problem = newPassword ? passwordProblem(newPassword, { username: user.username, email: user.email }) : 'Enter a new password.';
  if (problem) errors.newPassword = problem;
  if (!confirm) errors.confirmPassword = 'Enter the new password again.';
  else if (newPassword !== confirm) errors.confirmPassword = 'The two passwords differ.';
  if (Object.keys(errors).length) return { kind: 'invalid', username: user.username, errors };
  const passwordHash = await hashPassword(newPassword, config.scryptN);
  return transaction(db, async (trx) => {
    // Single use: of two submissions of one link, only one marks it used.
    const claimed = await trx('password_resets').where({ id: reset.id }).whereNull('used_at').andWhere('expires_at', '>', Date.now()).update({ used_at: Date.now() });
    if (!claimed) return { kind: 'expired' } as const;
    await users.update(trx, user.id, { passwordHash });
    await trx('password_resets').where({ user_id: user.id }).whereNull('used_at').update({ used_at: Date.now() });
    await sessions.endAllOf(trx, user.id);
    await clearAccount(trx, user.id);
    await audit.record(trx, { id: user.id, username: user.username, ip, isSuperuser: false }, {
      action: 'auth.password_reset',
      objectType: 'user',
      objectId: user.id,
      objectLabel: user.username,
      after: { sessionsEnded: true },
    });
    return { kind: 'done' } as const;
  });
}

export async function removeExpired(db: Db, now = Date.now()): Promise<number> {
  return db('password_resets').where('expires_at', '<=', now - 86400_000).delete();
}
