/** The workspace tree over JSON: one definition per operation (src/api/operation.ts). */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import type { Conn } from '../db/connect';
import { created, operation } from '../api/operation';
import { component, count, id, idParam, iso, offsetPage, page, paging, record, search, text, time, version } from '../api/schemas';
import * as repo from './repo';
import * as service from './service';
import type { Workspace } from './repo';

const manage = can(P.accessManage);
const TAG = 'Workspaces';

const workspaceKeys = {
  id: id(),
  name: text(),
  path: text('Full path from the root, e.g. "/Root/Sales/EMEA".'),
  parentId: id('Null for the root workspace.').allow(null),
  externalKey: text('The suite\'s own id for the object this workspace stands for (unique, case-sensitive): an AuthZEN resource id resolves to it. Null when none.').allow(null),
  version: version(),
  createdAt: time(),
  updatedAt: time(),
};
const WorkspaceSchema = component('Workspace', record(workspaceKeys, 'A node of the workspace tree: where assets live and permissions are granted.'));
const WorkspaceDetail = component(
  'WorkspaceDetail',
  record(
    {
      ...workspaceKeys,
      children: count('Direct sub-workspaces.'),
      assets: count('Assets directly in this workspace.'),
      permissions: count('Domain permissions granted on this workspace.'),
    },
    'A workspace with what it holds.',
  ),
);
const WorkspaceDeleted = component(
  'WorkspaceDeleted',
  record({ deleted: text('The path of the deleted workspace.'), permissionsRemoved: count('Domain permissions granted on it, removed with it.') }),
);

export function workspaceJson(w: Workspace, path: string) {
  return { id: w.id, name: w.name, path, parentId: w.parentId, externalKey: w.externalKey, version: w.version, createdAt: iso(w.createdAt), updatedAt: iso(w.updatedAt) };
}

async function detailJson(db: Conn, id: number) {
  const info = await service.removalInfo(db, id);
  return { ...workspaceJson(info.workspace, info.path), children: info.children, assets: info.assets, permissions: info.permissions };
}

/** A workspace named by its id or its path, as the API's fields take it. */
export const workspaceRef = (what: string) =>
  Joi.alternatives()
    .try(id(`The ${what}'s id.`), Joi.string().trim().min(1).max(service.PATH_MAX).description(`The ${what}'s path, e.g. "/Root/Sales".`))
    .messages({ 'alternatives.types': '{#label} must be a workspace path like /Root/Sales or a workspace id.' });

/** A path (string) or an id (number) as the service's WorkspaceRef. */
export const refOf = (value: string | number): service.WorkspaceRef => (typeof value === 'number' ? { id: value } : { text: value });

/** A workspace named in a field: a message on that field when it names none. */
async function refProblem(db: Conn, value: unknown, field: string, label: string): Promise<Record<string, string>> {
  if (typeof value !== 'number' && typeof value !== 'string') return {};
  const r = await service.resolveRef(db, refOf(value), label);
  return r.ok ? {} : { [field]: r.message };
}

const workspacePath = Joi.object<{ id: number }>({ id: idParam('Workspace') });

async function loadWorkspace(ctx: Koa.Context, params: { id: number }): Promise<Workspace> {
  const w = await repo.findById(ctx.services.db, params.id);
  if (!w) throw notFound('Workspace');
  return w;
}

/** `parent` in a query: a path, or digits that are an id. */
const parentRef = (value: string) => (/^\d{1,10}$/.test(value) ? Number(value) : value);

const listWorkspaces = operation({
  operationId: 'listWorkspaces',
  method: 'GET',
  path: '/workspaces',
  tag: TAG,
  summary: 'List workspaces',
  description: 'A flat list of workspaces with their paths, in tree order; search by name, or list the children of one workspace; offset pagination.',
  requires: manage,
  query: Joi.object<{ q?: string; parent?: string; limit: number; offset: number }>({
    q: search('workspace name'),
    parent: Joi.string().trim().min(1).max(service.PATH_MAX).description('Only the direct children of this workspace (path or id).'),
    ...paging(100),
  }),
  responses: { 200: { description: 'A page of workspaces.', schema: page('WorkspacePage', WorkspaceSchema) } },
  errors: { 422: 'A value out of range, or a `parent` that names no workspace.' },
  check: async (ctx) => (typeof ctx.query.parent === 'string' ? refProblem(ctx.services.db, parentRef(ctx.query.parent.trim()), 'parent', 'parent workspace') : {}),
  async handler(ctx, { query: q }) {
    const { db } = ctx.services;
    const parent = q.parent ? await service.resolveRef(db, refOf(parentRef(q.parent)), 'parent workspace') : undefined;
    const parentId = parent?.ok ? parent.workspace.id : undefined;
    const { rows, total } = await repo.listFlat(db, { q: q.q || undefined, parentId }, q.limit, q.offset);
    const paths = await repo.pathsOf(db, rows.map((r) => r.id));
    return offsetPage(rows.map((w) => workspaceJson(w, paths.get(w.id) ?? '')), total, q);
  },
});

