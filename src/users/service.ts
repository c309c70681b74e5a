import Joi from 'joi';
import { clearAccount as clearAccountThrottle } from '../auth/throttle';
import type { Db, Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { HttpError, ValidationError, conflict, forbidden, notFound } from '../http/errors';
import { hashPassword } from '../auth/passwords';
import { passwordProblem } from '../auth/passwordPolicy';
import * as audit from '../audit/service';
import * as roles from '../roles/repo';
import { assignmentBlocker } from '../roles/service';
import * as licenses from '../licenses/repo';
import { assertSeatAvailable } from '../licenses/service';
import * as assets from '../assets/repo';
import * as sessions from '../sessions/repo';
import * as repo from './repo';
import type { User } from './repo';
import { transaction } from '../db/transaction';

/** Text a person typed: trimmed, no control characters. */
const plainText = (label: string, max: number) =>
  Joi.string()
    .trim()
    .max(max)
    .pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' })
    .label(label);

export const usernameSchema = Joi.string()
  .trim()
  .min(2)
  .max(64)
  .pattern(/^[\p{L}\p{N}][\p{L}\p{N}._@-]*$/u, { name: 'may contain letters, digits, dots, dashes, underscores and @, and must start with a letter or digit' })
  .label('Username');

export const emailSchema = Joi.string().trim().max(254).email({ tlds: { allow: false } }).label('Email');

const idField = (label: string) => Joi.number().integer().min(1).max(2147483647).empty('').label(label);

const groupIds = Joi.array().items(Joi.number().integer().min(1).max(2147483647)).max(20_000).default([]).label('Groups');

export const createUserSchema = Joi.object({
  username: usernameSchema.required(),
  firstName: plainText('First name', 100).required(),
  lastName: plainText('Last name', 100).required(),
  email: emailSchema.required(),
  password: Joi.string().max(1024).allow('').default('').label('Password'),
  roleId: idField('Role'),
  licenseTypeId: idField('License'),
  addGroupIds: groupIds,
});

export const updateUserSchema = Joi.object({
  firstName: plainText('First name', 100).required(),
  lastName: plainText('Last name', 100).required(),
  email: emailSchema.required(),
  password: Joi.string().max(1024).allow('').default('').label('Password'),
  roleId: idField('Role').required(),
  licenseTypeId: idField('License').required(),
  addGroupIds: groupIds,
  removeGroupIds: groupIds,
  version: Joi.number().integer().min(1).empty('').label('Version'),
});

export interface CreateUserInput {
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  password: string;
  roleId?: number;
  licenseTypeId?: number;
  addGroupIds: number[];
}

export interface UpdateUserInput {
  firstName: string;
  lastName: string;
  email: string;
  password: string;
  roleId: number;
  licenseTypeId: number;
  addGroupIds: number[];
  removeGroupIds: number[];
  version?: number;
}

/** What the audit trail keeps of a user (never the password hash). */
export function auditView(u: User, groupIds?: number[]) {
  return {
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    role: u.roleName,
    license: u.licenseName,
    status: u.status,
    ...(groupIds ? { groupIds } : {}),
  };
}

async function requireUser(db: Conn, id: number): Promise<User> {
  const u = await repo.findById(db, id);
  if (!u) throw notFound('User');
  return u;
}

async function assertGroupsExist(db: Conn, ids: number[]): Promise<void> {
  if (!ids.length) return;
  const found = await db('groups').whereIn('id', ids).count({ n: '*' }).first();
  if (Number(found?.n ?? 0) !== new Set(ids).size) throw new ValidationError({ groups: 'One of the chosen groups no longer exists.' });
}

async function resolveRole(db: Conn, actor: Actor, roleId: number | undefined) {
  const role = roleId ? await roles.findById(db, roleId) : await roles.findDefault(db);
  if (!role) throw new ValidationError({ roleId: roleId ? 'That role does not exist.' : 'No role is marked as default; choose one.' });
  // The one rule for handing out roles (Superuser role, administration permissions) lives in the roles service.
  const blocker = await assignmentBlocker(db, actor, role);
  if (blocker) throw new ValidationError({ roleId: blocker }, blocker, 403);
  return role;
}

async function assertLicenseExists(db: Conn, id: number): Promise<void> {
  if (!(await licenses.findById(db, id))) throw new ValidationError({ licenseTypeId: 'That license type does not exist.' });
}

async function uniqueEmail(db: Conn, email: string, exceptId?: number): Promise<void> {
  if (await repo.emailTaken(db, email, exceptId)) throw new ValidationError({ email: 'Another user already has this email address.' });
}

function checkPassword(password: string, username: string, email: string, required: boolean): void {
  if (!password) {
    if (required) throw new ValidationError({ password: 'Password is required.' });
    return;
  }
  const problem = passwordProblem(password, { username, email });
  if (problem) throw new ValidationError({ password: problem });
}

/** Is this user the only active Superuser left (so must stay one)? */
async function isLastActiveSuperuser(db: Conn, u: User): Promise<boolean> {
  if (u.roleBuiltinKey !== 'superuser' || u.status !== 'active') return false;
  return (await repo.countActiveSuperusers(db, u.id)) === 0;
}

/**
 * Validates, and when other fields are wrong also reports a taken username or email at the same time, so
 * the administrator sees every problem in one round trip.
 */
async function validateWithUniqueness<T>(db: Conn, schema: Joi.Schema<T>, raw: unknown, exceptId?: number): Promise<T> {
  try {
    return validate<T>(schema, raw);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const r = (raw ?? {}) as Record<string, unknown>;
    const fields = { ...e.fields };
    if (!fields.username && exceptId === undefined && typeof r.username === 'string' && r.username.trim() && (await repo.usernameTaken(db, r.username.trim()))) {
      fields.username = 'This username is taken.';
    }
    if (!fields.email && typeof r.email === 'string' && r.email.trim() && (await repo.emailTaken(db, r.email.trim(), exceptId))) {
      fields.email = 'Another user already has this email address.';
    }
    throw new ValidationError(fields, e.message, e.status);
  }
}

export async function createUser(db: Db, actor: Actor, raw: unknown, scryptN: number): Promise<User> {
  const input = await validateWithUniqueness<CreateUserInput>(db, createUserSchema, raw);
  checkPassword(input.password, input.username, input.email, true);
  const passwordHash = await hashPassword(input.password, scryptN);
  return transaction(db, async (trx) => {
    if (await repo.usernameTaken(trx, input.username)) throw new ValidationError({ username: 'This username is taken.' });
    await uniqueEmail(trx, input.email);
    const role = await resolveRole(trx, actor, input.roleId);
    const licenseTypeId = input.licenseTypeId ?? role.licenseTypeId;
    await assertLicenseExists(trx, licenseTypeId);
    await assertSeatAvailable(trx, licenseTypeId);
    await assertGroupsExist(trx, input.addGroupIds);
    const id = await repo.insert(trx, {
      username: input.username,
      firstName: input.firstName,
      lastName: input.lastName,
      email: input.email,
      passwordHash,
      roleId: role.id,
      licenseTypeId,
    });
    const groupIds = [...new Set(input.addGroupIds)];
    await repo.addToGroups(trx, id, groupIds);
    const created = (await repo.findById(trx, id))!;
    await audit.record(trx, actor, {
      action: 'user.create',
      objectType: 'user',
      objectId: id,
      objectLabel: created.username,
      after: auditView(created, groupIds),
    });
    return created;
  });
}

export async function updateUser(db: Db, actor: Actor, id: number, raw: unknown, scryptN: number): Promise<User> {
  const input = await validateWithUniqueness<UpdateUserInput>(db, updateUserSchema, raw, id);
  const current = await requireUser(db, id);
  if (input.password && current.source === 'sso') {
    throw new ValidationError({ password: 'This account signs in with single sign-on only; Gatehouse keeps no password for it.' });
  }
  checkPassword(input.password, current.username, input.email, false);
  const passwordHash = input.password ? await hashPassword(input.password, scryptN) : undefined;
  return transaction(db, async (trx) => {
    const before = await requireUser(trx, id);
    const beforeGroups = await repo.groupIdsOf(trx, id);
    if (input.version !== undefined && input.version !== before.version) {
      throw conflict(`${before.username} was changed by someone else after you opened this page. The form now shows your input; the current values are listed above it. Save again to apply yours.`);
    }
    await uniqueEmail(trx, input.email, id);
    if (input.roleId !== before.roleId) {
      const role = await resolveRole(trx, actor, input.roleId);
      if (actor.id === id) throw new ValidationError({ roleId: 'You cannot change your own role.' }, undefined, 403);
      if (before.roleBuiltinKey === 'superuser' && role.builtinKey !== 'superuser') {
        if (!actor.isSuperuser) throw new ValidationError({ roleId: 'Only a Superuser may change the role of a Superuser.' }, undefined, 403);
        if (await isLastActiveSuperuser(trx, before)) throw new ValidationError({ roleId: `${before.username} is the last active Superuser and must keep that role.` });
      }
    }
    if (input.licenseTypeId !== before.licenseTypeId) {
      await assertLicenseExists(trx, input.licenseTypeId);
      await assertSeatAvailable(trx, input.licenseTypeId);
    }
    const add = input.addGroupIds.filter((g) => !beforeGroups.includes(g));
    const remove = input.removeGroupIds.filter((g) => beforeGroups.includes(g) && !add.includes(g));
    await assertGroupsExist(trx, add);
    const ok = await repo.update(
      trx,
      id,
      {
        firstName: input.firstName,
        lastName: input.lastName,
        email: input.email,
        roleId: input.roleId,
        licenseTypeId: input.licenseTypeId,
        ...(passwordHash ? { passwordHash } : {}),
      },
      before.version,
    );
    if (!ok) throw conflict(`${before.username} was changed by someone else while saving. Reload and try again.`);
    await repo.addToGroups(trx, id, add);
    await repo.removeFromGroups(trx, id, remove);
    const after = (await repo.findById(trx, id))!;
    const afterGroups = beforeGroups.filter((g) => !remove.includes(g)).concat(add);
    await audit.record(trx, actor, {
      action: 'user.update',
      objectType: 'user',
      objectId: id,
      objectLabel: after.username,
      before: { ...auditView(before, beforeGroups), ...(passwordHash ? { password: '(unchanged)' } : {}) },
      after: { ...auditView(after, afterGroups), ...(passwordHash ? { password: '(changed)' } : {}) },
    });
    if (passwordHash && actor.id !== id) await sessions.removeForUser(trx, id);
    return after;
  });
}

export async function setStatus(db: Db, actor: Actor, id: number, status: 'active' | 'deactivated'): Promise<User> {
  return transaction(db, async (trx) => {
    const before = await requireUser(trx, id);
    if (before.status === status) return before;
    if (status === 'deactivated') {
      if (actor.id === id) throw new HttpError(403, 'self_protection', 'You cannot deactivate your own account.');
      if (before.roleBuiltinKey === 'superuser' && !actor.isSuperuser) throw forbidden('Only a Superuser may deactivate a Superuser.');
      if (await isLastActiveSuperuser(trx, before)) {
        throw new HttpError(409, 'last_superuser', `${before.username} is the last active Superuser and cannot be deactivated.`);
      }
    } else if (before.licenseTypeId) {
      // Reactivating takes nothing new: the seat stayed assigned while deactivated.
    }
    await repo.update(trx, id, { status });
    if (status === 'deactivated') await sessions.removeForUser(trx, id);
    await audit.record(trx, actor, {
      action: status === 'active' ? 'user.reactivate' : 'user.deactivate',
      objectType: 'user',
      objectId: id,
      objectLabel: before.username,
      before: { status: before.status },
      after: { status },
    });
    return (await repo.findById(trx, id))!;
  });
}

export async function unlock(db: Db, actor: Actor, id: number): Promise<void> {
  await transaction(db, async (trx) => {
    const before = await requireUser(trx, id);
    await repo.update(trx, id, { lockedUntil: null, failedLogins: 0 });
    await clearAccountThrottle(trx, id);
    await audit.record(trx, actor, {
      action: 'user.unlock',
      objectType: 'user',
      objectId: id,
      objectLabel: before.username,
      before: { lockedUntil: before.lockedUntil, failedLogins: before.failedLogins },
      after: { lockedUntil: null, failedLogins: 0 },
    });
  });
}

export async function endSessions(db: Db, actor: Actor, id: number): Promise<number> {
  return transaction(db, async (trx) => {
    const user = await requireUser(trx, id);
    const ended = await sessions.removeForUser(trx, id);
    await audit.record(trx, actor, {
      action: 'user.end_sessions',
      objectType: 'user',
      objectId: id,
      objectLabel: user.username,
      after: { sessionsEnded: ended },
    });
    return ended;
  });
}

export type AssetDisposition = { mode: 'none' } | { mode: 'delete' } | { mode: 'transfer'; toUsername: string };

export const deleteUserSchema = Joi.object({
  assets: Joi.string().valid('none', 'delete', 'transfer').default('none').label('What to do with the assets'),
  transferTo: Joi.string().trim().max(64).allow('').default('').label('New owner'),
});

/**
 * Why this user cannot be removed by this actor, or null: 403 when it is not the actor's to do, 409 when
 * the state of the system forbids it.
 */
export async function removalBlocker(db: Conn, actor: Actor, u: User): Promise<HttpError | null> {
  if (actor.id === u.id) return new HttpError(403, 'self_protection', 'You cannot remove your own account.');
  if (u.roleBuiltinKey === 'superuser' && !actor.isSuperuser) return forbidden('Only a Superuser may remove a Superuser.');
  if (await isLastActiveSuperuser(db, u)) return new HttpError(409, 'last_superuser', `${u.username} is the last active Superuser and cannot be removed.`);
  return null;
}

/**
 * Removes a user in one transaction: their assets move to another user or are deleted, their
 * memberships, tokens and sessions go, and the audit trail records what happened.
 */
export async function deleteUser(db: Db, actor: Actor, id: number, raw: unknown): Promise<{ username: string; assets: number; mode: string }> {
  const input = validate<{ assets: 'none' | 'delete' | 'transfer'; transferTo: string }>(deleteUserSchema, raw);
  return transaction(db, async (trx) => {
    const user = await requireUser(trx, id);
    const blocker = await removalBlocker(trx, actor, user);
    if (blocker) throw blocker;
    const owned = await assets.countOwnedBy(trx, id);
    let mode = 'none';
    let recipient: User | undefined;
    if (owned > 0) {
      if (input.assets === 'none') {
        throw new ValidationError({ assets: `${user.username} owns ${owned} asset${owned === 1 ? '' : 's'}: choose to transfer or delete them.` });
      }
      if (input.assets === 'transfer') {
        if (!input.transferTo) throw new ValidationError({ transferTo: 'Choose the user who receives the assets.' });
        recipient = await repo.findByUsername(trx, input.transferTo);
        if (!recipient) throw new ValidationError({ transferTo: `There is no user "${input.transferTo}".` });
        if (recipient.id === id) throw new ValidationError({ transferTo: 'Choose someone other than the user being removed.' });
        await assets.transferOwnership(trx, id, recipient.id);
        mode = 'transfer';
      } else {
        await assets.deleteOwnedBy(trx, id);
        mode = 'delete';
      }
    }
    const groupIds = await repo.groupIdsOf(trx, id);
    await sessions.removeForUser(trx, id);
    await repo.remove(trx, id);
    await audit.record(trx, actor, {
      action: 'user.delete',
      objectType: 'user',
      objectId: id,
      objectLabel: user.username,
      before: auditView(user, groupIds),
      after: owned ? { assets: owned, disposition: mode, ...(recipient ? { transferredTo: recipient.username } : {}) } : undefined,
    });
    return { username: user.username, assets: owned, mode };
  });
}
