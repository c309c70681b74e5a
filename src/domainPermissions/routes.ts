import type Koa from 'koa';
import { can, get, idParam, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, page, redirectTo, wantsFragment } from '../http/render';
import { flash } from '../http/session';
import { isRefusal, removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, notFound } from '../http/errors';
import { asArray } from '../http/forms';
import { MAX_LEVEL, OPERATIONS, OPERATION_NAMES } from '../access/catalog';
import * as groups from '../groups/repo';
import { pickerRef } from '../workspaces/picker';
import * as repo from './repo';
import * as service from './service';
import type { PermissionInput, PermissionView } from './service';

const manage = can(P.accessManage);
const PAGE_SIZE = 50;

type Body = Record<string, unknown>;
const str = (v: unknown) => (typeof v === 'string' ? v : '');

/** The form's values as strings (what the administrator typed, kept on a refusal). */
export interface FormValues {
  effect: string;
  domain: string;
  workspace: string;
  workspaceId: string;
  transitive: boolean;
  ops: string[];
  level: string;
  priority: string;
  version: string;
}

const EMPTY: FormValues = { effect: 'allow', domain: '', workspace: '', workspaceId: '', transitive: true, ops: ['R'], level: '0', priority: 'low', version: '' };

function valuesFromBody(body: Body): FormValues {
  return {
    effect: str(body.effect),
    domain: str(body.domain),
    workspace: str(body.workspace),
    workspaceId: str(body.workspaceId),
    transitive: str(body.transitive) === '1',
    ops: asArray(body.ops).slice(0, 8),
    level: str(body.level),
    priority: str(body.priority),
    version: str(body.version),
  };
}

function valuesOf(v: PermissionView): FormValues {
  const p = v.permission;
  return {
    effect: p.effect,
    domain: String(p.domainId),
    workspace: v.workspacePath,
    workspaceId: String(p.workspaceId),
    transitive: p.transitive,
    ops: OPERATIONS.filter((o) => p.ops[o]),
    level: String(p.level),
    priority: p.priority,
    version: String(p.version),
  };
}

function inputFromBody(body: Body): PermissionInput {
  return {
    effect: body.effect,
    domain: { id: str(body.domain) },
    workspace: pickerRef(body, 'workspace'),
    transitive: str(body.transitive) === '1',
    ops: asArray(body.ops).slice(0, 8),
    // A level field the page hid (another domain than Processes) is disabled by app.js and not sent.
    level: body.level === undefined ? undefined : str(body.level),
    priority: body.priority,
  };
}

async function loadGroup(ctx: Koa.Context) {
  const g = await groups.findByIdWithCount(ctx.services.db, idParam(ctx));
  if (!g) throw notFound('Group');
  return g;
}

async function loadPermission(ctx: Koa.Context, groupId: number): Promise<PermissionView> {
  const v = await service.findView(ctx.services.db, idParam(ctx, 'pid'));
  if (!v || v.permission.groupId !== groupId) throw notFound('Permission');
  return v;
}

interface EditorState {
  editing?: PermissionView;
  values: FormValues;
  errors?: Record<string, string>;
  message?: string;
  status?: number;
}

async function editorData(ctx: Koa.Context, groupId: number, state: EditorState) {
  return {
    groupId,
    editing: state.editing,
    values: state.values,
    errors: state.errors ?? {},
    message: state.message,
    domains: await repo.domains(ctx.services.db),
    operations: OPERATIONS.map((o) => ({ key: o, name: OPERATION_NAMES[o] })),
    maxLevel: MAX_LEVEL,
    csrf: ctx.state.csrfToken ?? '',
  };
}

