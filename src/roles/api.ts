/** Roles over JSON: one definition per operation (src/api/operation.ts). */
import type Koa from 'koa';
import Joi from 'joi';
import { can, SUPERUSER } from '../http/routing';
import { ALL_PERMISSION_KEYS, P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import type { FieldErrors } from '../http/forms';
import type { Conn } from '../db/connect';
import { created, operation } from '../api/operation';
import { withApiFieldNames } from '../api/fieldNames';
import { component, count, flag, id, idParam, iso, list, offsetPage, page, paging, record, search, text, time, version } from '../api/schemas';
import * as repo from './repo';
import type { Role } from './repo';
import * as service from './service';

const manage = can(P.usersManage);
const TAG = 'Roles';

// ------------------------------------------------------------------------------------------------ schemas

const permissionKey = Joi.string()
  .valid(...ALL_PERMISSION_KEYS)
  .description('An application permission key.')
  .messages({ 'any.only': '{#label} is not a permission key ({#value}).' });
const roleRef = record({ id: id(), name: text() });
const RoleSchema = component(
  'Role',
  record(
    {
      id: id(),
      name: text(),
      description: text(),
      builtIn: flag('Built-in roles are read-only; clone one to make a variant.'),
      builtinKey: text('Key of a built-in role (e.g. `superuser`, `analyst`); null for a custom role.').allow(null),
      template: roleRef.allow(null),
      license: record({ key: text(), name: text() }, 'The license type users of this role take a seat of.'),
      isDefault: flag('New users (and users removed from a role) get the default role.'),
      version: version(),
      createdAt: time(),
      updatedAt: time(),
      permissions: list(permissionKey, 'Application permissions the role grants, sorted.'),
      userCount: count('Users with this role.'),
    },
    'A role: a set of application permissions and a license type.',
  ),
);
const RoleDeleted = component(
  'RoleDeleted',
  record({ deleted: text('The role name.'), usersMoved: count('Users moved to `movedTo`.'), movedTo: text('Name of the role the users moved to.').allow(null) }),
);
const RolePermissions = component('RolePermissions', record({ role: roleRef, permissions: list(permissionKey), version: version() }));
const RolePermissionsChange = component(
  'RolePermissionsChange',
  record({
    role: roleRef,
    permissions: list(permissionKey, 'The permissions now granted, sorted.'),
    granted: list(permissionKey, 'Newly granted.'),
    revoked: list(permissionKey, 'Newly revoked.'),
    version: version(),
  }),
);
const RoleUser = component(
  'RoleUser',
  record({ id: id(), username: text(), firstName: text(), lastName: text(), email: text(), status: text().valid('active', 'deactivated'), license: text('License key.').allow(null) }),
);
const RoleAssignment = component(
  'RoleAssignment',
  record({
    role: roleRef,
    added: count('Users given this role.'),
    removed: count('Users taken off this role.'),
    removedMovedTo: roleRef.allow(null),
    unchanged: count('Usernames already in the wanted state.'),
    userCount: count('Users with this role now.'),
    version: version(),
  }),
);

async function roleJson(db: Conn, r: Role, permissions: string[], userCount: number) {
  const template = r.templateRoleId ? await repo.findById(db, r.templateRoleId) : undefined;
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    builtIn: !!r.builtinKey,
    builtinKey: r.builtinKey,
    template: template ? { id: template.id, name: template.name } : null,
    license: { key: r.licenseKey, name: r.licenseName },
    isDefault: r.isDefault,
    version: r.version,
    createdAt: iso(r.createdAt),
    updatedAt: iso(r.updatedAt),
    permissions: [...permissions].sort(),
    userCount,
  };
}

const detail = async (db: Conn, r: Role) => roleJson(db, r, await repo.permissionsOf(db, r.id), await repo.userCount(db, r.id));

const rolePath = Joi.object<{ id: number }>({ id: idParam('Role') });

async function loadRole(ctx: Koa.Context, params: { id: number }): Promise<Role> {
  const r = await repo.findById(ctx.services.db, params.id);
  if (!r) throw notFound('Role');
  return r;
}

const nameField = service.roleNameSchema.description('1–100 characters, no control characters, `<` or `>`. Unique (case-insensitive).');
const descriptionField = service.createRoleSchema.extract('description').description('Up to 500 characters.');
const usernames = (description: string) => Joi.array().items(Joi.string().trim().min(1).max(64)).max(20_000).description(description);

// ---------------------------------------------------------------------------------------------- the list

