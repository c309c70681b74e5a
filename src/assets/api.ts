/** Assets over JSON: register, share with groups, transfer, delete (one definition per operation, src/api/operation.ts). */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import type { FieldErrors } from '../http/forms';
import type { Conn } from '../db/connect';
import { created, operation } from '../api/operation';
import { withApiFieldNames } from '../api/fieldNames';
import { component, groupNameParam, id, idParam, iso, list, offsetPage, page, paging, record, search, text, time } from '../api/schemas';
import { refOf, workspaceRef } from '../workspaces/api';
import * as workspaces from '../workspaces/repo';
import * as users from '../users/repo';
import * as groups from '../groups/repo';
import * as repo from './repo';
import * as service from './service';
import { ASSET_KINDS, SHARE_ACCESS, type Asset, type AssetKind } from './repo';

const manage = can(P.accessManage);
const TAG = 'Assets';

const access = Joi.string().valid(...SHARE_ACCESS).description('viewer, editor or owner.');
const AssetSchema = component(
  'Asset',
  record(
    {
      id: id(),
      kind: text().valid(...ASSET_KINDS),
      name: text(),
      workspace: text('Workspace path.').allow(null),
      workspaceId: id(),
      owner: text('Username of the owner.'),
      shares: list(record({ group: text('Group name.'), access }), 'Groups the asset is shared with.'),
      createdAt: time(),
      updatedAt: time(),
    },
    'A folder, log, model or dashboard in a workspace, owned by a user and shared with groups.',
  ),
);

