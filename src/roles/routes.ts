import type Koa from 'koa';
import { requireRecentAuth } from '../auth/reauth';
import { can, get, idParam, post, SUPERUSER } from '../http/routing';
import { APP_PERMISSIONS, P, type AppPermission } from '../permissions/catalog';
import { fragment, isHtmx, page, redirectTo, wantsFragment } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { asArray } from '../http/forms';
import { applyOperation, buildView, DualListLimitError, operationFor, readState, type DualListState } from '../http/dualList';
import { usersOfRoleSource } from './repo';
import * as repo from './repo';
import type { Role } from './repo';
import * as service from './service';

const manage = can(P.usersManage);
const USERS = 'users';

/** The permissions grouped by the catalog's area, areas in order of first appearance (the manual's table). */
export function permissionGroups() {
  const groups: Array<{ area: string; permissions: Array<(typeof APP_PERMISSIONS)[number]> }> = [];
  for (const p of APP_PERMISSIONS) {
    let g = groups.find((x) => x.area === p.area);
    if (!g) groups.push((g = { area: p.area, permissions: [] }));
    g.permissions.push(p);
  }
  return groups;
}

/** Built-in roles first (in the catalog's order), then the others by name. */
function ordered(roles: Role[]): Role[] {
  return [...roles.filter((r) => r.builtinKey).sort((a, b) => a.id - b.id), ...roles.filter((r) => !r.builtinKey)];
}

async function loadRole(ctx: Koa.Context): Promise<Role> {
  const role = await repo.findById(ctx.services.db, idParam(ctx));
  if (!role) throw notFound('Role');
  return role;
}

function body(ctx: Koa.Context): Record<string, unknown> {
  return (ctx.request.body ?? {}) as Record<string, unknown>;
}

const str = (v: unknown) => (typeof v === 'string' ? v : '');

// ----------------------------------------------------------------------------------------------- the list

async function list(ctx: Koa.Context) {
  const { db } = ctx.services;
  const q = typeof ctx.query.q === 'string' ? ctx.query.q.trim().slice(0, 100) : '';
  const [roles, all, counts, perms] = await Promise.all([repo.search(db, q), repo.all(db), repo.userCounts(db), repo.permissionMap(db)]);
  const names = new Map(all.map((r) => [r.id, r.name]));
  const user = ctx.state.user!;
  // The same rule as service.assignmentBlocker, from data already loaded: offer "Make default" only where it can work.
  const mayAssign = (r: Role) =>
    !service.isSuperuserRole(r) &&
    (user.isSuperuser || [...(perms.get(r.id) ?? [])].every((p) => !service.ADMIN_PERMISSIONS.includes(p) || user.permissions.has(p)));
  const data = {
    title: 'Roles',
    q,
    total: all.length,
    rows: ordered(roles).map((r) => ({
      ...r,
      users: counts.get(r.id) ?? 0,
      permissionCount: perms.get(r.id)?.size ?? 0,
      templateName: r.templateRoleId ? (names.get(r.templateRoleId) ?? null) : null,
      canMakeDefault: !r.isDefault && mayAssign(r),
    })),
  };
  if (wantsFragment(ctx, 'role-results')) return fragment(ctx, 'roles/_results', data);
  page(ctx, 'roles/list', data);
}

// ------------------------------------------------------------------------------------------------- create

async function templates(ctx: Koa.Context) {
  const { db } = ctx.services;
  const perms = await repo.permissionMap(db);
  const actor = actorOf(ctx);
  return Promise.all(
    (await repo.builtIns(db)).map(async (r) => ({
      ...r,
      permissionCount: perms.get(r.id)?.size ?? 0,
      blocker: await service.creationBlocker(db, actor, r, 'template'),
    })),
  );
}

async function renderCreate(ctx: Koa.Context, values: Record<string, string>, errors: Record<string, string> = {}, status = 200, message?: string) {
  page(ctx, 'roles/new', { title: 'Create role', values, errors, message, templates: await templates(ctx) }, status);
}

