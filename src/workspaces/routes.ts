import type Koa from 'koa';
import { can, get, idParam, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, isHtmx, page, redirectTo, wantsFragment } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, notFound } from '../http/errors';
import * as repo from './repo';
import * as service from './service';
import { pickerRef, suggestions } from './picker';

const manage = can(P.accessManage);

type Body = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');

interface PanelValues {
  name: string;
  childName: string;
  parent: string;
  parentId: string;
  externalKey: string;
  version: string;
}

interface PanelState {
  values?: Partial<PanelValues>;
  errors?: Record<string, string>;
  message?: string;
  /** Which form the message belongs to. */
  form?: 'rename' | 'child' | 'move' | 'key';
  status?: number;
}

async function panelData(ctx: Koa.Context, id: number, state: PanelState = {}) {
  const { db } = ctx.services;
  const ws = await repo.findById(db, id);
  if (!ws) throw notFound('Workspace');
  const chain = (await repo.chainsOf(db, [id])).get(id) ?? [];
  const info = await service.removalInfo(db, id);
  return {
    ws,
    path: info.path,
    chain,
    children: info.children,
    assets: info.assets,
    permissionCount: info.permissions,
    permissions: await repo.permissionsOn(db, id, 12),
    deleteBlocker: info.blocker,
    values: { name: ws.name, childName: '', parent: '', parentId: '', externalKey: ws.externalKey ?? '', version: String(ws.version), ...state.values },
    errors: state.errors ?? {},
    message: state.message,
    form: state.form,
  };
}

/** The tree page with a workspace selected (the root by default), or only the panel for an htmx swap. */
async function render(ctx: Koa.Context, id: number, state: PanelState = {}) {
  const status = state.status ?? 200;
  const panel = await panelData(ctx, id, state);
  if (wantsFragment(ctx, 'ws-panel')) return fragment(ctx, 'workspaces/_panel', panel, status);
  const tree = await service.treeAround(ctx.services.db, id);
  page(ctx, 'workspaces/index', { title: id === tree.root.id ? 'Workspaces' : `Workspace ${panel.path}`, tree, panel, selectedId: id, q: '' }, status);
}

async function index(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = str(ctx.query.q).trim().slice(0, service.PATH_MAX);
  if (q || wantsFragment(ctx, 'ws-found')) {
    const found = q ? await suggestions(db, q, 50) : [];
    const data = { q, found };
    if (wantsFragment(ctx, 'ws-found')) return fragment(ctx, 'workspaces/_found', data);
    const root = await repo.findRoot(db);
    const tree = await service.treeAround(db, root.id);
    return page(ctx, 'workspaces/index', { title: 'Workspaces', tree, panel: await panelData(ctx, root.id), selectedId: root.id, ...data });
  }
  await render(ctx, (await repo.findRoot(db)).id);
}

async function show(ctx: Koa.Context) {
  await render(ctx, idParam(ctx));
}

/** Children of one workspace for a lazily opened branch (htmx); without htmx, the page of that workspace. */
async function children(ctx: Koa.Context) {
  const id = idParam(ctx);
  const { db } = ctx.services;
  const ws = await repo.findById(db, id);
  if (!ws) throw notFound('Workspace');
  if (!isHtmx(ctx)) return redirectTo(ctx, `/workspaces/${id}`);
  const offset = Math.max(0, Math.min(1_000_000, Number.parseInt(str(ctx.query.offset), 10) || 0));
  const total = await repo.countChildren(db, id);
  const nodes = await repo.childrenPage(db, id, service.CHILD_PAGE, offset);
  fragment(ctx, 'workspaces/_children', {
    parentId: id,
    nodes: nodes.map((n) => ({ ...n, more: 0, open: false })),
    nextOffset: offset + nodes.length < total ? offset + nodes.length : null,
    remaining: total - offset - nodes.length,
  });
}

async function suggest(ctx: Koa.Context) {
  const field = /^[a-zA-Z][a-zA-Z0-9_]{0,40}$/.test(str(ctx.query.field)) ? str(ctx.query.field) : 'q';
  const q = str(ctx.query[field] ?? ctx.query.q).slice(0, service.PATH_MAX);
  fragment(ctx, 'workspaces/_suggestions', { items: await suggestions(ctx.services.db, q, 15) });
}

