import type { Db, Conn } from '../db/connect';
import type { Config } from '../config';
import type { Actor, CurrentUser } from '../http/types';
import type { AppPermission } from '../permissions/catalog';
import * as users from '../users/repo';
import type { User } from '../users/repo';
import * as audit from '../audit/service';
import { dummyVerify, verifyPassword } from './passwords';
import { transaction } from '../db/transaction';
import { accountKey, addressKey, claimGuess, deviceKey, guessSucceeded, unknownNameKey, type Claim, type GuessKeys } from './throttle';

/** One message for every refusal, so the page never tells whether a username exists. */
export const SIGN_IN_FAILED =
  'Sign-in failed. Check your username and password. Accounts that are deactivated or without a role or license cannot sign in.';

export function canSignIn(u: User, now = Date.now()): boolean {
  return u.status === 'active' && (u.lockedUntil === null || u.lockedUntil <= now) && u.roleId !== null && u.licenseTypeId !== null;
}

export class SignInError extends Error {
  constructor(message = SIGN_IN_FAILED) {
    super(message);
  }
}

/** Too many failed guesses on this account or from this address: the guess was not checked. */
export class ThrottledError extends Error {
  readonly retryAfterSeconds: number;
  constructor(retryAfterMs: number) {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    super(`Too many failed sign-ins for this account or from this address. Wait ${waitText(seconds)}, then try again.`);
    this.retryAfterSeconds = seconds;
  }
}

export function waitText(seconds: number): string {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? '' : 's'}`;
}

/** Where a sign-in attempt comes from: its address, and the known-device id its browser carries for an account. */
export interface Client {
  ip: string;
  /** From the signed device cookie: set after a complete sign-in of `userId` in this browser. */
  device?: { userId: number; id: string };
}

/** The throttle budget a guess on this account from this client spends. */
export function guessKeys(userId: number, client: Client): GuessKeys {
  const subject = client.device && client.device.userId === userId ? deviceKey(client.device.id) : accountKey(userId);
  return { subject, address: addressKey(client.ip) };
}

const actorFor = (user: { id: number; username: string }, ip: string): Actor => ({ id: user.id, username: user.username, ip, isSuperuser: false });

/** Login names worth writing into the audit log: real usernames and emails, never something that looks like a typed password. */
function loggableLogin(name: string): string {
  return /^[\p{L}\p{N}._@+-]{1,64}$/u.test(name) ? name : '(not a username)';
}

/** Records a refused guess: the reason, never the password. */
export async function recordFailure(db: Conn, ip: string, who: { id: number; username: string } | null, login: string, reason: string, extra: Record<string, unknown> = {}) {
  await audit.record(db, who ? actorFor(who, ip) : { id: null, username: 'anonymous', ip, isSuperuser: false }, {
    action: 'auth.sign_in_failed',
    objectType: 'user',
    objectId: who?.id,
    objectLabel: who?.username ?? loggableLogin(login),
    after: { reason, ...extra },
  });
}

async function recordThrottle(db: Conn, ip: string, who: { id: number; username: string } | null, login: string, claim: Extract<Claim, { allowed: true }>, config: Config['throttle']) {
  if (!claim.engagesThrottle) return;
  await audit.record(db, who ? actorFor(who, ip) : { id: null, username: 'anonymous', ip, isSuperuser: false }, {
    action: 'auth.throttled',
    objectType: 'user',
    objectId: who?.id,
    objectLabel: who?.username ?? loggableLogin(login),
    after: {
      by: claim.engagesThrottle,
      failures: claim.engagesThrottle === 'account' ? claim.subjectFailures : claim.addressFailures,
      firstWaitSeconds: Math.round(config.baseDelayMs / 1000),
    },
  });
}

/**
 * The password step of a sign-in. The guess is counted (by account and by address) before the password
 * is checked, and refused unchecked while the counters say to wait; a right password counts only if the
 * account did not become throttled while it was being checked. Returns the account, whose second factor
 * (if any) the caller asks for next.
 */
export async function verifyPasswordStep(db: Db, config: Pick<Config, 'scryptN' | 'throttle'>, login: string, password: string, client: Client): Promise<User> {
  const name = login.trim().slice(0, 254);
  const user = name.includes('@') ? ((await users.findByUsername(db, name)) ?? (await users.findByEmail(db, name))) : await users.findByUsername(db, name);
  const keys: GuessKeys = user ? guessKeys(user.id, client) : { subject: unknownNameKey(name), address: addressKey(client.ip) };
  const claim = await claimGuess(db, config.throttle, keys);
  if (!claim.allowed) throw new ThrottledError(claim.retryAfterMs);
  await recordThrottle(db, client.ip, user ?? null, name, claim, config.throttle);
  if (!user || !user.passwordHash) {
    await dummyVerify(password, config.scryptN);
    await recordFailure(db, client.ip, user ?? null, name, user ? 'no_password' : 'unknown_account');
    throw new SignInError();
  }
  if (!(await verifyPassword(password, user.passwordHash))) {
    await recordFailure(db, client.ip, user, name, 'wrong_password', { failures: claim.subjectFailures });
    throw new SignInError();
  }
  const settled = await guessSucceeded(db, config.throttle, keys, claim);
  if (!settled.ok) {
    await recordFailure(db, client.ip, user, name, 'throttled_while_checked');
    throw new ThrottledError(settled.retryAfterMs);
  }
  if (!canSignIn(user)) {
    await recordFailure(db, client.ip, user, name, user.status !== 'active' ? 'deactivated' : user.roleId === null || user.licenseTypeId === null ? 'no_role_or_license' : 'locked');
    throw new SignInError();
  }
  return user;
}

/** Bookkeeping and the audit event of a complete sign-in (every factor given). */
export async function recordSignIn(db: Db, user: { id: number; username: string }, ip: string, method: string): Promise<void> {
  const now = Date.now();
  await transaction(db, async (trx) => {
    await users.recordLogin(trx, user.id, now);
    await audit.record(trx, actorFor(user, ip), { action: 'auth.sign_in', objectType: 'user', objectId: user.id, objectLabel: user.username, after: { method } });
  });
}

/** The signed-in user with their permission set, or null when the account may no longer sign in. */
export async function loadCurrentUser(db: Conn, userId: number): Promise<CurrentUser | null> {
  const found = await users.findWithPermissions(db, userId);
  const u = found?.user;
  if (!u || !canSignIn(u) || u.roleId === null) return null;
  const permissions = new Set(found.permissions as AppPermission[]);
  return {
    id: u.id,
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    roleId: u.roleId,
    roleName: u.roleName ?? '',
    licenseKey: u.licenseKey ?? '',
    isSuperuser: u.roleBuiltinKey === 'superuser',
    permissions,
    source: u.source,
  };
}
