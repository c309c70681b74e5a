import Joi from 'joi';
import { clearAccount as clearAccountThrottle } from '../auth/throttle';
import type { Db, Conn, Tx } from '../db/connect';
import type { Actor } from '../http/types';
import { collect, fitsLowerCased, validate, type FieldErrors } from '../http/forms';
import { HttpError, ValidationError, conflict, notFound } from '../http/errors';
import { hashPassword } from '../auth/passwords';
import { passwordProblem } from '../auth/passwordPolicy';
import * as audit from '../audit/service';
import * as roles from '../roles/repo';
import { assignmentBlocker } from '../roles/service';
import * as licenses from '../licenses/repo';
import { assertSeatAvailable } from '../licenses/service';
import * as assets from '../assets/repo';
import * as sessions from '../sessions/service';
import * as repo from './repo';
import * as clients from '../clients/repo';
import type { User } from './repo';
import { recordChange } from '../changes/service';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import { SUPERUSER_ROLE_KEY } from '../permissions/catalog';
import { policyFor, type AccountPolicy } from './policy';
import * as groups from '../groups/repo';

/** Text a person typed: trimmed, no control characters. */
const plainText = (label: string, max: number) =>
  Joi.string()
    .trim()
    .max(max)
    .custom(fitsLowerCased(max))
    .pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' })
    .label(label);

export const usernameSchema = Joi.string()
  .trim()
  .min(2)
  .max(64)
  .custom(fitsLowerCased(64))
  .pattern(/^[\p{L}\p{N}][\p{L}\p{N}._@-]*$/u, { name: 'may contain letters, digits, dots, dashes, underscores and @, and must start with a letter or digit' })
  .label('Username');

export const emailSchema = Joi.string().trim().max(254).custom(fitsLowerCased(254)).email({ tlds: { allow: false } }).label('Email');

const idField = (label: string) => Joi.number().integer().min(1).max(2147483647).empty('').label(label);

/** A provisioning directory's id for the account (SCIM externalId): kept exactly as sent; null clears it. */
const externalIdSchema = Joi.string().min(1).max(255).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).allow(null).label('External id');

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
  externalId: externalIdSchema,
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
  externalId: externalIdSchema,
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
  externalId?: string | null;
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
  /** Undefined: unchanged. */
  externalId?: string | null;
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
    ...(u.externalId ? { externalId: u.externalId } : {}),
    ...(groupIds ? { groupIds } : {}),
  };
}

async function requireUser(db: Conn, id: number): Promise<User> {
  const u = await repo.findById(db, id);
  if (!u) throw notFound('User');
  return u;
}

/** Throws the collected field messages, if any: every problem of a form is reported in one answer. */
function throwIfAny(fields: FieldErrors): void {
  if (Object.keys(fields).length) throw new ValidationError(fields);
}

const isSuperuser = (u: Pick<User, 'roleBuiltinKey'>) => u.roleBuiltinKey === SUPERUSER_ROLE_KEY;

/**
 * Refuses a change that would leave no active Superuser. Writes the Superuser guard first, so two
 * administrators removing the last two Superusers at once queue (one database) or conflict (Galera), and the
 * count that follows sees the other's commit.
 */
async function assertSuperuserRemains(trx: Tx, u: User, message: string, status = 409, field?: string): Promise<void> {
  if (!isSuperuser(u) || u.status !== 'active') return;
  await guard(trx, 'superusers');
  if ((await repo.countActiveSuperusers(trx, u.id)) === 0) {
    if (field) throw new ValidationError({ [field]: message }, message, status, 'last_superuser');
    throw new HttpError(status, 'last_superuser', message);
  }
}

/**
 * The field checks that need the database — a taken username or email, a role or license that does not
 * exist, groups that are gone — added to the schema's messages so the form shows them all at once.
 */
export async function checkReferences(
  db: Conn,
  fields: FieldErrors,
  input: { username?: unknown; email?: unknown; roleId?: unknown; licenseTypeId?: unknown; addGroupIds?: unknown; externalId?: unknown },
  exceptId?: number,
): Promise<void> {
  if (!fields.externalId && typeof input.externalId === 'string' && (await repo.externalIdTaken(db, input.externalId, exceptId))) {
    fields.externalId = 'Another user already has this external id.';
  }
  // The messages name the account that has it, as it is spelled there (names are compared ignoring case).
  const sameName = !fields.username && typeof input.username === 'string' && input.username ? await repo.findByUsername(db, input.username) : undefined;
  if (sameName) fields.username = `This username is taken: “${sameName.username}” already exists.`;
  if (!fields.email && typeof input.email === 'string' && input.email && (await repo.emailTaken(db, input.email, exceptId))) {
    const holder = await repo.findByEmail(db, input.email);
    fields.email = holder && holder.id !== exceptId ? `${holder.username} already has this email address.` : 'Another user already has this email address.';
  }
  if (!fields.roleId && typeof input.roleId === 'number' && !(await roles.findById(db, input.roleId))) fields.roleId = 'That role does not exist.';
  if (!fields.licenseTypeId && typeof input.licenseTypeId === 'number' && !(await licenses.findById(db, input.licenseTypeId))) {
    fields.licenseTypeId = 'That license type does not exist.';
  }
  const groupIds = Array.isArray(input.addGroupIds) ? [...new Set(input.addGroupIds as number[])] : [];
  if (!fields.addGroupIds && groupIds.length) {
    if ((await groups.countExisting(db, groupIds)) !== groupIds.length) fields.addGroupIds = 'One of the chosen groups no longer exists.';
  }
}