/** The Permissions tab: the list and the editor (add, or edit one); or only the editor for an htmx swap. */
async function render(ctx: Koa.Context, state: EditorState) {
  const group = await loadGroup(ctx);
  const status = state.status ?? 200;
  const editor = await editorData(ctx, group.id, state);
  if (wantsFragment(ctx, 'perm-editor')) return fragment(ctx, 'domainPermissions/_editor', editor, status);
  const pageNo = Math.max(1, Math.min(100_000, Number.parseInt(str(ctx.query.page), 10) || 1));
  const { rows, total } = await service.listForGroup(ctx.services.db, group.id, PAGE_SIZE, (pageNo - 1) * PAGE_SIZE);
  const data = {
    title: `${group.name} · Permissions`,
    group,
    rows,
    total,
    page: pageNo,
    pages: Math.max(1, Math.ceil(total / PAGE_SIZE)),
    editor,
  };
  if (wantsFragment(ctx, 'perm-list')) return fragment(ctx, 'domainPermissions/_list', data, status);
  page(ctx, 'domainPermissions/index', data, status);
}

async function index(ctx: Koa.Context) {
  await render(ctx, { values: EMPTY });
}

async function edit(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const editing = await loadPermission(ctx, group.id);
  await render(ctx, { editing, values: valuesOf(editing) });
}



async function create(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const body = (ctx.request.body ?? {}) as Body;
  try {
    const { permission, workspacePath } = await service.createPermission(ctx.services.db, actorOf(ctx), group.id, inputFromBody(body));
    flash(ctx, 'success', `Permission added: ${permission.priority === 'high' ? 'High' : 'Low'} ${permission.effect === 'allow' ? 'Allow' : 'Deny'} ${permission.domainName} on ${workspacePath}.`);
    redirectTo(ctx, `/groups/${group.id}/permissions`);
  } catch (e) {
    if (!isRefusal(e)) throw e;
    await render(ctx, { values: valuesFromBody(body), errors: e.fields, message: e.message, status: e.status });
  }
}

async function update(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const editing = await loadPermission(ctx, group.id);
  const body = (ctx.request.body ?? {}) as Body;
  const v = str(body.version);
  try {
    await service.updatePermission(ctx.services.db, actorOf(ctx), editing.permission.id, inputFromBody(body), /^\d{1,10}$/.test(v) ? Number(v) : undefined);
    flash(ctx, 'success', `Permission #${editing.permission.id} saved.`);
    redirectTo(ctx, `/groups/${group.id}/permissions`);
  } catch (e) {
    if (!isRefusal(e)) throw e;
    const current = (await service.findView(ctx.services.db, editing.permission.id)) ?? editing;
    const values = valuesFromBody(body);
    // After a conflict the form keeps the input but takes the current version: saving again applies it knowingly.
    if (e.code === 'conflict') values.version = String(current.permission.version);
    await render(ctx, { editing: current, values, errors: e.fields, message: e.message, status: e.status });
  }
}

// ----------------------------------------------------------------------------------------------- remove

const removal = removalFlow<{ group: Awaited<ReturnType<typeof loadGroup>>; view: PermissionView }>({
  view: 'domainPermissions/remove',
  async load(ctx) {
    const group = await loadGroup(ctx);
    return { group, view: await loadPermission(ctx, group.id) };
  },
  data: async (_ctx, { group, view }) => ({ title: `Remove permission #${view.permission.id}`, group, view, opsString: service.opsString(view.permission.ops) }),
  async remove(ctx, { group, view }) {
    const { permission, workspacePath } = await service.deletePermission(ctx.services.db, actorOf(ctx), view.permission.id);
    const message = `Permission removed: ${permission.priority === 'high' ? 'High' : 'Low'} ${permission.effect === 'allow' ? 'Allow' : 'Deny'} ${permission.domainName} on ${workspacePath}.`;
    return { message, redirect: `/groups/${group.id}/permissions` };
  },
});

export const routes = [
  get('/groups/:id/permissions', manage, index),
  post('/groups/:id/permissions', manage, create),
  get('/groups/:id/permissions/:pid', manage, edit),
  post('/groups/:id/permissions/:pid', manage, update),
  get('/groups/:id/permissions/:pid/delete', manage, removal.confirm),
  post('/groups/:id/permissions/:pid/delete', manage, removal.remove),
];
