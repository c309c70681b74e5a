import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, patch, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import * as roles from '../roles/repo';
import * as licenses from '../licenses/repo';
import * as sessions from '../sessions/repo';
import * as repo from './repo';
import * as service from './service';
import type { User } from './repo';
import type { Conn } from '../db/connect';
import { withApiFieldNames } from '../api/fieldNames';

const manage = can(P.usersManage);

/** The service's field names → this API's, so that errors name the field the client sent. */
const API_FIELDS = { roleId: 'role', licenseTypeId: 'license', addGroupIds: 'groups', removeGroupIds: 'groups', groupIds: 'groups' };

export function userJson(u: User, extra: { groups?: Array<{ id: number; name: string }>; online?: boolean } = {}) {
  const now = Date.now();
  return {
    id: u.id,
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    role: u.roleId ? { id: u.roleId, name: u.roleName } : null,
    license: u.licenseTypeId ? { id: u.licenseTypeId, key: u.licenseKey, name: u.licenseName } : null,
    status: u.status,
    locked: u.lockedUntil !== null && u.lockedUntil > now,
    lockedUntil: u.lockedUntil ? new Date(u.lockedUntil).toISOString() : null,
    source: u.source,
    createdAt: new Date(u.createdAt).toISOString(),
    updatedAt: new Date(u.updatedAt).toISOString(),
    lastLoginAt: u.lastLoginAt ? new Date(u.lastLoginAt).toISOString() : null,
    lastActivityAt: u.lastActivityAt ? new Date(u.lastActivityAt).toISOString() : null,
    version: u.version,
    ...extra,
  };
}

function body(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

async function findUser(ctx: Koa.Context): Promise<User> {
  const name = String((ctx as unknown as { params: Record<string, string> }).params.username ?? '');
  const u = name.length <= 64 ? await repo.findByUsername(ctx.services.db, name) : undefined;
  if (!u) throw notFound('User');
  return u;
}

/** Maps names in API payloads (role name, license key, group names) to the ids the service takes. */
async function resolveRefs(db: Conn, input: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { ...input };
  delete out.role;
  delete out.license;
  delete out.groups;
  if (input.role !== undefined) {
    const r = await roles.findByNameLower(db, String(input.role).toLowerCase());
    if (!r) throw new ValidationError({ role: `There is no role "${String(input.role)}".` });
    out.roleId = r.id;
  }
  if (input.license !== undefined) {
    const all = await licenses.all(db);
    const l = all.find((x) => x.key === input.license || x.name.toLowerCase() === String(input.license).toLowerCase());
    if (!l) throw new ValidationError({ license: `There is no license "${String(input.license)}". Use one of: ${all.map((x) => x.key).join(', ')}.` });
    out.licenseTypeId = l.id;
  }
  if (input.groups !== undefined) {
    const names = (input.groups as string[]).map((g) => g.toLowerCase());
    const rows = names.length ? await db('groups').whereIn('name_lower', names).select('id', 'name_lower') : [];
    const missing = names.filter((n) => !rows.some((r: { name_lower: string }) => r.name_lower === n));
    if (missing.length) throw new ValidationError({ groups: `Unknown group(s): ${missing.join(', ')}.` });
    out.groupIds = rows.map((r: { id: number }) => r.id);
  }
  return out;
}

const ref = Joi.string().trim().min(1).max(100);

const createBody = Joi.object({
  username: Joi.any(),
  firstName: Joi.any(),
  lastName: Joi.any(),
  email: Joi.any(),
  password: Joi.string().max(1024).required().label('password'),
  role: ref.label('role'),
  license: ref.label('license'),
  groups: Joi.array().items(ref).max(5000).label('groups'),
});

const updateBody = Joi.object({
  firstName: Joi.any(),
  lastName: Joi.any(),
  email: Joi.any(),
  password: Joi.string().max(1024).label('password'),
  role: ref.label('role'),
  license: ref.label('license'),
  groups: Joi.array().items(ref).max(5000).label('groups'),
  version: Joi.number().integer().min(1).label('version'),
});

const listQuery = Joi.object({
  q: Joi.string().trim().max(100).allow(''),
  role: ref,
  license: ref,
  group: ref,
  status: Joi.string().valid('active', 'deactivated', 'locked'),
  online: Joi.boolean(),
  source: Joi.string().valid('local', 'sso'),
  limit: Joi.number().integer().min(1).max(500).default(50),
  // No default here: `offset` and `cursor` exclude each other, and a default would count as given.
  offset: Joi.number().integer().min(0).max(10_000_000),
  cursor: Joi.string().max(400).pattern(/^[A-Za-z0-9_-]+$/).label('cursor'),
  sort: Joi.string().valid(...Object.keys(repo.USER_SORTS)).default('username'),
  dir: Joi.string().valid('asc', 'desc').default('asc'),
}).oxor('cursor', 'offset');

/**
 * The opaque cursor of the users list: the sort and the last key of the page (keyset pagination, so the
 * millionth user is as quick to reach as the first). Only for the unique sort keys, username and email.
 */
function encodeCursor(sort: string, dir: string, key: string): string {
  return Buffer.from(JSON.stringify({ s: sort, d: dir, k: key })).toString('base64url');
}

function decodeCursor(cursor: string, sort: string, dir: string): string {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { s?: unknown; d?: unknown; k?: unknown };
    if (c.s === sort && c.d === dir && typeof c.k === 'string' && c.k.length <= 254) return c.k;
  } catch {
    // fall through
  }
  throw new ValidationError({ cursor: 'This cursor is not valid for this sort order: start again without it.' }, 'Invalid cursor.', 400);
}

