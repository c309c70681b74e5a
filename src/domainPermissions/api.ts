/**
 * Domain permissions over JSON, in the shape the check API uses:
 *   {"id","group","effect","domain","workspace","transitive","operations","level","priority"}
 *
 *   GET    /api/v1/groups/:name/permissions?limit=&offset=
 *   POST   /api/v1/groups/:name/permissions {effect, domain, workspace, transitive?, operations, level?, priority?}
 *   GET    /api/v1/permissions/:id            (ETag: its version)
 *   PATCH  /api/v1/permissions/:id {…any of the above}   If-Match: the ETag, to refuse a stale edit
 *   DELETE /api/v1/permissions/:id
 */
import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, idParam, patch, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { HttpError, notFound } from '../http/errors';
import { MAX_LEVEL } from '../access/catalog';
import { strictBody, strictInput } from '../workspaces/api';
import { PATH_MAX } from '../workspaces/service';
import * as repo from './repo';
import * as service from './service';
import type { PermissionInput, PermissionView } from './service';

const manage = can(P.accessManage);

async function findGroup(ctx: Koa.Context) {
  const name = String((ctx as unknown as { params: Record<string, string> }).params.name ?? '');
  const g = name.length <= 100 ? await repo.findGroupByName(ctx.services.db, name) : undefined;
  if (!g) throw new HttpError(404, 'group_not_found', `There is no group "${name.slice(0, 100)}".`);
  return g;
}

function send(ctx: Koa.Context, v: PermissionView, status = 200) {
  ctx.status = status;
  ctx.set('ETag', `"${v.permission.version}"`);
  ctx.body = service.permissionJson(v.permission, v.workspacePath);
}

const fields = {
  effect: Joi.string().trim().lowercase().valid('allow', 'deny').label('effect').messages({ 'any.only': 'effect must be "allow" or "deny".' }),
  domain: Joi.string().trim().min(1).max(100).label('domain'),
  workspace: Joi.alternatives()
    .try(Joi.number().integer().min(1).max(2147483647), Joi.string().trim().min(1).max(PATH_MAX))
    .label('workspace')
    .messages({ 'alternatives.types': 'workspace must be a path like /Root/Sales or a workspace id.' }),
  transitive: Joi.boolean().strict().label('transitive'),
  operations: Joi.string()
    .trim()
    .uppercase()
    .max(4)
    .allow('')
    .pattern(/^[RMCD]*$/, { name: 'is a selection of the letters R, M, C and D, e.g. "RM"' })
    .label('operations'),
  level: Joi.number().integer().strict().min(0).max(MAX_LEVEL).label('level'),
  priority: Joi.string().trim().lowercase().valid('high', 'low').label('priority').messages({ 'any.only': 'priority must be "high" or "low".' }),
};

const createBody = Joi.object({
  ...fields,
  effect: fields.effect.required(),
  domain: fields.domain.required(),
  workspace: fields.workspace.required(),
  operations: fields.operations.required(),
});

const patchBody = Joi.object(fields).min(1).messages({ 'object.min': 'Send at least one attribute to change.' });

interface Body {
  effect?: string;
  domain?: string;
  workspace?: string | number;
  transitive?: boolean;
  operations?: string;
  level?: number;
  priority?: string;
}

function toInput(b: Body, current?: PermissionView): PermissionInput {
  const p = current?.permission;
  const workspace = b.workspace ?? p?.workspaceId;
  return {
    effect: b.effect ?? p?.effect,
    domain: { name: b.domain ?? p?.domainName },
    workspace: typeof workspace === 'number' ? { id: workspace } : { text: workspace },
    transitive: b.transitive ?? p?.transitive ?? false,
    ops: b.operations ?? (p ? service.opsString(p.ops) : ''),
    // Changing the domain away from Processes resets an unspecified level rather than carrying it over.
    level: b.level ?? (p && b.domain === undefined ? p.level : 0),
    priority: b.priority ?? p?.priority ?? 'low',
  };
}

const listQuery = Joi.object({
  limit: Joi.number().integer().min(1).max(500).default(100).label('limit'),
  offset: Joi.number().integer().min(0).max(10_000_000).default(0).label('offset'),
});

async function list(ctx: Koa.Context) {
  const group = await findGroup(ctx);
  const q = strictInput<{ limit: number; offset: number }>(listQuery, ctx.query);
  const { rows, total } = await service.listForGroup(ctx.services.db, group.id, q.limit, q.offset);
  ctx.body = {
    group: group.name,
    items: rows.map((v) => service.permissionJson(v.permission, v.workspacePath)),
    total,
    limit: q.limit,
    offset: q.offset,
    nextOffset: q.offset + rows.length < total ? q.offset + rows.length : null,
  };
}

async function create(ctx: Koa.Context) {
  const group = await findGroup(ctx);
  const b = strictBody<Body>(ctx, createBody);
  const v = await service.createPermission(ctx.services.db, actorOf(ctx), group.id, toInput(b));
  ctx.set('Location', `/api/v1/permissions/${v.permission.id}`);
  send(ctx, v, 201);
}

async function load(ctx: Koa.Context): Promise<PermissionView> {
  const v = await service.findView(ctx.services.db, idParam(ctx));
  if (!v) throw notFound('Permission');
  return v;
}

async function show(ctx: Koa.Context) {
  send(ctx, await load(ctx));
}

/** If-Match: "<version>" (or W/"…", or *) — the version the caller last read. */
function ifMatch(ctx: Koa.Context): number | undefined {
  const h = ctx.get('If-Match').trim();
  if (!h || h === '*') return undefined;
  const m = /^(?:W\/)?"?(\d{1,10})"?$/.exec(h);
  if (!m) throw new HttpError(400, 'bad_if_match', 'If-Match must be the ETag of the permission, e.g. "3".');
  return Number(m[1]);
}

async function update(ctx: Koa.Context) {
  const current = await load(ctx);
  const b = strictBody<Body>(ctx, patchBody);
  const v = await service.updatePermission(ctx.services.db, actorOf(ctx), current.permission.id, toInput(b, current), ifMatch(ctx));
  send(ctx, v);
}

async function remove(ctx: Koa.Context) {
  const current = await load(ctx);
  const expected = ifMatch(ctx);
  if (expected !== undefined && expected !== current.permission.version) {
    throw new HttpError(409, 'conflict', `Permission #${current.permission.id} was changed since you read it (now version ${current.permission.version}).`);
  }
  const v = await service.deletePermission(ctx.services.db, actorOf(ctx), current.permission.id);
  ctx.body = { deleted: service.permissionJson(v.permission, v.workspacePath) };
}

export const apiRoutes = [
  get('/groups/:name/permissions', manage, list),
  post('/groups/:name/permissions', manage, create),
  get('/permissions/:id', manage, show),
  patch('/permissions/:id', manage, update),
  del('/permissions/:id', manage, remove),
];