/** Runs a change from the panel: on success a flash and the workspace's page; on refusal the panel with the messages. */
async function change(ctx: Koa.Context, form: PanelState['form'], run: (body: Body) => Promise<{ message: string; goTo: number }>, fieldMap: Record<string, string> = {}) {
  const id = idParam(ctx);
  const body = (ctx.request.body ?? {}) as Body;
  if (!(await repo.findById(ctx.services.db, id))) throw notFound('Workspace');
  try {
    const { message, goTo } = await run(body);
    flash(ctx, 'success', message);
    redirectTo(ctx, `/workspaces/${goTo}`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    const errors: Record<string, string> = {};
    for (const [k, v] of Object.entries(e.fields)) errors[fieldMap[k] ?? k] = v;
    const values: Partial<PanelValues> = { name: str(body.name), childName: str(body.childName), parent: str(body.parent), parentId: str(body.parentId), externalKey: str(body.externalKey) };
    if (form !== 'rename') delete values.name;
    if (form !== 'key') delete values.externalKey;
    // After a conflict the form carries the current version, so saving again applies the change knowingly.
    if (e.code !== 'conflict' && str(body.version)) values.version = str(body.version);
    await render(ctx, id, { values, errors, message: e.message, form, status: e.status });
  }
}

const create = (ctx: Koa.Context) =>
  change(
    ctx,
    'child',
    async (body) => {
      const { workspace, path } = await service.createWorkspace(ctx.services.db, actorOf(ctx), { name: body.childName, parent: { id: idParam(ctx) } });
      return { message: `Workspace ${path} created.`, goTo: workspace.id };
    },
    { name: 'childName', parent: 'childName' },
  );

const rename = (ctx: Koa.Context) =>
  change(ctx, 'rename', async (body) => {
    const { path } = await service.updateWorkspace(ctx.services.db, actorOf(ctx), idParam(ctx), { name: body.name ?? '', version: versionOf(body) });
    return { message: `Renamed: the workspace is now ${path}.`, goTo: idParam(ctx) };
  });

const move = (ctx: Koa.Context) =>
  change(
    ctx,
    'move',
    async (body) => {
      const { path } = await service.updateWorkspace(ctx.services.db, actorOf(ctx), idParam(ctx), { parent: pickerRef(body, 'parent'), version: versionOf(body) });
      return { message: `Moved: the workspace is now ${path}.`, goTo: idParam(ctx) };
    },
    { name: 'parent' },
  );

const setExternalKey = (ctx: Koa.Context) =>
  change(ctx, 'key', async (body) => {
    const { workspace, path } = await service.updateWorkspace(ctx.services.db, actorOf(ctx), idParam(ctx), { externalKey: str(body.externalKey), version: versionOf(body) });
    return { message: workspace.externalKey ? `${path} now has the external key ${workspace.externalKey}.` : `${path} has no external key now.`, goTo: idParam(ctx) };
  });

function versionOf(body: Body): number | undefined {
  const v = str(body.version);
  return /^\d{1,10}$/.test(v) ? Number(v) : undefined;
}

// ----------------------------------------------------------------------------------------------- delete

const removal = removalFlow<number>({
  view: 'workspaces/remove',
  load: async (ctx) => idParam(ctx),
  async data(ctx, id) {
    const info = await service.removalInfo(ctx.services.db, id);
    // The current version, even after a refusal: deleting again then applies to what is there now.
    return { title: `Delete ${info.path}`, info, version: String(info.workspace.version) };
  },
  async remove(ctx, id, body) {
    const result = await service.deleteWorkspace(ctx.services.db, actorOf(ctx), id, { version: versionOf(body) });
    const perms = result.permissionsRemoved ? ` ${result.permissionsRemoved} domain permission${result.permissionsRemoved === 1 ? ' on it was' : 's on it were'} removed.` : '';
    return { message: `Workspace ${result.path} deleted.${perms}`, redirect: `/workspaces/${result.parentId}` };
  },
});

export const routes = [
  get('/workspaces', manage, index),
  get('/workspaces/suggest', manage, suggest),
  get('/workspaces/:id', manage, show),
  get('/workspaces/:id/children', manage, children),
  post('/workspaces/:id/children', manage, create),
  post('/workspaces/:id/rename', manage, rename),
  post('/workspaces/:id/move', manage, move),
  post('/workspaces/:id/external-key', manage, setExternalKey),
  get('/workspaces/:id/delete', manage, removal.confirm),
  post('/workspaces/:id/delete', manage, removal.remove),
];