async function listUsers(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = validate<Record<string, any>>(listQuery, ctx.query, { allowUnknown: false, status: 400 });
  q.offset ??= 0;
  // A filter naming no role or license is a 404, like the group filter below (and the other lists' filters).
  const refs = await resolveRefs(db, { role: q.role, license: q.license }).catch((e: unknown) => {
    throw e instanceof ValidationError ? new ValidationError(e.fields, undefined, 404) : e;
  });
  let groupId: number | undefined;
  if (q.group) {
    const g = await db('groups').where('name_lower', String(q.group).toLowerCase()).first('id');
    if (!g) throw new ValidationError({ group: `There is no group "${q.group}".` }, undefined, 404);
    groupId = g.id;
  }
  const keyset = repo.UNIQUE_SORTS.has(q.sort);
  if (q.cursor && !keyset) throw new ValidationError({ cursor: 'Cursor pagination needs sort=username or sort=email; use offset with other sorts.' }, 'Invalid cursor.', 400);
  const after = q.cursor ? decodeCursor(q.cursor, q.sort, q.dir) : undefined;
  const { rows, total } = await repo.list(
    db,
    { q: q.q, roleId: refs.roleId as number | undefined, licenseTypeId: refs.licenseTypeId as number | undefined, groupId, status: q.status, online: q.online, source: q.source },
    q.sort,
    q.dir,
    q.limit + 1,
    after === undefined ? q.offset : 0,
    Date.now(),
    after,
  );
  const more = rows.length > q.limit;
  rows.splice(q.limit);
  const last = rows[rows.length - 1];
  const lastKey = last ? (q.sort === 'email' ? last.email : last.username).toLowerCase() : undefined;
  const online = await sessions.onlineUserIds(db, rows.map((r) => r.id), Date.now());
  ctx.body = {
    items: rows.map((r) => ({
      id: r.id,
      username: r.username,
      firstName: r.firstName,
      lastName: r.lastName,
      email: r.email,
      role: r.roleName,
      license: r.licenseName,
      status: r.status,
      locked: r.locked,
      online: online.has(r.id),
      source: r.source,
      lastLoginAt: r.lastLoginAt ? new Date(r.lastLoginAt).toISOString() : null,
      createdAt: new Date(r.createdAt).toISOString(),
    })),
    total,
    limit: q.limit,
    // With a cursor, rows are counted from the cursor: nothing is skipped after it.
    offset: after === undefined ? q.offset : 0,
    nextOffset: after === undefined && more ? q.offset + rows.length : null,
    nextCursor: keyset && more && lastKey !== undefined ? encodeCursor(q.sort, q.dir, lastKey) : null,
  };
}

