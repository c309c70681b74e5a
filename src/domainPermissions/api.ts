/**
 * Domain permissions over JSON, in the shape the check API uses:
 *   {"id","group","effect","domain","workspace","transitive","operations","level","priority"}
 * One definition per operation (src/api/operation.ts); a permission's version is its ETag, sent back as
 * If-Match to refuse a stale edit.
 */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { conflict, notFound } from '../http/errors';
import { MAX_LEVEL } from '../access/catalog';
import { created, operation } from '../api/operation';
import { component, flag, groupNameParam, id, idParam, offsetPage, page, paging, record, text } from '../api/schemas';
import { refOf, workspaceRef } from '../workspaces/api';
import * as repo from './repo';
import * as service from './service';
import type { PermissionInput, PermissionView } from './service';

const manage = can(P.accessManage);
const TAG = 'Domain permissions';

/** A domain permission as the API shows it (here, in decisions and in explanations). */
export const PermissionSchema = component(
  'Permission',
  record(
    {
      id: id(),
      group: text('The group it is granted to.'),
      effect: text().valid('allow', 'deny'),
      domain: text('Domain name.'),
      workspace: text('Workspace path.'),
      transitive: flag('Applies to sub-workspaces too.'),
      operations: text('Letters of R, M, C, D in that order.').pattern(/^R?M?C?D?$/),
      level: Joi.number().integer().min(0).max(MAX_LEVEL),
      priority: text().valid('high', 'low'),
    },
    'A domain permission of a group: allow or deny operations in a domain on a workspace.',
  ),
);

const ETAG = { ETag: { description: 'The version of the permission, quoted: send it back as `If-Match` to refuse a stale edit.', required: true } };

const attributes = {
  effect: Joi.string().trim().lowercase().valid('allow', 'deny').label('effect').messages({ 'any.only': 'effect must be "allow" or "deny".' }).description('Allow or deny (case-insensitive).'),
  domain: Joi.string().trim().min(1).max(100).label('domain').description('Domain name (or key), e.g. "Processes".'),
  workspace: workspaceRef('workspace').label('workspace'),
  transitive: Joi.boolean().strict().label('transitive').description('Also applies to every sub-workspace (default false).'),
  operations: Joi.string()
    .trim()
    .uppercase()
    .max(4)
    .allow('')
    .pattern(/^[RMCDrmcd]*$/, { name: 'is a selection of the letters R, M, C and D, e.g. "RM"' })
    .label('operations')
    .description('Letters of R (read), M (modify), C (create), D (delete), e.g. "RM".'),
  level: Joi.number().integer().strict().min(0).max(MAX_LEVEL).label('level').description(`Processes only: the level (0–${MAX_LEVEL}) the permission applies from (default 0).`),
  priority: Joi.string()
    .trim()
    .lowercase()
    .valid('high', 'low')
    .label('priority')
    .messages({ 'any.only': 'priority must be "high" or "low".' })
    .description('High beats low; at the same priority deny beats allow (default low; case-insensitive).'),
};

interface Body {
  effect?: string;
  domain?: string;
  workspace?: string | number;
  transitive?: boolean;
  operations?: string;
  level?: number;
  priority?: string;
}

/** The service's input: the fields sent over the current permission's (on an edit). */
function toInput(b: Body, current?: PermissionView): PermissionInput {
  const p = current?.permission;
  const workspace = b.workspace ?? p?.workspaceId;
  return {
    effect: b.effect ?? p?.effect,
    domain: { name: b.domain ?? p?.domainName },
    workspace: workspace === undefined ? {} : refOf(workspace),
    transitive: b.transitive ?? p?.transitive ?? false,
    ops: b.operations ?? (p ? service.opsString(p.ops) : ''),
    // Changing the domain away from Processes resets an unspecified level rather than carrying it over.
    level: b.level ?? (p && b.domain === undefined ? p.level : 0),
    priority: b.priority ?? p?.priority ?? 'low',
  };
}

function send(ctx: Koa.Context, v: PermissionView) {
  ctx.set('ETag', `"${v.permission.version}"`);
  return service.permissionJson(v.permission, v.workspacePath);
}

async function loadGroup(ctx: Koa.Context, params: { name: string }) {
  const g = await repo.findGroupByName(ctx.services.db, params.name);
  if (!g) throw notFound('Group', `There is no group "${params.name}".`);
  return g;
}

async function loadPermission(ctx: Koa.Context, params: { id: number }): Promise<PermissionView> {
  const v = await service.findView(ctx.services.db, params.id);
  if (!v) throw notFound('Permission');
  return v;
}

const groupPath = Joi.object<{ name: string }>({ name: groupNameParam });
const permissionPath = Joi.object<{ id: number }>({ id: idParam('Permission') });
const ifMatch = {
  'If-Match': Joi.string()
    .pattern(/^(?:\*|(?:W\/)?"?\d{1,10}"?)$/)
    .description('The ETag you read (e.g. `"3"`): a permission changed since answers 409. Optional.')
    .messages({ 'string.pattern.base': 'If-Match must be the ETag of the permission, e.g. "3".' }),
};