const nameField = service.nameSchema.description('1–100 characters; no "/" and no control characters. Unique among its siblings (case-insensitive).');
const externalKeyField = service.externalKeySchema
  .allow(null)
  .description('Optional: the suite\'s own id for the object this workspace stands for, e.g. "record-1"; 1–200 characters, unique over all workspaces (case-sensitive). Null clears it.');

const createWorkspace = operation({
  operationId: 'createWorkspace',
  method: 'POST',
  path: '/workspaces',
  tag: TAG,
  summary: 'Create a workspace',
  description: 'Creates a workspace under `parent` (default: the root).',
  requires: manage,
  body: Joi.object<{ name: string; parent?: string | number; externalKey?: string | null }>({
    name: nameField.required(),
    parent: workspaceRef('parent workspace'),
    externalKey: externalKeyField,
  }),
  example: { name: 'EMEA', parent: '/Root/Sales', externalKey: 'region-emea' },
  responses: { 201: { description: 'Created.', schema: WorkspaceDetail, headers: { Location: { description: 'The URL of the new workspace.', required: true } } } },
  errors: { 422: 'The name is invalid or taken under that parent, the parent does not exist, or another workspace has the external key.' },
  check: (ctx, { body }) => refProblem(ctx.services.db, body.parent, 'parent', 'parent workspace'),
  async handler(ctx, { body }) {
    const { db } = ctx.services;
    const parent = body.parent === undefined ? { id: (await repo.findRoot(db)).id } : refOf(body.parent);
    const { workspace } = await service.createWorkspace(db, actorOf(ctx), { name: body.name, parent, externalKey: body.externalKey });
    return created(ctx, `/api/v1/workspaces/${workspace.id}`, await detailJson(db, workspace.id));
  },
});

const getWorkspace = operation({
  operationId: 'getWorkspace',
  method: 'GET',
  path: '/workspaces/:id',
  tag: TAG,
  summary: 'Get a workspace',
  description: 'One workspace with counts of its children, assets and permissions.',
  requires: manage,
  params: workspacePath,
  load: loadWorkspace,
  responses: { 200: { description: 'The workspace.', schema: WorkspaceDetail } },
  handler: (ctx, { target }) => detailJson(ctx.services.db, target.id),
});

const updateWorkspace = operation({
  operationId: 'updateWorkspace',
  method: 'PATCH',
  path: '/workspaces/:id',
  tag: TAG,
  summary: 'Rename, move or re-key a workspace',
  description: 'Send `name` to rename, `parent` to move (never into itself or its own sub-workspaces), `externalKey` to set or clear (null) its external key, or several. The root cannot move.',
  requires: manage,
  params: workspacePath,
  load: loadWorkspace,
  body: Joi.object<{ name?: string; parent?: string | number; externalKey?: string | null; version?: number }>({
    name: nameField,
    parent: workspaceRef('new parent workspace'),
    externalKey: externalKeyField,
    version: version('The version you read.'),
  })
    .or('name', 'parent', 'externalKey')
    .messages({ 'object.missing': 'Send name (to rename), parent (to move), externalKey, or several.' }),
  example: { parent: '/Root/Marketing', version: 3 },
  responses: { 200: { description: 'The workspace after the change.', schema: WorkspaceDetail } },
  errors: {
    409: 'The workspace was changed meanwhile (stale `version`).',
    422: 'None of `name`, `parent`, `externalKey`; the name is invalid or taken there; the external key is another workspace\'s; the move is impossible (root, into itself, into a sub-workspace, already there).',
  },
  check: (ctx, { body }) => refProblem(ctx.services.db, body.parent, 'parent', 'new parent workspace'),
  async handler(ctx, { body, target }) {
    const { db } = ctx.services;
    await service.updateWorkspace(db, actorOf(ctx), target.id, {
      name: body.name,
      parent: body.parent === undefined ? undefined : refOf(body.parent),
      externalKey: body.externalKey,
      version: body.version,
    });
    return detailJson(db, target.id);
  },
});

const deleteWorkspace = operation({
  operationId: 'deleteWorkspace',
  method: 'DELETE',
  path: '/workspaces/:id',
  tag: TAG,
  summary: 'Delete a workspace',
  description: 'Deletes an empty workspace with the domain permissions granted on it. A workspace with sub-workspaces or assets, and the root, are refused (409).',
  requires: manage,
  params: workspacePath,
  load: loadWorkspace,
  query: Joi.object<{ version?: number }>({ version: version('The version you read; a different current version answers 409.') }),
  responses: { 200: { description: 'Deleted.', schema: WorkspaceDeleted } },
  errors: { 409: 'The workspace still holds sub-workspaces or assets (`details.children`, `details.assets`), is the root, or was changed meanwhile.' },
  async handler(ctx, { query, target }) {
    const result = await service.deleteWorkspace(ctx.services.db, actorOf(ctx), target.id, { version: query.version });
    return { deleted: result.path, permissionsRemoved: result.permissionsRemoved };
  },
});

export const operations = [listWorkspaces, createWorkspace, getWorkspace, updateWorkspace, deleteWorkspace];