export function checkPassword(fields: FieldErrors, password: unknown, who: { username?: unknown; email?: unknown }, required: boolean): void {
  if (fields.password || typeof password !== 'string') return;
  if (!password) {
    if (required) fields.password = 'Password is required.';
    return;
  }
  const problem = passwordProblem(password, { username: typeof who.username === 'string' ? who.username : '', email: typeof who.email === 'string' ? who.email : '' });
  if (problem) fields.password = problem;
}

async function resolveRole(db: Conn, actor: Actor, roleId: number | undefined) {
  const role = roleId ? await roles.findById(db, roleId) : await roles.findDefault(db);
  if (!role) throw new ValidationError({ roleId: roleId ? 'That role does not exist.' : 'No role is marked as default; choose one.' });
  // The one rule for handing out roles (Superuser role, administration permissions) lives in the roles service.
  const blocker = await assignmentBlocker(db, actor, role);
  if (blocker) throw new ValidationError({ roleId: blocker }, blocker, 403);
  return role;
}

/**
 * Group memberships decide domain permissions: changing them for a group that carries domain permissions
 * takes both administration permissions (src/users/policy.ts).
 */
async function assertMembershipsChangeable(trx: Conn, policy: AccountPolicy, groupIds: number[]): Promise<void> {
  if (!groupIds.length) return;
  for (const g of await groups.permissionCounts(trx, groupIds)) {
    const blocker = await policy.membershipBlocker(g);
    if (blocker) throw new ValidationError({ addGroupIds: blocker.message }, blocker.message, 403);
  }
}

export interface CreateOptions {
  /**
   * A provisioned account (SCIM) may come without a password: it signs in by single sign-on (linked by
   * email) or sets one through a reset link; until then no password matches it.
   */
  passwordOptional?: boolean;
}