const listRoles = operation({
  operationId: 'listRoles',
  method: 'GET',
  path: '/roles',
  tag: TAG,
  summary: 'List roles',
  description: 'Roles by name with their permissions and user counts; search and offset pagination.',
  requires: manage,
  query: Joi.object<{ q: string; limit: number; offset: number }>({ q: search('role name or description').default(''), ...paging(100) }),
  responses: { 200: { description: 'A page of roles.', schema: page('RolePage', RoleSchema) } },
  async handler(ctx, { query }) {
    const { db } = ctx.services;
    const all = await repo.search(db, query.q);
    const rows = all.slice(query.offset, query.offset + query.limit);
    const [counts, perms] = await Promise.all([repo.userCounts(db), repo.permissionMap(db)]);
    const items = await Promise.all(rows.map((r) => roleJson(db, r, [...(perms.get(r.id) ?? [])], counts.get(r.id) ?? 0)));
    return offsetPage(items, all.length, query);
  },
});

// --------------------------------------------------------------------------------------------- create

interface CreateBody {
  name: string;
  description?: string;
  template?: number | string;
  cloneOf?: number;
}

/** The built-in role a `template` names (id, key or name). */
async function templateOf(db: Conn, t: unknown): Promise<Role | undefined> {
  const builtIns = await repo.builtIns(db);
  if (typeof t === 'number') return builtIns.find((r) => r.id === t);
  if (typeof t !== 'string') return undefined;
  const wanted = t.trim().toLowerCase();
  return builtIns.find((r) => r.builtinKey === wanted || r.name.toLowerCase() === wanted);
}

const createRole = operation({
  operationId: 'createRole',
  method: 'POST',
  path: '/roles',
  tag: TAG,
  summary: 'Create a role',
  description:
    "Send `template` (a built-in role's id, key or name: the new role starts with its permissions and license type) or `cloneOf` (the id of any role to copy), not both.",
  requires: manage,
  body: Joi.object<CreateBody>({
    name: nameField.required(),
    description: descriptionField,
    template: Joi.alternatives(id('Built-in role id.'), Joi.string().trim().min(1).max(100).description('Built-in role key or name.')).description('The built-in role to start from.'),
    cloneOf: id('Id of the role to copy.'),
  })
    .xor('template', 'cloneOf')
    .messages({
      'object.missing': 'Send "template" (a built-in role: id, key or name) or "cloneOf" (the id of a role to copy).',
      'object.xor': 'Send either "template" or "cloneOf", not both.',
    }),
  example: { name: 'Regional Analyst', description: 'Analysts without uploads', template: 'analyst' },
  responses: { 201: { description: 'Created.', schema: RoleSchema, headers: { Location: { description: 'The URL of the new role.', required: true } } } },
  errors: {
    403: 'Without the permission, or the role would grant administration permissions the caller lacks.',
    422: 'Neither or both of `template` and `cloneOf`; the name is invalid or taken; the template or the role to copy does not exist.',
  },
  async check(ctx, { body }) {
    const { db } = ctx.services;
    const fields: FieldErrors = {};
    if (body.template !== undefined && !(await templateOf(db, body.template))) {
      const builtIns = await repo.builtIns(db);
      fields.template = `"${String(body.template)}" is not a built-in role. Use one of: ${builtIns.map((r) => `${r.builtinKey} (id ${r.id})`).join(', ')}.`;
    }
    if (typeof body.cloneOf === 'number' && !(await repo.findById(db, body.cloneOf))) fields.cloneOf = `There is no role with id ${body.cloneOf}.`;
    return fields;
  },
  async handler(ctx, { body }) {
    const { db } = ctx.services;
    const details = { name: body.name, description: body.description };
    const cloneOf = body.cloneOf;
    const role =
      cloneOf !== undefined
        ? await withApiFieldNames({ source: 'cloneOf' }, () => service.cloneRole(db, actorOf(ctx), cloneOf, details))
        : await withApiFieldNames({ templateRoleId: 'template' }, async () =>
            service.createRole(db, actorOf(ctx), { ...details, templateRoleId: (await templateOf(db, body.template))!.id }),
          );
    return created(ctx, `/api/v1/roles/${role.id}`, await detail(db, role));
  },
});