/** If-Match: "<version>" (or W/"…", or *) — the version the caller last read. */
const expectedVersion = (header: unknown): number | undefined => (typeof header === 'string' && header !== '*' ? Number(/\d+/.exec(header)![0]) : undefined);

const listGroupPermissions = operation({
  operationId: 'listGroupPermissions',
  method: 'GET',
  path: '/groups/:name/permissions',
  tag: TAG,
  summary: 'Permissions of a group',
  description: 'The domain permissions granted to a group; offset pagination.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  query: Joi.object<{ limit: number; offset: number }>(paging(100)),
  responses: { 200: { description: 'A page of permissions.', schema: page('PermissionPage', PermissionSchema, { group: text('The group name.') }) } },
  async handler(ctx, { query, target: group }) {
    const { rows, total } = await service.listForGroup(ctx.services.db, group.id, query.limit, query.offset);
    return { group: group.name, ...offsetPage(rows.map((v) => service.permissionJson(v.permission, v.workspacePath)), total, query) };
  },
});

const createGroupPermission = operation({
  operationId: 'createGroupPermission',
  method: 'POST',
  path: '/groups/:name/permissions',
  tag: TAG,
  summary: 'Grant a permission to a group',
  description: 'Adds a domain permission. The same permission twice is refused. Decisions follow at once.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  body: Joi.object<Body>({
    ...attributes,
    effect: attributes.effect.required(),
    domain: attributes.domain.required(),
    workspace: attributes.workspace.required(),
    operations: attributes.operations.required(),
  }),
  example: { effect: 'allow', domain: 'Processes', workspace: '/Root/Sales', transitive: true, operations: 'RM', level: 2, priority: 'low' },
  responses: {
    201: { description: 'Created.', schema: PermissionSchema, headers: { ...ETAG, Location: { description: 'The URL of the new permission.', required: true } } },
  },
  errors: {
    403: 'Granting a permission to a group you belong to, or changing one that decides your own access.',
    422: 'An unknown domain or workspace, no operation, a level outside Processes, or the same permission twice.',
  },
  async handler(ctx, { body, target: group }) {
    const v = await service.createPermission(ctx.services.db, actorOf(ctx), group.id, toInput(body));
    return created(ctx, `/api/v1/permissions/${v.permission.id}`, send(ctx, v));
  },
});

const getPermission = operation({
  operationId: 'getPermission',
  method: 'GET',
  path: '/permissions/:id',
  tag: TAG,
  summary: 'Get a permission',
  description: 'One domain permission, with its version as the ETag.',
  requires: manage,
  params: permissionPath,
  load: loadPermission,
  responses: { 200: { description: 'The permission.', schema: PermissionSchema, headers: ETAG } },
  handler: (ctx, { target }) => send(ctx, target),
});

const updatePermission = operation({
  operationId: 'updatePermission',
  method: 'PATCH',
  path: '/permissions/:id',
  tag: TAG,
  summary: 'Change a permission',
  description: 'Changes the attributes sent (at least one). Changing the domain resets an unsent level to 0.',
  requires: manage,
  params: permissionPath,
  load: loadPermission,
  headers: ifMatch,
  body: Joi.object<Body>(attributes).min(1).messages({ 'object.min': 'Send at least one attribute to change.' }),
  example: { operations: 'RMC', priority: 'high' },
  responses: { 200: { description: 'The permission after the change.', schema: PermissionSchema, headers: ETAG } },
  errors: {
    400: 'A malformed If-Match, an unknown field, or a body that is not a JSON object.',
    403: 'Changing a permission of a group you belong to.',
    409: 'The permission was changed since the If-Match version, or the change makes it equal to another.',
    422: 'No attribute sent, or one breaks a rule (as on create).',
  },
  async handler(ctx, { body, headers, target }) {
    return send(ctx, await service.updatePermission(ctx.services.db, actorOf(ctx), target.permission.id, toInput(body, target), expectedVersion(headers['If-Match'])));
  },
});

const deletePermission = operation({
  operationId: 'deletePermission',
  method: 'DELETE',
  path: '/permissions/:id',
  tag: TAG,
  summary: 'Remove a permission',
  description: 'Deletes the domain permission. Decisions follow at once.',
  requires: manage,
  params: permissionPath,
  load: loadPermission,
  headers: ifMatch,
  responses: { 200: { description: 'Deleted; the permission as it was.', schema: component('PermissionDeleted', record({ deleted: PermissionSchema })) } },
  errors: { 400: 'A malformed If-Match.', 403: 'Removing a permission of a group you belong to.', 409: 'The permission was changed since the If-Match version.' },
  async handler(ctx, { headers, target }) {
    const expected = expectedVersion(headers['If-Match']);
    if (expected !== undefined && expected !== target.permission.version) {
      throw conflict(`Permission #${target.permission.id} was changed since you read it (now version ${target.permission.version}).`);
    }
    const v = await service.deletePermission(ctx.services.db, actorOf(ctx), target.permission.id);
    return { deleted: service.permissionJson(v.permission, v.workspacePath) };
  },
});

export const operations = [listGroupPermissions, createGroupPermission, getPermission, updatePermission, deletePermission];
