import type { Db, Conn } from '../db/connect';
import type { Config } from '../config';
import type { Actor, CurrentUser } from '../http/types';
import * as users from '../users/repo';
import type { User } from '../users/repo';
import * as roles from '../roles/repo';
import * as audit from '../audit/service';
import { dummyVerify, verifyPassword } from './passwords';
import { transaction } from '../db/transaction';

/** One message for every refusal, so the page never tells whether a username exists. */
export const SIGN_IN_FAILED =
  'Sign-in failed. Check your username and password. Accounts that are deactivated, locked after repeated failures, or without a role or license cannot sign in.';

export function canSignIn(u: User, now = Date.now()): boolean {
  return u.status === 'active' && (u.lockedUntil === null || u.lockedUntil <= now) && u.roleId !== null && u.licenseTypeId !== null;
}

export class SignInError extends Error {
  constructor() {
    super(SIGN_IN_FAILED);
  }
}

export async function signIn(
  db: Db,
  config: Pick<Config, 'scryptN' | 'lockoutThreshold' | 'lockoutMs'>,
  login: string,
  password: string,
  ip: string,
): Promise<User> {
  const now = Date.now();
  const name = login.trim().slice(0, 254);
  const user = name.includes('@') ? ((await users.findByUsername(db, name)) ?? (await users.findByEmail(db, name))) : await users.findByUsername(db, name);
  if (!user || !user.passwordHash) {
    await dummyVerify(password, config.scryptN);
    throw new SignInError();
  }
  const actor: Actor = { id: user.id, username: user.username, ip, isSuperuser: false };
  if (user.lockedUntil !== null && user.lockedUntil > now) {
    await dummyVerify(password, config.scryptN);
    throw new SignInError();
  }
  if (!(await verifyPassword(password, user.passwordHash))) {
    const failed = user.failedLogins + 1;
    const lock = failed >= config.lockoutThreshold;
    await transaction(db, async (trx) => {
      await users.recordFailedLogin(trx, user.id, lock ? 0 : failed, lock ? now + config.lockoutMs : user.lockedUntil);
      if (lock) {
        await audit.record(trx, actor, {
          action: 'user.lock',
          objectType: 'user',
          objectId: user.id,
          objectLabel: user.username,
          after: { lockedUntil: now + config.lockoutMs, reason: `${failed} failed sign-ins` },
        });
      }
    });
    throw new SignInError();
  }
  if (!canSignIn(user, now)) throw new SignInError();
  await transaction(db, async (trx) => {
    await users.recordLogin(trx, user.id, now);
    await audit.record(trx, actor, { action: 'auth.sign_in', objectType: 'user', objectId: user.id, objectLabel: user.username });
  });
  return user;
}

/** The signed-in user with their permission set, or null when the account may no longer sign in. */
export async function loadCurrentUser(db: Conn, userId: number): Promise<CurrentUser | null> {
  const u = await users.findById(db, userId);
  if (!u || !canSignIn(u) || u.roleId === null) return null;
  const permissions = new Set(await roles.permissionsOf(db, u.roleId));
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