export async function createUser(db: Conn, actor: Actor, raw: unknown, scryptN: number, options: CreateOptions = {}): Promise<User> {
  const { value: input, fields } = collect<CreateUserInput>(createUserSchema, raw);
  checkPassword(fields, input.password, input, !options.passwordOptional);
  await checkReferences(db, fields, input);
  throwIfAny(fields);
  const passwordHash = input.password ? await hashPassword(input.password, scryptN) : null;
  return transaction(db, async (trx) => {
    const role = await resolveRole(trx, actor, input.roleId);
    const licenseTypeId = input.licenseTypeId ?? role.licenseTypeId;
    const groupIds = [...new Set(input.addGroupIds)];
    await assertMembershipsChangeable(trx, policyFor(trx, actor), groupIds);
    await assertSeatAvailable(trx, licenseTypeId);
    // A concurrent create with the same username or email fails on the unique key: the transaction
    // helper answers it with the same field message as the checks above.
    const id = await repo.insert(trx, {
      username: input.username,
      firstName: input.firstName,
      lastName: input.lastName,
      email: input.email,
      passwordHash,
      roleId: role.id,
      licenseTypeId,
      externalId: input.externalId ?? null,
    });
    await repo.addToGroups(trx, id, groupIds);
    await recordChange(trx, { kind: 'user', id });
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

/**
 * Saves the user form (or an API PATCH filled in with the current values). Returns the user unchanged — same
 * version, no audit event — when nothing differs from what is stored.
 */
export async function updateUser(db: Conn, actor: Actor, id: number, raw: unknown, scryptN: number): Promise<User> {
  const current = await requireUser(db, id);
  await policyFor(db, actor).assertMayChange(current);
  const { value: input, fields } = collect<UpdateUserInput>(updateUserSchema, raw);
  if (typeof input.password === 'string' && input.password && current.source === 'sso') {
    fields.password = 'This account signs in with single sign-on only; Gatehouse keeps no password for it.';
  }
  checkPassword(fields, input.password, { username: current.username, email: input.email }, false);
  await checkReferences(db, fields, { email: input.email, roleId: input.roleId, licenseTypeId: input.licenseTypeId, addGroupIds: input.addGroupIds, externalId: input.externalId }, id);
  throwIfAny(fields);
  const passwordHash = input.password ? await hashPassword(input.password, scryptN) : undefined;
  return transaction(db, async (trx) => {
    const before = await requireUser(trx, id);
    const policy = policyFor(trx, actor);
    await policy.assertMayChange(before);
    if (input.version !== undefined && input.version !== before.version) {
      throw conflict(`${before.username} was changed by someone else after you opened this page. The form now shows your input; the current values are listed above it. Save again to apply yours.`);
    }
    const beforeGroups = await repo.groupIdsOf(trx, id);
    const add = [...new Set(input.addGroupIds)].filter((g) => !beforeGroups.includes(g));
    const remove = [...new Set(input.removeGroupIds)].filter((g) => beforeGroups.includes(g) && !add.includes(g));
    const externalIdChanged = input.externalId !== undefined && input.externalId !== before.externalId;
    const changed =
      externalIdChanged ||
      input.firstName !== before.firstName ||
      input.lastName !== before.lastName ||
      input.email !== before.email ||
      input.roleId !== before.roleId ||
      input.licenseTypeId !== before.licenseTypeId ||
      !!passwordHash ||
      add.length > 0 ||
      remove.length > 0;
    if (!changed) return before;
    if (input.roleId !== before.roleId) {
      await resolveRole(trx, actor, input.roleId);
      if (isSuperuser(before)) {
        const role = await roles.findById(trx, input.roleId);
        if (role?.builtinKey !== SUPERUSER_ROLE_KEY) {
          await assertSuperuserRemains(trx, before, `${before.username} is the last active Superuser and must keep that role.`, 422, 'roleId');
        }
      }
    }
    if (input.licenseTypeId !== before.licenseTypeId) await assertSeatAvailable(trx, input.licenseTypeId);
    await assertMembershipsChangeable(trx, policy, [...add, ...remove]);
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
        ...(externalIdChanged ? { externalId: input.externalId } : {}),
      },
      before.version,
    );
    if (!ok) throw conflict(`${before.username} was changed by someone else while saving. Reload and try again.`);
    await repo.addToGroups(trx, id, add);
    await repo.removeFromGroups(trx, id, remove);
    await recordChange(trx, { kind: 'user', id });
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
    if (passwordHash) await sessions.endAllOf(trx, id);
    return after;
  });
}

export async function setStatus(db: Conn, actor: Actor, id: number, status: 'active' | 'deactivated'): Promise<User> {
  return transaction(db, async (trx) => {
    const before = await requireUser(trx, id);
    await policyFor(trx, actor).assertMayChange(before);
    if (before.status === status) return before;
    if (status === 'deactivated') await assertSuperuserRemains(trx, before, `${before.username} is the last active Superuser and cannot be deactivated.`);
    // Reactivating takes no seat: the license stayed assigned while the account was deactivated.
    await repo.update(trx, id, { status });
    await recordChange(trx, { kind: 'user', id });
    if (status === 'deactivated') await sessions.endAllOf(trx, id);
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
    await policyFor(trx, actor).assertMayChange(before);
    await repo.update(trx, id, { lockedUntil: null, failedLogins: 0 });
    await recordChange(trx, { kind: 'user', id });
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
    await policyFor(trx, actor).assertMayChange(user);
    const ended = await sessions.endAllOf(trx, id);
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
  const blocker = await policyFor(db, actor).blocker(u);
  if (blocker) return blocker;
  if (isSuperuser(u) && u.status === 'active' && (await repo.countActiveSuperusers(db, u.id)) === 0) {
    return new HttpError(409, 'last_superuser', `${u.username} is the last active Superuser and cannot be removed.`);
  }
  return null;
}

/**
 * Removes a user in one transaction: their assets move to another user or are deleted, their
 * memberships, tokens and sessions go, and the audit trail records what happened.
 */
export async function deleteUser(db: Conn, actor: Actor, id: number, raw: unknown): Promise<{ username: string; assets: number; mode: string }> {
  const input = validate<{ assets: 'none' | 'delete' | 'transfer'; transferTo: string }>(deleteUserSchema, raw);
  return transaction(db, async (trx) => {
    const user = await requireUser(trx, id);
    await policyFor(trx, actor).assertMayChange(user);
    await assertSuperuserRemains(trx, user, `${user.username} is the last active Superuser and cannot be removed.`);
    // Services act as their machine client's owner: removing the owner would silently cut them off.
    const clientsOwned = await clients.countByOwner(trx, id);
    if (clientsOwned > 0) {
      throw conflict(`${user.username} owns ${clientsOwned} machine client${clientsOwned === 1 ? '' : 's'}: give ${clientsOwned === 1 ? 'it' : 'them'} another owner or delete ${clientsOwned === 1 ? 'it' : 'them'} first (Settings → Machine clients).`);
    }
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
    await sessions.endAllOf(trx, id);
    await repo.remove(trx, id);
    await recordChange(trx, { kind: 'user', id });
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