const setDefaultRole = operation({
  operationId: 'setDefaultRole',
  method: 'PUT',
  path: '/roles/default',
  tag: TAG,
  summary: 'Set the default role',
  description: 'New users get the default role. Exactly one role is the default.',
  requires: manage,
  body: Joi.object<{ role: number }>({ role: id('The id of the role to make the default.').required() }),
  example: { role: 4 },
  responses: { 200: { description: 'The new default role.', schema: RoleSchema } },
  errors: {
    403: 'Without the permission, or the role grants permissions the caller lacks.',
    409: 'The Superuser role cannot be the default.',
    422: 'There is no role with this id.',
  },
  async check(ctx, { body }): Promise<FieldErrors> {
    return typeof body.role === 'number' && !(await repo.findById(ctx.services.db, body.role)) ? { role: `There is no role with id ${body.role}.` } : {};
  },
  async handler(ctx, { body }) {
    const { db } = ctx.services;
    return detail(db, await service.setDefaultRole(db, actorOf(ctx), body.role));
  },
});

// ------------------------------------------------------------------------------------------- one role

const getRole = operation({
  operationId: 'getRole',
  method: 'GET',
  path: '/roles/:id',
  tag: TAG,
  summary: 'Get a role',
  description: 'One role with its permissions and user count.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  responses: { 200: { description: 'The role.', schema: RoleSchema } },
  handler: (ctx, { target }) => detail(ctx.services.db, target),
});

const updateRole = operation({
  operationId: 'updateRole',
  method: 'PATCH',
  path: '/roles/:id',
  tag: TAG,
  summary: 'Rename or describe a role',
  description: 'Changes the fields sent; the others keep their values. Built-in roles are read-only (409). Permissions change with `PUT /roles/{id}/permissions`.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  body: Joi.object<{ name?: string; description?: string; version?: number }>({ name: nameField, description: descriptionField, version: version('The version you read.') }),
  example: { description: 'Analysts of the EMEA region', version: 1 },
  responses: { 200: { description: 'The role after the change.', schema: RoleSchema } },
  errors: { 409: 'A built-in role, or the role was changed meanwhile (stale `version`).', 422: 'The name is invalid or taken.' },
  async handler(ctx, { body, target }) {
    const { db } = ctx.services;
    const saved = await service.updateRole(db, actorOf(ctx), target.id, { name: body.name ?? target.name, description: body.description ?? target.description, version: body.version });
    return detail(db, saved);
  },
});

const deleteRole = operation({
  operationId: 'deleteRole',
  method: 'DELETE',
  path: '/roles/:id',
  tag: TAG,
  summary: 'Delete a role',
  description: 'Removes a custom role. Its users move to the role given by `moveTo` (required when it has users), in one transaction.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  query: Joi.object<{ moveTo?: number }>({ moveTo: id('Id of the role the users move to.') }),
  responses: { 200: { description: 'Deleted.', schema: RoleDeleted } },
  errors: {
    403: 'Without the permission, or `moveTo` grants permissions the caller lacks.',
    409: 'A built-in role or the default role cannot be removed.',
    422: 'The role has users and `moveTo` is missing, is this role, or does not exist.',
  },
  async handler(ctx, { query, target }) {
    const result = await service.deleteRole(ctx.services.db, actorOf(ctx), target.id, query.moveTo ?? null);
    return { deleted: result.name, usersMoved: result.moved, movedTo: result.movedTo };
  },
});

// --------------------------------------------------------------------------------------- permissions

const getRolePermissions = operation({
  operationId: 'getRolePermissions',
  method: 'GET',
  path: '/roles/:id/permissions',
  tag: TAG,
  summary: 'Permissions of a role',
  description: 'The application permission keys the role grants.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  responses: { 200: { description: 'The permissions.', schema: RolePermissions } },
  async handler(ctx, { target: role }) {
    return { role: { id: role.id, name: role.name }, permissions: (await repo.permissionsOf(ctx.services.db, role.id)).sort(), version: role.version };
  },
});

const replaceRolePermissions = operation({
  operationId: 'replaceRolePermissions',
  method: 'PUT',
  path: '/roles/:id/permissions',
  tag: TAG,
  summary: 'Replace the permissions of a role',
  description: 'Grants exactly the permissions listed. Only a Superuser may change role permissions; built-in roles are read-only.',
  requires: SUPERUSER,
  params: rolePath,
  load: loadRole,
  body: Joi.object<{ permissions: string[]; version?: number }>({
    permissions: Joi.array().items(permissionKey).max(200).required().label('permissions').description('The complete list of permission keys.'),
    version: version('The version you read.'),
  }),
  example: { permissions: ['models.view', 'models.edit', 'api.access'], version: 2 },
  responses: { 200: { description: 'The permissions now granted, with what changed.', schema: RolePermissionsChange } },
  errors: {
    403: 'The caller is not a Superuser.',
    409: 'A built-in role, or the role was changed meanwhile (stale `version`).',
    422: 'An unknown permission key.',
  },
  async handler(ctx, { body, target }) {
    const r = await service.replacePermissions(ctx.services.db, actorOf(ctx), target.id, body.permissions, body.version);
    return { role: { id: r.role.id, name: r.role.name }, permissions: [...r.permissions].sort(), granted: r.added, revoked: r.removed, version: r.role.version };
  },
});

