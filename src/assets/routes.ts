import type Koa from 'koa';
import Joi from 'joi';
import { can, get, idParam, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, page, redirectTo, wantsFragment } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { ValidationError, notFound } from '../http/errors';
import { validate } from '../http/forms';
import { pickerRef } from '../workspaces/picker';
import * as workspaces from '../workspaces/repo';
import * as users from '../users/repo';
import * as groups from '../groups/repo';
import * as repo from './repo';
import * as service from './service';
import { ASSET_KINDS, SHARE_ACCESS, type Asset } from './repo';

const manage = can(P.accessManage);
const PAGE_SIZE = 50;

const listQuery = Joi.object({
  q: Joi.string().trim().max(200).allow(''),
  kind: Joi.string().valid(...ASSET_KINDS).empty(''),
  owner: Joi.string().trim().max(64).allow(''),
  group: Joi.string().trim().max(100).allow(''),
  page: Joi.number().integer().min(1).max(1_000_000).default(1),
});

async function list(ctx: Koa.Context) {
  const { db } = ctx.services;
  let f: { q?: string; kind?: repo.AssetKind; owner?: string; group?: string; page: number };
  let filterError: string | undefined;
  try {
    f = validate(listQuery, ctx.query);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    f = { page: 1 };
    filterError = 'Some filters were not understood and have been reset.';
  }
  const owner = f.owner ? await users.findByUsername(db, f.owner) : undefined;
  const group = f.group ? await groups.findByName(db, f.group) : undefined;
  if (f.owner && !owner) filterError = `There is no user "${f.owner}".`;
  if (f.group && !group) filterError = `There is no group "${f.group}".`;
  const none = (f.owner && !owner) || (f.group && !group);
  const { rows, total } = none
    ? { rows: [] as Asset[], total: 0 }
    : await repo.list(db, { q: f.q, kind: f.kind, ownerId: owner?.id, groupId: group?.id }, PAGE_SIZE, (f.page - 1) * PAGE_SIZE);
  const paths = await workspaces.pathsOf(db, [...new Set(rows.map((r) => r.workspaceId))]);
  const data = { title: 'Assets', rows, paths, total, pages: Math.max(1, Math.ceil(total / PAGE_SIZE)), filters: f, filterError, kinds: ASSET_KINDS };
  if (wantsFragment(ctx, 'asset-results')) return fragment(ctx, 'assets/_results', data);
  page(ctx, 'assets/list', data);
}

function body(ctx: Koa.Context): Record<string, unknown> {
  return (ctx.request.body ?? {}) as Record<string, unknown>;
}

async function newAsset(ctx: Koa.Context, values: Record<string, unknown> = {}, errors: Record<string, string> = {}, status = 200) {
  page(ctx, 'assets/new', { title: 'Register asset', values, errors, kinds: ASSET_KINDS }, status);
}

async function createAsset(ctx: Koa.Context) {
  const b = body(ctx);
  try {
    const asset = await service.register(ctx.services.db, actorOf(ctx), b, pickerRef(b, 'workspace'));
    flash(ctx, 'success', `Asset “${asset.name}” registered.`);
    redirectTo(ctx, `/assets/${asset.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await newAsset(ctx, b, e.fields, e.status);
  }
}

async function load(ctx: Koa.Context): Promise<Asset> {
  const a = await repo.findById(ctx.services.db, idParam(ctx));
  if (!a) throw notFound('Asset');
  return a;
}

interface DetailForms {
  values?: Record<string, unknown>;
  errors?: Record<string, string>;
  transferErrors?: Record<string, string>;
  shareErrors?: Record<string, string>;
  shareValues?: Record<string, unknown>;
  status?: number;
}

async function renderDetail(ctx: Koa.Context, asset: Asset, forms: DetailForms = {}) {
  const { db } = ctx.services;
  const path = (await workspaces.pathOf(db, asset.workspaceId)) ?? '';
  page(
    ctx,
    'assets/show',
    {
      title: asset.name,
      asset,
      path,
      shares: await repo.sharesOf(db, asset.id),
      values: forms.values ?? { name: asset.name, workspace: path, workspaceId: String(asset.workspaceId) },
      errors: forms.errors ?? {},
      transferErrors: forms.transferErrors ?? {},
      shareErrors: forms.shareErrors ?? {},
      shareValues: forms.shareValues ?? { access: 'viewer' },
      accessLevels: SHARE_ACCESS,
    },
    forms.status ?? 200,
  );
}

async function show(ctx: Koa.Context) {
  await renderDetail(ctx, await load(ctx));
}

async function updateAsset(ctx: Koa.Context) {
  const asset = await load(ctx);
  const b = body(ctx);
  try {
    const ref = pickerRef(b, 'workspace');
    await service.update(ctx.services.db, actorOf(ctx), asset.id, { name: b.name }, ref.text || ref.id ? ref : undefined);
    flash(ctx, 'success', 'Asset saved.');
    redirectTo(ctx, `/assets/${asset.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderDetail(ctx, asset, { values: b, errors: e.fields, status: e.status });
  }
}

async function transfer(ctx: Koa.Context) {
  const asset = await load(ctx);
  const b = body(ctx);
  try {
    const after = await service.transfer(ctx.services.db, actorOf(ctx), asset.id, String(b.owner ?? '').slice(0, 64));
    flash(ctx, 'success', `“${after.name}” now belongs to ${after.ownerUsername}.`);
    redirectTo(ctx, `/assets/${asset.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderDetail(ctx, asset, { transferErrors: { ...e.fields, value: String(b.owner ?? '') }, status: e.status });
  }
}

async function addShare(ctx: Koa.Context) {
  const asset = await load(ctx);
  const b = body(ctx);
  try {
    await service.share(ctx.services.db, actorOf(ctx), asset.id, String(b.group ?? '').slice(0, 100), String(b.access ?? ''));
    flash(ctx, 'success', `Shared with ${String(b.group).trim()} as ${String(b.access)}.`);
    redirectTo(ctx, `/assets/${asset.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderDetail(ctx, asset, { shareErrors: e.fields, shareValues: b, status: e.status });
  }
}

async function removeShare(ctx: Koa.Context) {
  const asset = await load(ctx);
  await service.unshare(ctx.services.db, actorOf(ctx), asset.id, idParam(ctx, 'groupId'));
  flash(ctx, 'success', 'The share is removed.');
  redirectTo(ctx, `/assets/${asset.id}`);
}

const removal = removalFlow<Asset>({
  view: 'assets/remove',
  load,
  data: async (ctx, asset) => ({ title: `Remove ${asset.name}`, asset, shares: await repo.sharesOf(ctx.services.db, asset.id) }),
  async remove(ctx, asset) {
    const removed = await service.remove(ctx.services.db, actorOf(ctx), asset.id);
    return { message: `Asset “${removed.name}” removed.`, redirect: '/assets' };
  },
});

export const routes = [
  get('/assets', manage, list),
  get('/assets/new', manage, (ctx) => newAsset(ctx, { kind: 'model' })),
  post('/assets/new', manage, createAsset),
  get('/assets/:id', manage, show),
  post('/assets/:id', manage, updateAsset),
  post('/assets/:id/transfer', manage, transfer),
  post('/assets/:id/shares', manage, addShare),
  post('/assets/:id/shares/:groupId/delete', manage, removeShare),
  get('/assets/:id/delete', manage, removal.confirm),
  post('/assets/:id/delete', manage, removal.remove),
];