async function getUser(ctx: Koa.Context) {
  const u = await findUser(ctx);
  const db = ctx.services.db;
  ctx.body = userJson(u, { groups: await repo.groupsOf(db, u.id), online: (await sessions.onlineUserIds(db, [u.id], Date.now())).has(u.id) });
}

async function createUser(ctx: Koa.Context) {
  const { db, config } = ctx.services;
  const input = validate<Record<string, unknown>>(createBody, body(ctx), { allowUnknown: false, status: 400 });
  const refs = await resolveRefs(db, input);
  const u = await withApiFieldNames(API_FIELDS, () => service.createUser(db, actorOf(ctx), { ...refs, addGroupIds: refs.groupIds ?? [] }, config.scryptN));
  ctx.status = 201;
  ctx.set('Location', `/api/v1/users/${encodeURIComponent(u.username)}`);
  ctx.body = userJson(u, { groups: await repo.groupsOf(db, u.id) });
}

async function updateUser(ctx: Koa.Context) {
  const { db, config } = ctx.services;
  const current = await findUser(ctx);
  const input = validate<Record<string, unknown>>(updateBody, body(ctx), { allowUnknown: false, status: 400 });
  const refs = await resolveRefs(db, input);
  // PATCH: fields not sent keep their values.
  const groupsNow = await repo.groupIdsOf(db, current.id);
  const wanted = (refs.groupIds as number[] | undefined) ?? groupsNow;
  const u = await withApiFieldNames(API_FIELDS, () => service.updateUser(
    db,
    actorOf(ctx),
    current.id,
    {
      firstName: refs.firstName ?? current.firstName,
      lastName: refs.lastName ?? current.lastName,
      email: refs.email ?? current.email,
      password: refs.password ?? '',
      roleId: refs.roleId ?? current.roleId,
      licenseTypeId: refs.licenseTypeId ?? current.licenseTypeId,
      addGroupIds: wanted.filter((g) => !groupsNow.includes(g)),
      removeGroupIds: groupsNow.filter((g) => !wanted.includes(g)),
      version: refs.version,
    },
    config.scryptN,
  ));
  ctx.body = userJson(u, { groups: await repo.groupsOf(db, u.id) });
}

async function deleteUser(ctx: Koa.Context) {
  const u = await findUser(ctx);
  const q = validate<{ assets?: string; transferTo?: string }>(
    Joi.object({ assets: Joi.string().valid('delete', 'transfer'), transferTo: Joi.string().max(64) }),
    ctx.query,
    { allowUnknown: false, status: 400 },
  );
  const result = await service.deleteUser(ctx.services.db, actorOf(ctx), u.id, { assets: q.assets ?? 'none', transferTo: q.transferTo ?? '' });
  ctx.body = { deleted: result.username, assets: result.assets, disposition: result.mode };
}

function statusAction(run: (ctx: Koa.Context, u: User) => Promise<{ sessionsEnded: number } | void>) {
  return async (ctx: Koa.Context) => {
    const u = await findUser(ctx);
    // These actions take no fields: one sent is refused (400, named) rather than silently dropped.
    validate(Joi.object({}), body(ctx), { allowUnknown: false, status: 400 });
    const extra = await run(ctx, u);
    const fresh = (await repo.findById(ctx.services.db, u.id))!;
    ctx.body = { ...userJson(fresh), ...(typeof extra === 'object' && extra ? extra : {}) };
  };
}

export const apiRoutes = [
  get('/users', manage, listUsers),
  post('/users', manage, createUser),
  get('/users/:username', manage, getUser),
  patch('/users/:username', manage, updateUser),
  del('/users/:username', manage, deleteUser),
  // setStatus returns the repo row (with its password hash): the runner must not hand it on as extra fields.
  post('/users/:username/deactivate', manage, statusAction(async (ctx, u) => void (await service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'deactivated')))),
  post('/users/:username/reactivate', manage, statusAction(async (ctx, u) => void (await service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'active')))),
  post('/users/:username/unlock', manage, statusAction((ctx, u) => service.unlock(ctx.services.db, actorOf(ctx), u.id))),
  post(
    '/users/:username/end-sessions',
    manage,
    statusAction(async (ctx, u) => ({ sessionsEnded: await service.endSessions(ctx.services.db, actorOf(ctx), u.id) })),
  ),
];