// --------------------------------------------------------------------------------------------- users

const listRoleUsers = operation({
  operationId: 'listRoleUsers',
  method: 'GET',
  path: '/roles/:id/users',
  tag: TAG,
  summary: 'Users of a role',
  description: 'The users holding the role; search and offset pagination.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  query: Joi.object<{ q: string; limit: number; offset: number }>({ q: search('username, names, email').default(''), ...paging(100) }),
  responses: { 200: { description: 'A page of users.', schema: page('RoleUserPage', RoleUser, { role: roleRef }) } },
  async handler(ctx, { query, target: role }) {
    const { rows, total } = await repo.usersOfRole(ctx.services.db, role.id, query.q, query.limit, query.offset);
    const items = rows.map((r) => ({
      id: Number(r.id),
      username: String(r.username),
      firstName: String(r.first_name),
      lastName: String(r.last_name),
      email: String(r.email),
      status: String(r.status),
      license: (r.license_key as string) ?? null,
    }));
    return { role: { id: role.id, name: role.name }, ...offsetPage(items, total, query) };
  },
});

/** Every username in `add` and `remove` that names no user, per field: nothing changes when one does not exist. */
async function unknownUsernames(db: Conn, body: Record<string, unknown>): Promise<{ ids: Map<string, number>; fields: FieldErrors }> {
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').map((x) => x.trim()) : []);
  const ids = await repo.idsOfUsernames(db, [...strings(body.add), ...strings(body.remove)]);
  const fields: FieldErrors = {};
  for (const key of ['add', 'remove'] as const) {
    const unknown = strings(body[key]).filter((u) => !ids.has(u.toLowerCase()));
    if (unknown.length) fields[key] = `Unknown user${unknown.length === 1 ? '' : 's'}: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ''}.`;
  }
  return { ids, fields };
}

const assignRoleUsers = operation({
  operationId: 'assignRoleUsers',
  method: 'POST',
  path: '/roles/:id/users',
  tag: TAG,
  summary: 'Assign users to a role',
  description: 'Gives the role to the users in `add`; users in `remove` move to the default role. Users keep their license type. All or nothing.',
  requires: manage,
  params: rolePath,
  load: loadRole,
  body: Joi.object<{ add?: string[]; remove?: string[] }>({
    add: usernames('Usernames to give this role.'),
    remove: usernames('Usernames to take off this role (they get the default role).'),
  })
    .or('add', 'remove')
    .messages({ 'object.missing': 'Send "add" and/or "remove": lists of usernames.' }),
  example: { add: ['jane.doe'], remove: ['sam.lee'] },
  responses: { 200: { description: 'What changed.', schema: RoleAssignment } },
  errors: {
    403: 'Without the permission; assigning the Superuser role or a role with permissions the caller lacks; changing your own role.',
    409: 'Removing users from the default role (they would have nowhere to go), or leaving no active Superuser.',
    422: 'Neither `add` nor `remove`; a username names no user (nothing is changed); no default role exists for removed users.',
  },
  check: async (ctx, { body }) => (await unknownUsernames(ctx.services.db, body)).fields,
  async handler(ctx, { body, target: role }) {
    const { db } = ctx.services;
    const { ids } = await unknownUsernames(db, body);
    const toIds = (names: string[] = []) => names.map((u) => ids.get(u.toLowerCase())!);
    const r = await service.assignUsers(db, actorOf(ctx), role.id, { add: toIds(body.add), remove: toIds(body.remove) });
    return {
      role: { id: r.role.id, name: r.role.name },
      added: r.added,
      removed: r.removed,
      removedMovedTo: r.removed && r.defaultRole ? { id: r.defaultRole.id, name: r.defaultRole.name } : null,
      unchanged: r.skipped,
      userCount: await repo.userCount(db, role.id),
      version: r.role.version,
    };
  },
});

export const operations = [listRoles, createRole, setDefaultRole, getRole, updateRole, deleteRole, getRolePermissions, replaceRolePermissions, listRoleUsers, assignRoleUsers];
