import Joi from 'joi';
import type { Db, Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { collect, fitsLowerCased, validate } from '../http/forms';
import { HttpError, ValidationError, conflict, forbidden, notFound } from '../http/errors';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import { SUPERUSER_ROLE_KEY, isAppPermission, type AppPermission } from '../permissions/catalog';
import { permissionLabel, policyFor, quotedList } from '../users/policy';
import * as repo from './repo';
import { recordChange, recordChanges } from '../changes/service';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import type { Role } from './repo';

/**
 * Roles: create from a template, clone, rename, permissions, the default role, removal and assignment.
 *
 * Who may do what (PRODUCT.md section 2, and the escalation rules decided for issue 4):
 * - Built-in roles are read-only (viewable and clonable); they and the default role cannot be removed.
 * - Only a Superuser may change a role's permissions, assign the Superuser role, or change the role of a
 *   Superuser.
 * - The administration permissions (`users.manage`, `access.manage`, `api.access`) can only be handed out by
 *   someone who holds them: a non-Superuser may not create, clone or assign a role that grants an
 *   administration permission their own role lacks. So an Administrator can never mint a role with
 *   "Access API", nor one that is effectively Superuser, nor create a role from the Superuser template or
 *   clone the Superuser role.
 * - Nobody changes their own role (no self-demotion, no self-promotion), and the last active Superuser
 *   keeps that role.
 */

export { ADMIN_PERMISSIONS, permissionLabel } from '../users/policy';

export const roleNameSchema = Joi.string()
  .trim()
  .min(1)
  .max(100)
  .custom(fitsLowerCased(100))
  .pattern(/^[^\p{Cc}<>]*$/u, { name: 'must not contain control characters, < or >' })
  .label('Name');

const descriptionSchema = Joi.string()
  .trim()
  .max(500)
  .allow('')
  .pattern(/^(?:[^\p{Cc}]|[\n\r\t])*$/u, { name: 'must not contain control characters' })
  .default('')
  .label('Description');

const permissionList = Joi.array().items(Joi.string().max(64)).max(200).label('Permissions');
const idField = (label: string) => Joi.number().integer().min(1).max(2147483647).label(label);

export const isSuperuserRole = (r: Pick<Role, 'builtinKey'>) => r.builtinKey === SUPERUSER_ROLE_KEY;

/** What the audit trail keeps of a role. */
function auditView(r: Role, permissions: AppPermission[], templateName?: string | null) {
  return {
    name: r.name,
    description: r.description,
    ...(templateName !== undefined ? { template: templateName } : {}),
    license: r.licenseName,
    isDefault: r.isDefault,
    permissions: [...permissions].sort(),
  };
}

async function requireRole(db: Conn, id: number, lock = false): Promise<Role> {
  const r = lock ? await repo.findForUpdate(db, id) : await repo.findById(db, id);
  if (!r) throw notFound('Role');
  return r;
}

function readOnly(r: Role): HttpError {
  return new HttpError(409, 'read_only', `${r.name} is a built-in role and cannot be changed. Clone it to make a variant you can edit.`);
}

/**
 * Why this actor may not give this role to users (user forms, role assignment, role removal, the default
 * role, the API), or null. The one place the rule lives.
 */
export async function assignmentBlocker(db: Conn, actor: Actor, role: Role): Promise<string | null> {
  if (actor.isSuperuser) return null;
  if (isSuperuserRole(role)) return 'Only a Superuser may assign the Superuser role.';
  const missing = await policyFor(db, actor).missing(await repo.permissionsOf(db, role.id));
  if (missing.length) {
    return `Only a Superuser may assign the role ${role.name}: it grants ${quotedList(missing.map(permissionLabel))}, which your own role does not include.`;
  }
  return null;
}

/** Why this actor may not create a role from this template / clone this role, or null. */
export async function creationBlocker(db: Conn, actor: Actor, source: Role, how: 'template' | 'clone'): Promise<string | null> {
  if (actor.isSuperuser) return null;
  if (isSuperuserRole(source)) {
    return how === 'template' ? 'Only a Superuser may create a role from the Superuser template.' : 'Only a Superuser may clone the Superuser role.';
  }
  const missing = await policyFor(db, actor).missing(await repo.permissionsOf(db, source.id));
  if (missing.length) {
    return `Only a Superuser may ${how === 'template' ? 'use the template' : 'clone'} ${source.name}: it grants ${quotedList(missing.map(permissionLabel))}, which your own role does not include.`;
  }
  return null;
}

function checkPermissionKeys(keys: string[]): AppPermission[] {
  const unknown = keys.filter((k) => !isAppPermission(k));
  if (unknown.length) throw new ValidationError({ permissions: `Unknown permission${unknown.length === 1 ? '' : 's'}: ${unknown.slice(0, 5).join(', ')}.` });
  return [...new Set(keys)] as AppPermission[];
}

/** The message for a taken role name, naming the role that has it as it is spelled there. */
const nameTakenMessage = (existing: string) => `A role named “${existing}” already exists (names are compared ignoring case).`;

async function assertNameFree(db: Conn, name: string, exceptId?: number): Promise<void> {
  const existing = await repo.takenName(db, name, exceptId);
  if (existing !== null) throw new ValidationError({ name: nameTakenMessage(existing) });
}

// --------------------------------------------------------------------------------------------- create / clone

export const createRoleSchema = Joi.object({
  name: roleNameSchema.required(),
  description: descriptionSchema,
  templateRoleId: idField('Template').required().messages({ 'any.required': 'Choose a role template.', 'number.base': 'Choose a role template.' }),
});

/** Creates a role from a built-in template: it starts with the template's permissions and license type. */
export async function createRole(db: Db, actor: Actor, raw: unknown): Promise<Role> {
  const { value: input, fields } = collect<{ name: string; description: string; templateRoleId: number }>(createRoleSchema, raw);
  // Every problem at once: a taken name and a wrong template come back together.
  const existing = fields.name ? null : await repo.takenName(db, input.name);
  if (existing !== null) fields.name = nameTakenMessage(existing);
  if (!fields.templateRoleId && !(await repo.findById(db, input.templateRoleId))?.builtinKey) fields.templateRoleId = 'Choose one of the built-in roles as the template.';
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return transaction(db, async (trx) => {
    const template = await repo.findById(trx, input.templateRoleId);
    if (!template || !template.builtinKey) throw new ValidationError({ templateRoleId: 'Choose one of the built-in roles as the template.' });
    const blocker = await creationBlocker(trx, actor, template, 'template');
    if (blocker) throw new ValidationError({ templateRoleId: blocker }, blocker, 403);
    await assertNameFree(trx, input.name);
    const permissions = await repo.permissionsOf(trx, template.id);
    const id = await repo.insert(trx, { name: input.name, description: input.description, templateRoleId: template.id, licenseTypeId: template.licenseTypeId });
    await repo.grant(trx, id, permissions);
    await recordChange(trx, { kind: 'role', id });
    const created = (await repo.findById(trx, id))!;
    await audit.record(trx, actor, {
      action: 'role.create',
      objectType: 'role',
      objectId: id,
      objectLabel: created.name,
      after: auditView(created, permissions, template.name),
    });
    return created;
  });
}

/** "Analyst (copy)", or "Analyst (copy 2)" … when taken; always within the 100 characters of a name. */
export async function uniqueCloneName(db: Conn, name: string): Promise<string> {
  const stem = (n: string, suffix: string) => `${n.slice(0, 100 - suffix.length).trimEnd()}${suffix}`;
  const taken = new Set(await repo.namesStartingWith(db, name.slice(0, 60).trimEnd()));
  for (let i = 1; i < 10_000; i++) {
    const candidate = stem(name, i === 1 ? ' (copy)' : ` (copy ${i})`);
    if (!taken.has(candidate.toLowerCase())) return candidate;
  }
  return stem(name, ` (copy ${Date.now()})`);
}

export const cloneRoleSchema = Joi.object({
  name: roleNameSchema.required(),
  description: descriptionSchema,
});

/** Copies a role: same permissions, template and license type, under a new name. */
export async function cloneRole(db: Db, actor: Actor, sourceId: number, raw: unknown): Promise<Role> {
  const input = validate<{ name: string; description: string }>(cloneRoleSchema, raw);
  return transaction(db, async (trx) => {
    const source = await requireRole(trx, sourceId);
    const blocker = await creationBlocker(trx, actor, source, 'clone');
    if (blocker) throw new ValidationError({ source: blocker }, blocker, 403);
    await assertNameFree(trx, input.name);
    const permissions = await repo.permissionsOf(trx, source.id);
    const templateRoleId = source.builtinKey ? source.id : source.templateRoleId;
    const id = await repo.insert(trx, { name: input.name, description: input.description, templateRoleId, licenseTypeId: source.licenseTypeId });
    await repo.grant(trx, id, permissions);
    // Servers hold roles in memory (src/access/state.ts): without this the copy's holders would find no role.
    await recordChange(trx, { kind: 'role', id });
    const created = (await repo.findById(trx, id))!;
    await audit.record(trx, actor, {
      action: 'role.clone',
      objectType: 'role',
      objectId: id,
      objectLabel: created.name,
      before: { clonedFrom: source.name },
      after: auditView(created, permissions),
    });
    return created;
  });
}

// ------------------------------------------------------------------------------------------------ update

export const updateRoleSchema = Joi.object({
  name: roleNameSchema.required(),
  description: descriptionSchema,
  /** Absent: permissions are not part of this save (an Administrator's form, or an API PATCH). */
  permissions: permissionList,
  version: Joi.number().integer().min(1).max(2147483647).label('Version'),
});

export interface UpdateRoleInput {
  name: string;
  description: string;
  permissions?: string[];
  version?: number;
}

/**
 * Renames / redescribes a role and, for a Superuser, sets its permissions. A save based on an old version
 * is refused (the caller shows the current state), so no concurrent change is silently lost.
 */
export async function updateRole(db: Db, actor: Actor, id: number, raw: unknown): Promise<Role> {
  const input = validate<UpdateRoleInput>(updateRoleSchema, raw);
  const wanted = input.permissions === undefined ? undefined : checkPermissionKeys(input.permissions);
  return transaction(db, async (trx) => {
    const before = await requireRole(trx, id, true);
    if (before.builtinKey) throw readOnly(before);
    if (input.version !== undefined && input.version !== before.version) {
      throw conflict(`${before.name} was changed by someone else after you opened it. The current values are shown; your input was kept where possible. Save again to apply yours.`);
    }
    await assertNameFree(trx, input.name, id);
    const had = await repo.permissionsOf(trx, id);
    let add: AppPermission[] = [];
    let remove: AppPermission[] = [];
    if (wanted) {
      add = wanted.filter((k) => !had.includes(k));
      remove = had.filter((k) => !wanted.includes(k));
      if ((add.length || remove.length) && !actor.isSuperuser) {
        throw new ValidationError({ permissions: 'Only a Superuser may change role permissions.' }, 'Only a Superuser may change role permissions.', 403);
      }
    }
    // Nothing differs: the role keeps its version and no audit event is written.
    if (input.name === before.name && input.description === before.description && !add.length && !remove.length) return before;
    const ok = await repo.update(trx, id, { name: input.name, description: input.description }, before.version);
    if (!ok) throw conflict(`${before.name} was changed by someone else while saving. Reload and try again.`);
    await repo.grant(trx, id, add);
    await repo.revoke(trx, id, remove);
    await recordChange(trx, { kind: 'role', id });
    const after = (await repo.findById(trx, id))!;
    const now = had.filter((k) => !remove.includes(k)).concat(add);
    await audit.record(trx, actor, {
      action: 'role.update',
      objectType: 'role',
      objectId: id,
      objectLabel: after.name,
      before: auditView(before, had),
      after: auditView(after, now),
    });
    return after;
  });
}

type PermissionChange = { role: Role; added: AppPermission[]; removed: AppPermission[]; permissions: AppPermission[] };

/** Inside a transaction holding the role: applies grants and revokes, bumps the version, audits. */
async function applyPermissionChanges(trx: Conn, actor: Actor, role: Role, add: AppPermission[], remove: AppPermission[]): Promise<PermissionChange> {
  const had = await repo.permissionsOf(trx, role.id);
  const added = await repo.grant(trx, role.id, add);
  const removed = await repo.revoke(trx, role.id, remove.filter((k) => !add.includes(k)));
  const permissions = had.filter((k) => !removed.includes(k)).concat(added);
  if (added.length || removed.length) {
    await repo.bumpVersion(trx, role.id);
    await recordChange(trx, { kind: 'role', id: role.id });
    await audit.record(trx, actor, {
      action: 'role.permissions',
      objectType: 'role',
      objectId: role.id,
      objectLabel: role.name,
      before: { permissions: [...had].sort() },
      after: { permissions: [...permissions].sort(), granted: added, revoked: removed },
    });
  }
  return { role: (await repo.findById(trx, role.id))!, added, removed, permissions };
}

/**
 * Grants and revokes permissions of a role (the matrix: one cell, or a column's changes). Each change is
 * an idempotent set/unset, so two Superusers editing different cells never undo each other. Superuser only.
 */
export async function changePermissions(db: Db, actor: Actor, id: number, changes: { add: string[]; remove: string[] }): Promise<PermissionChange> {
  if (!actor.isSuperuser) throw forbidden('Only a Superuser may change role permissions.');
  const add = checkPermissionKeys(changes.add);
  const remove = checkPermissionKeys(changes.remove);
  return transaction(db, async (trx) => {
    const role = await requireRole(trx, id, true);
    if (role.builtinKey) throw readOnly(role);
    return applyPermissionChanges(trx, actor, role, add, remove);
  });
}

/** Replaces a role's permission set (API PUT). With `version`, refuses when the role changed meanwhile. */
export async function replacePermissions(db: Db, actor: Actor, id: number, keys: string[], version?: number): Promise<PermissionChange> {
  if (!actor.isSuperuser) throw forbidden('Only a Superuser may change role permissions.');
  const wanted = checkPermissionKeys(keys);
  return transaction(db, async (trx) => {
    const role = await requireRole(trx, id, true);
    if (role.builtinKey) throw readOnly(role);
    if (version !== undefined && version !== role.version) {
      throw conflict(`${role.name} was changed by someone else (it is at version ${role.version}, you sent ${version}). Read it again and retry.`);
    }
    const had = await repo.permissionsOf(trx, id);
    return applyPermissionChanges(trx, actor, role, wanted.filter((k) => !had.includes(k)), had.filter((k) => !wanted.includes(k)));
  });
}

// ------------------------------------------------------------------------------------------ default role

/** Makes this role the default for new users (exactly one role carries it), in one transaction. */
export async function setDefaultRole(db: Db, actor: Actor, id: number): Promise<Role> {
  return transaction(db, async (trx) => {
    // Exactly one default role: concurrent changes of it queue on (or, on Galera, conflict over) its guard.
    await guard(trx, 'default_role');
    const role = await requireRole(trx, id, true);
    if (role.isDefault) return role;
    if (isSuperuserRole(role)) {
      throw new HttpError(409, 'not_allowed', 'The Superuser role cannot be the default for new users: every new account would be a Superuser.');
    }
    const blocker = await assignmentBlocker(trx, actor, role);
    if (blocker) throw forbidden(blocker);
    const previous = await repo.findDefault(trx);
    await repo.setDefault(trx, id);
    await audit.record(trx, actor, {
      action: 'role.set_default',
      objectType: 'role',
      objectId: id,
      objectLabel: role.name,
      before: { defaultRole: previous?.name ?? null },
      after: { defaultRole: role.name },
    });
    return (await repo.findById(trx, id))!;
  });
}

// -------------------------------------------------------------------------------------------------- remove

/** Why this role cannot be removed by this actor, or null. */
export async function removalBlocker(db: Conn, actor: Actor, role: Role): Promise<string | null> {
  if (role.builtinKey) return `${role.name} is a built-in role and cannot be removed.`;
  if (role.isDefault) return `${role.name} is the default role for new users. Make another role the default first.`;
  if (actor.id !== null) {
    const me = await users.findById(db, actor.id);
    if (me?.roleId === role.id) return `You hold the role ${role.name} yourself, and nobody may change their own role. Ask another administrator to remove it.`;
  }
  return null;
}

/**
 * Removes a role in one transaction: its holders move to `moveToId` (required when it has holders), its
 * permissions go, and one audit event records it.
 */
export async function deleteRole(db: Db, actor: Actor, id: number, moveToId?: number | null): Promise<{ name: string; moved: number; movedTo: string | null }> {
  return transaction(db, async (trx) => {
    const role = await requireRole(trx, id, true);
    const blocker = await removalBlocker(trx, actor, role);
    if (blocker) throw new HttpError(409, 'cannot_remove', blocker);
    const holders = await repo.userCount(trx, id);
    let target: Role | undefined;
    let moved = 0;
    if (holders > 0) {
      // Removing the role changes the role of every holder: they must be the actor's to change.
      const missing = await policyFor(trx, actor).missing(await repo.permissionsOf(trx, id));
      if (missing.length) {
        throw new HttpError(403, 'forbidden', `Only a Superuser may remove ${role.name} while users hold it: it grants ${quotedList(missing.map(permissionLabel))}, which your own role does not include.`);
      }
      const noun = holders === 1 ? '1 user holds' : `${holders.toLocaleString('en-US')} users hold`;
      if (!moveToId) throw new ValidationError({ moveTo: `${noun} ${role.name}: choose the role they move to.` });
      if (moveToId === id) throw new ValidationError({ moveTo: 'Choose a role other than the one being removed.' });
      target = await repo.findById(trx, moveToId);
      if (!target) throw new ValidationError({ moveTo: 'That role no longer exists; choose another.' });
      const assignBlock = await assignmentBlocker(trx, actor, target);
      if (assignBlock) throw new ValidationError({ moveTo: assignBlock }, assignBlock, 403);
      moved = await repo.moveAllUsers(trx, id, target.id);
      await repo.bumpVersion(trx, target.id);
    }
    const permissions = await repo.permissionsOf(trx, id);
    await repo.remove(trx, id);
    // Its holders (moved to the target) are reloaded with it.
    await recordChange(trx, { kind: 'role', id });
    await audit.record(trx, actor, {
      action: 'role.delete',
      objectType: 'role',
      objectId: id,
      objectLabel: role.name,
      before: auditView(role, permissions),
      after: target ? { usersMoved: moved, movedTo: target.name } : undefined,
    });
    return { name: role.name, moved, movedTo: target?.name ?? null };
  });
}

// ------------------------------------------------------------------------------------------ assign users

export interface AssignmentResult {
  role: Role;
  added: number;
  removed: number;
  defaultRole: Role | null;
  /** Pending ids that no longer exist or had already moved: nothing to do for them. */
  skipped: number;
}

function names(list: Array<{ username: string }>, max = 5): string {
  const shown = list.slice(0, max).map((h) => h.username);
  return list.length > max ? `${shown.join(', ')} and ${list.length - max} more` : shown.join(', ');
}

/**
 * Applies the moves of the assignment dual list in one transaction: `add` users get this role (leaving
 * their current one), `remove` users who still hold it move to the default role. The moves are deltas on
 * the current state, so a concurrent save is merged, never undone. One audit event; the role's version
 * is bumped.
 */
export async function assignUsers(db: Db, actor: Actor, roleId: number, pending: { add: number[]; remove: number[] }): Promise<AssignmentResult> {
  const addIds = [...new Set(pending.add)];
  const addSet = new Set(addIds);
  const removeIds = [...new Set(pending.remove)].filter((id) => !addSet.has(id));
  return transaction(db, async (trx) => {
    const role = await requireRole(trx, roleId, true);
    const addHolders = await repo.holders(trx, addIds);
    const removeHolders = await repo.holders(trx, removeIds);
    const adding = addHolders.filter((h) => h.roleId !== role.id);
    const removing = removeHolders.filter((h) => h.roleId === role.id);
    const skipped = addIds.length - adding.length + (removeIds.length - removing.length);

    if (actor.id !== null && [...adding, ...removing].some((h) => h.id === actor.id)) {
      const m = 'You cannot change your own role. Ask another administrator.';
      throw new ValidationError({ users: m }, m, 403);
    }
    if (adding.length) {
      const blocker = await assignmentBlocker(trx, actor, role);
      if (blocker) throw new ValidationError({ users: blocker }, blocker, 403);
    }
    const superusersLeaving = [...adding.filter((h) => h.roleBuiltinKey === SUPERUSER_ROLE_KEY), ...(isSuperuserRole(role) ? removing : [])];
    if (superusersLeaving.length && !actor.isSuperuser) {
      const m = `Only a Superuser may change the role of a Superuser (${names(superusersLeaving)}).`;
      throw new ValidationError({ users: m }, m, 403);
    }
    // Who may change whom: a holder of administration permissions the actor lacks is not theirs to move.
    const blocked = await policyFor(trx, actor).blockers([...adding, ...removing]);
    if (blocked.size) {
      const first = blocked.values().next().value!;
      const m = `Nothing was saved: you may not change the role of ${names([...adding, ...removing].filter((h) => blocked.has(h.id)))}. ${first.message}`;
      throw new ValidationError({ users: m }, m, 403);
    }
    if (superusersLeaving.length) await guard(trx, 'superusers');
    let defaultRole: Role | null = null;
    if (removing.length) {
      defaultRole = (await repo.findDefault(trx)) ?? null;
      if (!defaultRole) throw new ValidationError({ users: 'No role is marked as the default, so removed users would have no role. Mark a default role first.' });
      if (defaultRole.id === role.id) {
        const m = `${role.name} is the default role: users removed from it would have nowhere to go. Assign them to another role instead (that moves them out of this one).`;
        throw new ValidationError({ users: m }, m, 409);
      }
      const blocker = await assignmentBlocker(trx, actor, defaultRole);
      if (blocker) throw new ValidationError({ users: blocker }, blocker, 403);
    }

    const added = await repo.setRoleOfUsers(trx, adding.map((h) => h.id), role.id);
    const removed = defaultRole ? await repo.setRoleOfUsers(trx, removing.map((h) => h.id), defaultRole.id, role.id) : 0;
    await recordChanges(trx, 'user', [...adding, ...removing].map((h) => h.id));
    if (superusersLeaving.length && (await users.countActiveSuperusers(trx)) === 0) {
      const m = 'This would leave no active Superuser. Keep at least one active user in the Superuser role.';
      throw new ValidationError({ users: m }, m, 409);
    }
    if (added || removed) {
      await repo.bumpVersion(trx, role.id);
      if (defaultRole && removed) await repo.bumpVersion(trx, defaultRole.id);
      const from: Record<string, number> = {};
      for (const h of adding) from[h.roleName ?? '(none)'] = (from[h.roleName ?? '(none)'] ?? 0) + 1;
      await audit.record(trx, actor, {
        action: 'role.assign_users',
        objectType: 'role',
        objectId: role.id,
        objectLabel: role.name,
        before: adding.length ? { previousRoles: from } : undefined,
        after: {
          added: adding.map((h) => h.username),
          removed: removing.map((h) => h.username),
          ...(defaultRole && removing.length ? { removedMovedTo: defaultRole.name } : {}),
        },
      });
    }
    return { role: (await repo.findById(trx, role.id))!, added, removed, defaultRole, skipped };
  });
}
