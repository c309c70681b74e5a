import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, idParam, patch, post, put } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, notFound } from '../http/errors';
import * as workspaces from '../workspaces/repo';
import * as users from '../users/repo';
import * as groups from '../groups/repo';
import type { WorkspaceRef } from '../workspaces/service';
import * as repo from './repo';
import * as service from './service';
import { withApiFieldNames } from '../api/fieldNames';
import { ASSET_KINDS, SHARE_ACCESS, type Asset } from './repo';

const manage = can(P.accessManage);

async function assetJson(ctx: Koa.Context, a: Asset) {
  const db = ctx.services.db;
  return {
    id: a.id,
    kind: a.kind,
    name: a.name,
    workspace: (await workspaces.pathOf(db, a.workspaceId)) ?? null,
    workspaceId: a.workspaceId,
    owner: a.ownerUsername,
    shares: (await repo.sharesOf(db, a.id)).map((s) => ({ group: s.groupName, access: s.access })),
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
  };
}

function body(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

/** A workspace given as a path ("/Root/Sales") or an id. */
function workspaceRef(value: unknown): WorkspaceRef {
  return typeof value === 'number' ? { id: value } : { text: String(value ?? '') };
}

const workspaceField = Joi.alternatives(Joi.string().max(2000), Joi.number().integer().min(1)).label('workspace');

async function load(ctx: Koa.Context): Promise<Asset> {
  const a = await repo.findById(ctx.services.db, idParam(ctx));
  if (!a) throw notFound('Asset');
  return a;
}

async function list(ctx: Koa.Context) {
  const q = validate<{ q?: string; kind?: repo.AssetKind; owner?: string; group?: string; workspace?: string; limit: number; offset: number }>(
    Joi.object({
      q: Joi.string().trim().max(200).allow(''),
      kind: Joi.string().valid(...ASSET_KINDS),
      owner: Joi.string().max(64),
      group: Joi.string().max(100),
      workspace: Joi.number().integer().min(1).max(2147483647),
      limit: Joi.number().integer().min(1).max(500).default(50),
      offset: Joi.number().integer().min(0).max(10_000_000).default(0),
    }),
    ctx.query,
    { allowUnknown: false, status: 400 },
  );
  const db = ctx.services.db;
  const owner = q.owner ? await users.findByUsername(db, q.owner) : undefined;
  if (q.owner && !owner) throw new HttpError(404, 'not_found', `There is no user "${q.owner}".`);
  const group = q.group ? await groups.findByName(db, q.group) : undefined;
  if (q.group && !group) throw new HttpError(404, 'not_found', `There is no group "${q.group}".`);
  const { rows, total } = await repo.list(db, { q: q.q, kind: q.kind, ownerId: owner?.id, groupId: group?.id, workspaceId: q.workspace ? Number(q.workspace) : undefined }, q.limit, q.offset);
  const items = [];
  for (const r of rows) items.push(await assetJson(ctx, r));
  ctx.body = { items, total, limit: q.limit, offset: q.offset, nextOffset: q.offset + rows.length < total ? q.offset + rows.length : null };
}

async function create(ctx: Koa.Context) {
  const b = validate<Record<string, unknown>>(
    Joi.object({ kind: Joi.any(), name: Joi.any(), owner: Joi.string().max(64).required().label('owner'), workspace: workspaceField.required() }),
    body(ctx),
    { allowUnknown: false, status: 400 },
  );
  const a = await service.register(ctx.services.db, actorOf(ctx), b, workspaceRef(b.workspace));
  ctx.status = 201;
  ctx.set('Location', `/api/v1/assets/${a.id}`);
  ctx.body = await assetJson(ctx, a);
}

async function show(ctx: Koa.Context) {
  ctx.body = await assetJson(ctx, await load(ctx));
}

async function update(ctx: Koa.Context) {
  const a = await load(ctx);
  const b = validate<Record<string, unknown>>(Joi.object({ name: Joi.any(), workspace: workspaceField }), body(ctx), { allowUnknown: false, status: 400 });
  const after = await service.update(ctx.services.db, actorOf(ctx), a.id, b.name === undefined ? {} : { name: b.name }, b.workspace === undefined ? undefined : workspaceRef(b.workspace));
  ctx.body = await assetJson(ctx, after);
}

async function transfer(ctx: Koa.Context) {
  const a = await load(ctx);
  const b = validate<{ to: string }>(Joi.object({ to: Joi.string().max(64).required().label('to') }), body(ctx), { allowUnknown: false, status: 400 });
  // The service names the console form's field (owner); this API's field is `to`.
  ctx.body = await assetJson(ctx, await withApiFieldNames({ owner: 'to' }, () => service.transfer(ctx.services.db, actorOf(ctx), a.id, b.to)));
}

async function share(ctx: Koa.Context) {
  const a = await load(ctx);
  const b = validate<{ group: string; access: string }>(
    Joi.object({ group: Joi.string().max(100).required().label('group'), access: Joi.string().valid(...SHARE_ACCESS).required().label('access') }),
    body(ctx),
    { allowUnknown: false, status: 400 },
  );
  await service.share(ctx.services.db, actorOf(ctx), a.id, b.group, b.access);
  ctx.body = await assetJson(ctx, (await repo.findById(ctx.services.db, a.id))!);
}

async function unshare(ctx: Koa.Context) {
  const a = await load(ctx);
  const name = String((ctx as unknown as { params: Record<string, string> }).params.group ?? '');
  const group = name.length <= 100 ? await groups.findByName(ctx.services.db, name) : undefined;
  if (!group) throw notFound('Group');
  await service.unshare(ctx.services.db, actorOf(ctx), a.id, group.id);
  ctx.body = await assetJson(ctx, (await repo.findById(ctx.services.db, a.id))!);
}

async function remove(ctx: Koa.Context) {
  const a = await service.remove(ctx.services.db, actorOf(ctx), idParam(ctx));
  ctx.body = { deleted: a.id, name: a.name };
}

export const apiRoutes = [
  get('/assets', manage, list),
  post('/assets', manage, create),
  get('/assets/:id', manage, show),
  patch('/assets/:id', manage, update),
  del('/assets/:id', manage, remove),
  post('/assets/:id/transfer', manage, transfer),
  put('/assets/:id/shares', manage, share),
  del('/assets/:id/shares/:group', manage, unshare),
];