async function assetJson(db: Conn, a: Asset) {
  return {
    id: a.id,
    kind: a.kind,
    name: a.name,
    workspace: (await workspaces.pathOf(db, a.workspaceId)) ?? null,
    workspaceId: a.workspaceId,
    owner: a.ownerUsername,
    shares: (await repo.sharesOf(db, a.id)).map((s) => ({ group: s.groupName, access: s.access })),
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

const assetPath = Joi.object<{ id: number }>({ id: idParam('Asset') });

async function loadAsset(ctx: Koa.Context, params: { id: number }): Promise<Asset> {
  const a = await repo.findById(ctx.services.db, params.id);
  if (!a) throw notFound('Asset');
  return a;
}

const username = (description: string) => Joi.string().trim().min(1).max(64).description(description);
const nameField = service.nameSchema.description('1–200 characters, no control characters.');

interface ListQuery {
  q?: string;
  kind?: AssetKind;
  owner?: string;
  group?: string;
  workspace?: number;
  limit: number;
  offset: number;
}

const listAssets = operation({
  operationId: 'listAssets',
  method: 'GET',
  path: '/assets',
  tag: TAG,
  summary: 'List assets',
  description: 'Assets with search, filters and offset pagination.',
  requires: manage,
  query: Joi.object<ListQuery>({
    q: search('asset name', 200),
    kind: Joi.string().valid(...ASSET_KINDS).description('Only this kind.'),
    owner: username('Only assets of this owner (username).'),
    group: Joi.string().trim().min(1).max(100).description('Only assets shared with this group (name).'),
    workspace: id('Only assets directly in this workspace (id).'),
    ...paging(50),
  }),
  responses: { 200: { description: 'A page of assets.', schema: page('AssetPage', AssetSchema) } },
  errors: { 422: 'A value out of range, or an `owner` or `group` filter that names nobody.' },
  async check(ctx) {
    const { db } = ctx.services;
    const q = ctx.query as Record<string, unknown>;
    const fields: FieldErrors = {};
    if (typeof q.owner === 'string' && !(await users.findByUsername(db, q.owner))) fields.owner = `There is no user "${q.owner}".`;
    if (typeof q.group === 'string' && !(await groups.findByName(db, q.group))) fields.group = `There is no group "${q.group}".`;
    return fields;
  },
  async handler(ctx, { query: q }) {
    const { db } = ctx.services;
    const owner = q.owner ? await users.findByUsername(db, q.owner) : undefined;
    const group = q.group ? await groups.findByName(db, q.group) : undefined;
    const { rows, total } = await repo.list(db, { q: q.q, kind: q.kind, ownerId: owner?.id, groupId: group?.id, workspaceId: q.workspace }, q.limit, q.offset);
    const items = [];
    for (const r of rows) items.push(await assetJson(db, r));
    return offsetPage(items, total, q);
  },
});

const registerAsset = operation({
  operationId: 'registerAsset',
  method: 'POST',
  path: '/assets',
  tag: TAG,
  summary: 'Register an asset',
  description: 'Registers a folder, log, model or dashboard in a workspace, owned by a user.',
  requires: manage,
  body: Joi.object<{ kind: AssetKind; name: string; owner: string; workspace: string | number }>({
    kind: Joi.string().valid(...ASSET_KINDS).required().label('Kind').description('What the asset is.'),
    name: nameField.required(),
    owner: username('Username of the owner.').required(),
    workspace: workspaceRef('workspace').required(),
  }),
  example: { kind: 'model', name: 'Order to cash', owner: 'jane.doe', workspace: '/Root/Sales' },
  responses: { 201: { description: 'Registered.', schema: AssetSchema, headers: { Location: { description: 'The URL of the new asset.', required: true } } } },
  errors: { 422: 'Every field that breaks a rule, with its message: unknown kind, owner or workspace, invalid name.' },
  async handler(ctx, { body }) {
    const { db } = ctx.services;
    const a = await service.register(db, actorOf(ctx), { kind: body.kind, name: body.name, owner: body.owner }, refOf(body.workspace));
    return created(ctx, `/api/v1/assets/${a.id}`, await assetJson(db, a));
  },
});

const getAsset = operation({
  operationId: 'getAsset',
  method: 'GET',
  path: '/assets/:id',
  tag: TAG,
  summary: 'Get an asset',
  description: 'One asset with its shares.',
  requires: manage,
  params: assetPath,
  load: loadAsset,
  responses: { 200: { description: 'The asset.', schema: AssetSchema } },
  handler: (ctx, { target }) => assetJson(ctx.services.db, target),
});

const updateAsset = operation({
  operationId: 'updateAsset',
  method: 'PATCH',
  path: '/assets/:id',
  tag: TAG,
  summary: 'Rename or move an asset',
  description: 'Changes the name and/or the workspace; fields not sent keep their values.',
  requires: manage,
  params: assetPath,
  load: loadAsset,
  body: Joi.object<{ name?: string; workspace?: string | number }>({ name: nameField, workspace: workspaceRef('workspace') }),
  example: { name: 'Order to cash v2', workspace: '/Root/Sales/EMEA' },
  responses: { 200: { description: 'The asset after the change.', schema: AssetSchema } },
  errors: { 422: 'An invalid name or an unknown workspace.' },
  async handler(ctx, { body, target }) {
    const { db } = ctx.services;
    const after = await service.update(db, actorOf(ctx), target.id, body.name === undefined ? {} : { name: body.name }, body.workspace === undefined ? undefined : refOf(body.workspace));
    return assetJson(db, after);
  },
});

const deleteAsset = operation({
  operationId: 'deleteAsset',
  method: 'DELETE',
  path: '/assets/:id',
  tag: TAG,
  summary: 'Delete an asset',
  description: 'Deletes the asset and its shares.',
  requires: manage,
  params: assetPath,
  load: loadAsset,
  responses: { 200: { description: 'Deleted.', schema: component('AssetDeleted', record({ deleted: id('The id of the deleted asset.'), name: text() })) } },
  async handler(ctx, { target }) {
    const a = await service.remove(ctx.services.db, actorOf(ctx), target.id);
    return { deleted: a.id, name: a.name };
  },
});

const transferAsset = operation({
  operationId: 'transferAsset',
  method: 'POST',
  path: '/assets/:id/transfer',
  tag: TAG,
  summary: 'Transfer an asset',
  description: 'Makes another user the owner.',
  requires: manage,
  params: assetPath,
  load: loadAsset,
  body: Joi.object<{ to: string }>({ to: username('Username of the new owner.').required() }),
  example: { to: 'sam.lee' },
  responses: { 200: { description: 'The asset with its new owner.', schema: AssetSchema } },
  errors: { 422: 'No such user, or the user owns it already.' },
  async handler(ctx, { body, target }) {
    const { db } = ctx.services;
    // The service names the console form's field (owner); this API's field is `to`.
    return assetJson(db, await withApiFieldNames({ owner: 'to' }, () => service.transfer(db, actorOf(ctx), target.id, body.to)));
  },
});

const shareAsset = operation({
  operationId: 'shareAsset',
  method: 'PUT',
  path: '/assets/:id/shares',
  tag: TAG,
  summary: 'Share an asset with a group',
  description: 'Shares the asset with a group at an access level, or changes the level of an existing share.',
  requires: manage,
  params: assetPath,
  load: loadAsset,
  body: Joi.object<{ group: string; access: string }>({ group: Joi.string().trim().min(1).max(100).required().description('Group name.'), access: access.required() }),
  example: { group: 'Sales Analysts', access: 'viewer' },
  responses: { 200: { description: 'The asset with its shares.', schema: AssetSchema } },
  errors: { 422: 'No such group.' },
  async handler(ctx, { body, target }) {
    const { db } = ctx.services;
    await service.share(db, actorOf(ctx), target.id, body.group, body.access);
    return assetJson(db, (await repo.findById(db, target.id))!);
  },
});

const unshareAsset = operation({
  operationId: 'unshareAsset',
  method: 'DELETE',
  path: '/assets/:id/shares/:group',
  tag: TAG,
  summary: 'Stop sharing with a group',
  description: 'Removes the share of one group.',
  requires: manage,
  params: Joi.object<{ id: number; group: string }>({ id: idParam('Asset'), group: groupNameParam }),
  async load(ctx, params) {
    const asset = await loadAsset(ctx, params);
    const group = await groups.findByName(ctx.services.db, params.group);
    if (!group) throw notFound('Group');
    return { asset, group };
  },
  responses: { 200: { description: 'The asset with its remaining shares.', schema: AssetSchema } },
  errors: { 404: 'There is no such asset or group, or the asset is not shared with the group (`details.type`: `asset`, `group` or `share`).' },
  async handler(ctx, { target }) {
    const { db } = ctx.services;
    await service.unshare(db, actorOf(ctx), target.asset.id, target.group.id);
    return assetJson(db, (await repo.findById(db, target.asset.id))!);
  },
});

export const operations = [listAssets, registerAsset, getAsset, updateAsset, deleteAsset, transferAsset, shareAsset, unshareAsset];
