import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, idParam, patch, post, put, SUPERUSER } from '../http/routing';
import { ALL_PERMISSION_KEYS, P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import type { Conn } from '../db/connect';
import * as repo from './repo';
import type { Role } from './repo';
import * as service from './service';
import { withApiFieldNames } from '../api/fieldNames';

const manage = can(P.usersManage);

const iso = (ms: number) => new Date(ms).toISOString();

async function roleJson(db: Conn, r: Role, extra: Record<string, unknown> = {}) {
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
    ...extra,
  };
}

async function detail(db: Conn, r: Role) {
  return roleJson(db, r, { permissions: (await repo.permissionsOf(db, r.id)).sort(), userCount: await repo.userCount(db, r.id) });
}

function body(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

async function findRole(ctx: Koa.Context): Promise<Role> {
  const r = await repo.findById(ctx.services.db, idParam(ctx));
  if (!r) throw notFound('Role');
  return r;
}

const strict = { allowUnknown: false, status: 400 } as const;
const id = Joi.number().integer().min(1).max(2147483647);
const page = {
  limit: Joi.number().integer().min(1).max(500).default(100),
  offset: Joi.number().integer().min(0).max(10_000_000).default(0),
};

async function listRoles(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = validate<{ q: string; limit: number; offset: number }>(Joi.object({ q: Joi.string().trim().max(100).allow('').default(''), ...page }), ctx.query, strict);
  const all = await repo.search(db, q.q);
  const rows = all.slice(q.offset, q.offset + q.limit);
  const [counts, perms] = await Promise.all([repo.userCounts(db), repo.permissionMap(db)]);
  ctx.body = {
    items: await Promise.all(rows.map((r) => roleJson(db, r, { permissions: [...(perms.get(r.id) ?? [])].sort(), userCount: counts.get(r.id) ?? 0 }))),
    total: all.length,
    limit: q.limit,
    offset: q.offset,
    nextOffset: q.offset + rows.length < all.length ? q.offset + rows.length : null,
  };
}

const createBody = Joi.object({
  name: Joi.any(),
  description: Joi.any(),
  template: Joi.alternatives(id, Joi.string().trim().min(1).max(100)).label('template'),
  cloneOf: id.label('cloneOf'),
}).xor('template', 'cloneOf').messages({
  'object.missing': 'Send "template" (a built-in role: id, key or name) or "cloneOf" (the id of a role to copy).',
  'object.xor': 'Send either "template" or "cloneOf", not both.',
});

async function createRole(ctx: Koa.Context) {
  const { db } = ctx.services;
  const input = validate<{ name?: unknown; description?: unknown; template?: number | string; cloneOf?: number }>(createBody, body(ctx), strict);
  let role: Role;
  if (input.cloneOf !== undefined) {
    if (!(await repo.findById(db, input.cloneOf))) throw new ValidationError({ cloneOf: `There is no role with id ${input.cloneOf}.` });
    const cloneOf = input.cloneOf;
    role = await withApiFieldNames({ source: 'cloneOf' }, () => service.cloneRole(db, actorOf(ctx), cloneOf, { name: input.name, description: input.description }));
  } else {
    const t = input.template!;
    const builtIns = await repo.builtIns(db);
    const template =
      typeof t === 'number' ? builtIns.find((r) => r.id === t) : builtIns.find((r) => r.builtinKey === t.toLowerCase() || r.name.toLowerCase() === t.toLowerCase());
    if (!template) {
      throw new ValidationError({ template: `"${String(t)}" is not a built-in role. Use one of: ${builtIns.map((r) => `${r.builtinKey} (id ${r.id})`).join(', ')}.` });
    }
    role = await withApiFieldNames({ templateRoleId: 'template' }, () =>
      service.createRole(db, actorOf(ctx), { name: input.name, description: input.description, templateRoleId: template.id }),
    );
  }
  ctx.status = 201;
  ctx.set('Location', `/api/v1/roles/${role.id}`);
  ctx.body = await detail(db, role);
}

async function getRole(ctx: Koa.Context) {
  ctx.body = await detail(ctx.services.db, await findRole(ctx));
}

async function patchRole(ctx: Koa.Context) {
  const { db } = ctx.services;
  const current = await findRole(ctx);
  const input = validate<{ name?: string; description?: string; version?: number }>(
    Joi.object({ name: Joi.any(), description: Joi.any(), version: id.label('version') }),
    body(ctx),
    strict,
  );
  const saved = await service.updateRole(db, actorOf(ctx), current.id, {
    name: input.name ?? current.name,
    description: input.description ?? current.description,
    version: input.version,
  });
  ctx.body = await detail(db, saved);
}

async function deleteRole(ctx: Koa.Context) {
  const role = await findRole(ctx);
  const q = validate<{ moveTo?: number }>(Joi.object({ moveTo: id.label('moveTo') }), ctx.query, strict);
  const result = await service.deleteRole(ctx.services.db, actorOf(ctx), role.id, q.moveTo ?? null);
  ctx.body = { deleted: result.name, usersMoved: result.moved, movedTo: result.movedTo };
}

async function getPermissions(ctx: Koa.Context) {
  const role = await findRole(ctx);
  ctx.body = { role: { id: role.id, name: role.name }, permissions: (await repo.permissionsOf(ctx.services.db, role.id)).sort(), version: role.version };
}

async function putPermissions(ctx: Koa.Context) {
  const role = await findRole(ctx);
  const input = validate<{ permissions: string[]; version?: number }>(
    Joi.object({
      permissions: Joi.array()
        .items(Joi.string().valid(...ALL_PERMISSION_KEYS))
        .max(200)
        .required()
        .label('permissions')
        .messages({ 'any.only': '{#label} holds an unknown permission key ({#value}).' }),
      version: id.label('version'),
    }),
    body(ctx),
    strict,
  );
  const r = await service.replacePermissions(ctx.services.db, actorOf(ctx), role.id, input.permissions, input.version);
  ctx.body = { role: { id: r.role.id, name: r.role.name }, permissions: [...r.permissions].sort(), granted: r.added, revoked: r.removed, version: r.role.version };
}

async function getUsers(ctx: Koa.Context) {
  const role = await findRole(ctx);
  const q = validate<{ q: string; limit: number; offset: number }>(Joi.object({ q: Joi.string().trim().max(100).allow('').default(''), ...page }), ctx.query, strict);
  const { rows, total } = await repo.usersOfRole(ctx.services.db, role.id, q.q, q.limit, q.offset);
  ctx.body = {
    role: { id: role.id, name: role.name },
    items: rows.map((r) => ({
      id: Number(r.id),
      username: String(r.username),
      firstName: String(r.first_name),
      lastName: String(r.last_name),
      email: String(r.email),
      status: String(r.status),
      license: (r.license_key as string) ?? null,
    })),
    total,
    limit: q.limit,
    offset: q.offset,
    nextOffset: q.offset + rows.length < total ? q.offset + rows.length : null,
  };
}

const usernames = Joi.array().items(Joi.string().trim().min(1).max(64)).max(20_000);

async function postUsers(ctx: Koa.Context) {
  const { db } = ctx.services;
  const role = await findRole(ctx);
  const raw = validate<{ add?: string[]; remove?: string[] }>(
    Joi.object({ add: usernames.label('add'), remove: usernames.label('remove') }).or('add', 'remove').messages({
      'object.missing': 'Send "add" and/or "remove": lists of usernames.',
    }),
    body(ctx),
    strict,
  );
  const input = { add: raw.add ?? [], remove: raw.remove ?? [] };
  const ids = await repo.idsOfUsernames(db, [...input.add, ...input.remove]);
  const fields: Record<string, string> = {};
  for (const key of ['add', 'remove'] as const) {
    const unknown = input[key].filter((u) => !ids.has(u.toLowerCase()));
    if (unknown.length) fields[key] = `Unknown user${unknown.length === 1 ? '' : 's'}: ${unknown.slice(0, 10).join(', ')}${unknown.length > 10 ? ` and ${unknown.length - 10} more` : ''}.`;
  }
  if (Object.keys(fields).length) throw new ValidationError(fields, 'Some usernames do not exist; nothing was changed.');
  const toIds = (list: string[]) => list.map((u) => ids.get(u.toLowerCase())!);
  const r = await service.assignUsers(db, actorOf(ctx), role.id, { add: toIds(input.add), remove: toIds(input.remove) });
  ctx.body = {
    role: { id: r.role.id, name: r.role.name },
    added: r.added,
    removed: r.removed,
    removedMovedTo: r.removed && r.defaultRole ? { id: r.defaultRole.id, name: r.defaultRole.name } : null,
    unchanged: r.skipped,
    userCount: await repo.userCount(db, role.id),
    version: r.role.version,
  };
}

async function putDefault(ctx: Koa.Context) {
  const { db } = ctx.services;
  const input = validate<{ role: number }>(Joi.object({ role: id.required().label('role') }), body(ctx), strict);
  if (!(await repo.findById(db, input.role))) throw new ValidationError({ role: `There is no role with id ${input.role}.` });
  ctx.body = await detail(db, await service.setDefaultRole(db, actorOf(ctx), input.role));
}

export const apiRoutes = [
  get('/roles', manage, listRoles),
  post('/roles', manage, createRole),
  put('/roles/default', manage, putDefault),
  get('/roles/:id', manage, getRole),
  patch('/roles/:id', manage, patchRole),
  del('/roles/:id', manage, deleteRole),
  get('/roles/:id/permissions', manage, getPermissions),
  put('/roles/:id/permissions', SUPERUSER, putPermissions),
  get('/roles/:id/users', manage, getUsers),
  post('/roles/:id/users', manage, postUsers),
];
