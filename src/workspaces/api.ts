/**
 * Workspaces over JSON:
 *   GET    /api/v1/workspaces?q=&parent=&limit=&offset=   flat list, each with its path and parentId
 *   POST   /api/v1/workspaces {name, parent?}              parent: path ("/Root/Sales") or id; default the root
 *   GET    /api/v1/workspaces/:id
 *   PATCH  /api/v1/workspaces/:id {name?, parent?, version?}   rename and/or move (no cycles)
 *   DELETE /api/v1/workspaces/:id[?version=]               refused (409) while it has children or assets
 */
import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, idParam, patch, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import type { Conn } from '../db/connect';
import * as repo from './repo';
import * as service from './service';
import type { Workspace } from './repo';

const manage = can(P.accessManage);

/**
 * Validates a JSON body strictly: anything but an object is malformed, and an unknown field is a 400 that
 * names it. Shared by the workspace and domain permission APIs.
 */
export function strictBody<T>(ctx: Koa.Context, schema: Joi.Schema): T {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return strictInput<T>(schema, b);
}

/** Strict validation of a query or body: a 400 whose message names the unknown or wrong fields. */
export function strictInput<T>(schema: Joi.Schema, input: unknown): T {
  try {
    return validate<T>(schema, input, { allowUnknown: false, status: 400 });
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    const unknown = Object.entries(e.fields)
      .filter(([, m]) => m.endsWith('is not a known field.'))
      .map(([k]) => k);
    const message = unknown.length ? `Unknown field${unknown.length === 1 ? '' : 's'}: ${unknown.join(', ')}.` : Object.values(e.fields).join(' ');
    throw new ValidationError(e.fields, message, 400);
  }
}

export function workspaceJson(w: Workspace, path: string) {
  return {
    id: w.id,
    name: w.name,
    path,
    parentId: w.parentId,
    version: w.version,
    createdAt: new Date(w.createdAt).toISOString(),
    updatedAt: new Date(w.updatedAt).toISOString(),
  };
}

/** A path (string) or an id (number, or a string of digits in a query) to a WorkspaceRef. */
function refOf(value: string | number): service.WorkspaceRef {
  if (typeof value === 'number') return { id: value };
  return { text: value };
}

async function resolveOr404(db: Conn, value: string | number, label: string) {
  const r = await service.resolveRef(db, refOf(value), label);
  if (!r.ok) throw new HttpError(404, 'workspace_not_found', r.message);
  return r;
}

const ref = Joi.alternatives()
  .try(Joi.number().integer().min(1).max(2147483647), Joi.string().trim().min(1).max(service.PATH_MAX))
  .messages({ 'alternatives.types': '{#label} must be a workspace path like /Root/Sales or a workspace id.' });

const listQuery = Joi.object({
  q: Joi.string().trim().max(100).allow('').label('q'),
  parent: Joi.string().trim().min(1).max(service.PATH_MAX).label('parent'),
  limit: Joi.number().integer().min(1).max(500).default(100).label('limit'),
  offset: Joi.number().integer().min(0).max(10_000_000).default(0).label('offset'),
});

async function list(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = strictInput<{ q?: string; parent?: string; limit: number; offset: number }>(listQuery, ctx.query);
  let parentId: number | undefined;
  if (q.parent) parentId = (await resolveOr404(db, /^\d{1,10}$/.test(q.parent) ? Number(q.parent) : q.parent, 'parent workspace')).workspace.id;
  const { rows, total } = await repo.listFlat(db, { q: q.q || undefined, parentId }, q.limit, q.offset);
  const paths = await repo.pathsOf(db, rows.map((r) => r.id));
  ctx.body = {
    items: rows.map((w) => workspaceJson(w, paths.get(w.id) ?? '')),
    total,
    limit: q.limit,
    offset: q.offset,
    nextOffset: q.offset + rows.length < total ? q.offset + rows.length : null,
  };
}

async function detailJson(db: Conn, id: number) {
  const info = await service.removalInfo(db, id);
  return { ...workspaceJson(info.workspace, info.path), children: info.children, assets: info.assets, permissions: info.permissions };
}

async function show(ctx: Koa.Context) {
  ctx.body = await detailJson(ctx.services.db, idParam(ctx));
}

const createBody = Joi.object({
  name: Joi.any().required().label('name'),
  parent: ref.label('parent'),
});

async function create(ctx: Koa.Context) {
  const { db } = ctx.services;
  const b = strictBody<{ name: unknown; parent?: string | number }>(ctx, createBody);
  const parent = b.parent === undefined ? { id: (await repo.findRoot(db)).id } : refOf(b.parent);
  const { workspace } = await service.createWorkspace(db, actorOf(ctx), { name: b.name, parent });
  ctx.status = 201;
  ctx.set('Location', `/api/v1/workspaces/${workspace.id}`);
  ctx.body = await detailJson(db, workspace.id);
}

const updateBody = Joi.object({
  name: Joi.any().label('name'),
  parent: ref.label('parent'),
  version: Joi.number().integer().min(1).max(2147483647).label('version'),
})
  .or('name', 'parent')
  .messages({ 'object.missing': 'Send name (to rename), parent (to move), or both.' });

async function update(ctx: Koa.Context) {
  const { db } = ctx.services;
  const id = idParam(ctx);
  if (!(await repo.findById(db, id))) throw notFound('Workspace');
  const b = strictBody<{ name?: unknown; parent?: string | number; version?: number }>(ctx, updateBody);
  await service.updateWorkspace(db, actorOf(ctx), id, { name: b.name, parent: b.parent === undefined ? undefined : refOf(b.parent), version: b.version });
  ctx.body = await detailJson(db, id);
}

const deleteQuery = Joi.object({ version: Joi.number().integer().min(1).max(2147483647).label('version') });

async function remove(ctx: Koa.Context) {
  const id = idParam(ctx);
  const q = strictInput<{ version?: number }>(deleteQuery, ctx.query);
  const result = await service.deleteWorkspace(ctx.services.db, actorOf(ctx), id, { version: q.version });
  ctx.body = { deleted: result.path, permissionsRemoved: result.permissionsRemoved };
}

export const apiRoutes = [
  get('/workspaces', manage, list),
  post('/workspaces', manage, create),
  get('/workspaces/:id', manage, show),
  patch('/workspaces/:id', manage, update),
  del('/workspaces/:id', manage, remove),
];