async function newRole(ctx: Koa.Context) {
  const all = await templates(ctx);
  const preferred = all.find((t) => t.isDefault && !t.blocker) ?? all.find((t) => !t.blocker);
  await renderCreate(ctx, { name: '', description: '', templateRoleId: String(preferred?.id ?? '') });
}

async function createRole(ctx: Koa.Context) {
  const b = body(ctx);
  const values = { name: str(b.name), description: str(b.description), templateRoleId: str(b.templateRoleId) };
  try {
    const role = await service.createRole(ctx.services.db, actorOf(ctx), b);
    const template = role.templateRoleId ? await repo.findById(ctx.services.db, role.templateRoleId) : undefined;
    flash(ctx, 'success', `Role ${role.name} created from the template ${template?.name ?? ''}: it starts with the template’s permissions and the ${role.licenseName} license type.`);
    redirectTo(ctx, `/roles/${role.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderCreate(ctx, values, e.fields, e.status, e.message);
  }
}

// ---------------------------------------------------------------------------------------------- show / edit

interface RoleFormValues {
  name: string;
  description: string;
  version: string;
  permissions: string[];
}

async function renderRole(
  ctx: Koa.Context,
  role: Role,
  opts: { values?: RoleFormValues; errors?: Record<string, string>; message?: string; status?: number; conflictWith?: { role: Role; permissions: AppPermission[] } } = {},
) {
  const { db } = ctx.services;
  const permissions = await repo.permissionsOf(db, role.id);
  const template = role.templateRoleId ? await repo.findById(db, role.templateRoleId) : undefined;
  const user = ctx.state.user!;
  page(
    ctx,
    'roles/show',
    {
      title: role.builtinKey ? `View role ${role.name}` : `Edit role ${role.name}`,
      role,
      template,
      permissions: new Set(permissions),
      users: await repo.userCount(db, role.id),
      groups: permissionGroups(),
      values: opts.values ?? { name: role.name, description: role.description, version: String(role.version), permissions },
      errors: opts.errors ?? {},
      message: opts.message,
      conflictWith: opts.conflictWith,
      label: service.permissionLabel,
      canEditPermissions: user.isSuperuser && !role.builtinKey,
      removalBlocker: await service.removalBlocker(db, actorOf(ctx), role),
      defaultBlocker: service.isSuperuserRole(role) ? 'The Superuser role cannot be the default for new users.' : await service.assignmentBlocker(db, actorOf(ctx), role),
    },
    opts.status ?? 200,
  );
}

async function showRole(ctx: Koa.Context) {
  await renderRole(ctx, await loadRole(ctx));
}

async function updateRole(ctx: Koa.Context) {
  const role = await loadRole(ctx);
  const b = body(ctx);
  // The permission checkboxes travel only when the form offered them (a Superuser's form); a marker field
  // says so, because an empty set of ticked boxes sends nothing at all.
  const permissionsIncluded = b.permissions_included === '1';
  const current = await repo.permissionsOf(ctx.services.db, role.id);
  const changesPermissions = permissionsIncluded && [...new Set(asArray(b.permissions))].sort().join() !== [...current].sort().join();
  if (changesPermissions && !requireRecentAuth(ctx, `/roles/${role.id}`)) return;
  const values: RoleFormValues = {
    name: str(b.name),
    description: str(b.description),
    version: str(b.version),
    permissions: permissionsIncluded ? asArray(b.permissions) : current,
  };
  try {
    const input: Record<string, unknown> = { name: b.name, description: b.description, version: b.version === '' ? undefined : b.version };
    if (permissionsIncluded) input.permissions = asArray(b.permissions);
    const saved = await service.updateRole(ctx.services.db, actorOf(ctx), role.id, input);
    if (saved.version === role.version) flash(ctx, 'info', 'Nothing to save: no changes were made.');
    else flash(ctx, 'success', `Role ${saved.name} saved.`);
    redirectTo(ctx, `/roles/${saved.id}`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    const current = (await repo.findById(ctx.services.db, role.id)) ?? role;
    if (e.code === 'conflict') {
      // Keep the administrator's input, take the current version, and show what is stored now.
      await renderRole(ctx, current, {
        values: { ...values, version: String(current.version) },
        message: e.message,
        status: 409,
        conflictWith: { role: current, permissions: await repo.permissionsOf(ctx.services.db, current.id) },
      });
      return;
    }
    await renderRole(ctx, current, { values, errors: e.fields, message: e.message, status: e.status });
  }
}

// -------------------------------------------------------------------------------------------------- clone

async function renderClone(ctx: Koa.Context, source: Role, values: Record<string, string>, errors: Record<string, string> = {}, status = 200, message?: string) {
  const { db } = ctx.services;
  page(
    ctx,
    'roles/clone',
    {
      title: `Clone role ${source.name}`,
      source,
      values,
      errors,
      message,
      permissions: new Set(await repo.permissionsOf(db, source.id)),
      groups: permissionGroups(),
      blocker: await service.creationBlocker(db, actorOf(ctx), source, 'clone'),
    },
    status,
  );
}

async function cloneForm(ctx: Koa.Context) {
  const source = await loadRole(ctx);
  await renderClone(ctx, source, { name: await service.uniqueCloneName(ctx.services.db, source.name), description: source.description });
}

async function cloneRole(ctx: Koa.Context) {
  const source = await loadRole(ctx);
  const b = body(ctx);
  try {
    const role = await service.cloneRole(ctx.services.db, actorOf(ctx), source.id, b);
    flash(ctx, 'success', `Role ${role.name} created as a copy of ${source.name}.`);
    redirectTo(ctx, `/roles/${role.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderClone(ctx, source, { name: str(b.name), description: str(b.description) }, e.fields, e.status, e.message);
  }
}

// ------------------------------------------------------------------------------------------- default role

async function makeDefault(ctx: Koa.Context) {
  const role = await loadRole(ctx);
  const back = body(ctx).back === 'role' ? `/roles/${role.id}` : '/roles';
  try {
    await service.setDefaultRole(ctx.services.db, actorOf(ctx), role.id);
    flash(ctx, 'success', `${role.name} is now the default role for new users.`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    flash(ctx, 'error', e.message);
  }
  redirectTo(ctx, back);
}

// ------------------------------------------------------------------------------------------------- remove

const removal = removalFlow<Role>({
  view: 'roles/remove',
  load: loadRole,
  async data(ctx, role, values) {
    const { db } = ctx.services;
    const actor = actorOf(ctx);
    const holders = await repo.userCount(db, role.id);
    const others = ordered((await repo.all(db)).filter((r) => r.id !== role.id));
    const targets = await Promise.all(others.map(async (r) => ({ ...r, blocker: await service.assignmentBlocker(db, actor, r) })));
    const fallback = targets.find((r) => r.isDefault && !r.blocker) ?? targets.find((r) => !r.blocker);
    return {
      title: `Remove role ${role.name}`,
      role,
      holders,
      sample: holders ? await repo.usernamesOfRole(db, role.id, 10) : [],
      targets,
      blocker: await service.removalBlocker(db, actor, role),
      values: { moveTo: values.moveTo ?? String(fallback?.id ?? '') },
    };
  },
  async remove(ctx, role, body) {
    const moveTo = /^[1-9][0-9]{0,9}$/.test(str(body.moveTo)) ? Number(body.moveTo) : null;
    const result = await service.deleteRole(ctx.services.db, actorOf(ctx), role.id, moveTo);
    const moved = result.moved ? ` ${result.moved.toLocaleString('en-US')} user${result.moved === 1 ? ' now holds' : 's now hold'} the role ${result.movedTo}.` : '';
    return { message: `Role ${result.name} removed.${moved}`, redirect: '/roles' };
  },
});

// ------------------------------------------------------------------------------------------- assign users

async function renderAssignment(ctx: Koa.Context, role: Role, state: DualListState, opts: { error?: string; message?: string; status?: number } = {}) {
  const { db } = ctx.services;
  const defaultRole = await repo.findDefault(db);
  const view = await buildView(state, usersOfRoleSource(db, role.id), opts.error);
  const note = role.isDefault
    ? `Every user has exactly one role: assigning users here moves them out of their current role. ${role.name} is the default role for new users.`
    : `Every user has exactly one role: assigning users here moves them out of their current role. Users you remove from ${role.name} move to the default role${defaultRole ? `, ${defaultRole.name}` : ''}.`;
  const me = ctx.state.user!.id;
  const dl = {
    view,
    postUrl: `/roles/${role.id}/users`,
    legend: 'Users',
    leftTitle: 'Users not assigned to the role',
    rightTitle: 'Assigned users',
    itemNoun: 'user',
    note,
    // Controls the service would refuse are not offered: nobody moves themselves, nobody leaves the default role here.
    locked: { ids: [me], reason: 'You cannot change your own role.' },
    noRemove: role.isDefault ? `Users leave ${role.name}, the default role, by being assigned another role.` : undefined,
  };
  if (wantsFragment(ctx, `dl-${USERS}`)) return fragment(ctx, 'partials/dual-list', { dl }, opts.status ?? 200);
  page(
    ctx,
    'roles/users',
    {
      title: `Assign users to ${role.name}`,
      role,
      dl,
      message: opts.message,
      holders: await repo.userCount(db, role.id),
      assignBlocker: await service.assignmentBlocker(db, actorOf(ctx), role),
    },
    opts.status ?? 200,
  );
}

async function assignPage(ctx: Koa.Context) {
  await renderAssignment(ctx, await loadRole(ctx), readState(USERS));
}

async function saveAssignment(ctx: Koa.Context) {
  const role = await loadRole(ctx);
  const b = body(ctx);
  const state = readState(USERS, b);
  const op = operationFor(USERS, b);
  if (op) {
    try {
      const next = await applyOperation(state, op, usersOfRoleSource(ctx.services.db, role.id));
      // "Move this page" and "move all" pass over what may not move: the administrator and, out of the default role, everyone.
      const me = ctx.state.user!.id;
      next.pending = { add: next.pending.add.filter((id) => id !== me), remove: role.isDefault ? [] : next.pending.remove.filter((id) => id !== me) };
      await renderAssignment(ctx, role, next);
    } catch (e) {
      if (!(e instanceof DualListLimitError)) throw e;
      await renderAssignment(ctx, role, state, { error: e.message });
    }
    return;
  }
  try {
    const r = await service.assignUsers(ctx.services.db, actorOf(ctx), role.id, state.pending);
    const parts: string[] = [];
    if (r.added) parts.push(`${r.added.toLocaleString('en-US')} user${r.added === 1 ? '' : 's'} moved to ${role.name}`);
    if (r.removed) parts.push(`${r.removed.toLocaleString('en-US')} moved to the default role ${r.defaultRole?.name}`);
    if (r.skipped) parts.push(`${r.skipped.toLocaleString('en-US')} unchanged (already there, or removed meanwhile)`);
    flash(ctx, parts.length ? 'success' : 'info', parts.length ? `Saved: ${parts.join('; ')}.` : 'Nothing to save: no users were moved.');
    redirectTo(ctx, `/roles/${role.id}/users`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500 || e.status === 404) throw e;
    await renderAssignment(ctx, role, state, { error: e.fields.users ?? e.message, message: e.message, status: e.status });
  }
}

// ------------------------------------------------------------------------------------------------- matrix

async function matrix(ctx: Koa.Context) {
  const { db } = ctx.services;
  const roles = ordered(await repo.all(db));
  const perms = await repo.permissionMap(db);
  page(ctx, 'roles/matrix', {
    title: 'Role × permission matrix',
    roles,
    perms,
    groups: permissionGroups(),
    editable: ctx.state.user!.isSuperuser,
  });
}

const CELL_KEY = /^[a-z_.]{1,64}$/;

/**
 * One role's column of the matrix. With htmx a single cell (`cell`) is set or unset at once and the cell is
 * answered; without JavaScript the column's form applies the changes made against `was` (the state shown).
 */
async function saveMatrixColumn(ctx: Koa.Context) {
  if (!requireRecentAuth(ctx, '/roles/matrix')) return;
  const { db } = ctx.services;
  const id = idParam(ctx);
  const b = body(ctx);
  const checked = asArray(b.perm);
  const cell = str(b.cell);
  if (cell) {
    if (!CELL_KEY.test(cell)) throw new ValidationError({ cell: 'Unknown permission.' }, undefined, 400);
    const want = checked.includes(cell);
    let status = 200;
    let error: string | undefined;
    let role = await repo.findById(db, id);
    try {
      const r = await service.changePermissions(db, actorOf(ctx), id, want ? { add: [cell], remove: [] } : { add: [], remove: [cell] });
      role = r.role;
    } catch (e) {
      if (!(e instanceof HttpError) || e.status >= 500) throw e;
      status = e.status;
      error = e.fields.permissions ?? e.message;
    }
    if (!isHtmx(ctx)) {
      if (error) flash(ctx, 'error', error);
      else flash(ctx, 'success', `Saved: ${role?.name} ${want ? 'now has' : 'no longer has'} “${service.permissionLabel(cell)}”.`);
      return redirectTo(ctx, `/roles/matrix#col-${id}`);
    }
    const granted = role ? (await repo.permissionsOf(db, id)).includes(cell as AppPermission) : false;
    const perm = APP_PERMISSIONS.find((p) => p.key === cell);
    return fragment(ctx, 'roles/_cell', { role, roleId: id, perm: perm ?? { key: cell, label: cell }, granted, editable: !!role && !role.builtinKey, status: error ? 'error' : 'saved', error }, status);
  }
  const was = new Set(asArray(b.was).join(',').split(',').filter(Boolean));
  const add = checked.filter((k) => !was.has(k));
  const remove = [...was].filter((k) => !checked.includes(k));
  try {
    const r = await service.changePermissions(db, actorOf(ctx), id, { add, remove });
    const n = r.added.length + r.removed.length;
    flash(ctx, n ? 'success' : 'info', n ? `Saved ${n} change${n === 1 ? '' : 's'} to ${r.role.name}.` : `No changes to ${r.role.name}.`);
  } catch (e) {
    if (!(e instanceof HttpError) || e.status >= 500) throw e;
    flash(ctx, 'error', e.fields.permissions ?? e.message);
  }
  redirectTo(ctx, `/roles/matrix#col-${id}`);
}

export const routes = [
  get('/roles', manage, list),
  get('/roles/new', manage, newRole),
  post('/roles/new', manage, createRole),
  get('/roles/matrix', manage, matrix),
  post('/roles/matrix/:id', SUPERUSER, saveMatrixColumn),
  get('/roles/:id', manage, showRole),
  post('/roles/:id', manage, updateRole),
  get('/roles/:id/clone', manage, cloneForm),
  post('/roles/:id/clone', manage, cloneRole),
  post('/roles/:id/default', manage, makeDefault),
  get('/roles/:id/delete', manage, removal.confirm),
  post('/roles/:id/delete', manage, removal.remove),
  get('/roles/:id/users', manage, assignPage),
  post('/roles/:id/users', manage, saveAssignment),
];
