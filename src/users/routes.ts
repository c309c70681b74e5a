import type Koa from 'koa';
import Joi from 'joi';
import { can, get, idParam, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { confirmation, fragment, page, redirectTo, wantsFragment } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { validate } from '../http/forms';
import { applyOperation, buildView, DualListLimitError, operationFor, readState, type DualListState } from '../http/dualList';
import { groupsOfUserSource } from '../groups/repo';
import * as roles from '../roles/repo';
import { assignmentBlocker } from '../roles/service';
import { signInPanel } from '../auth/adminRoutes';
import * as licenses from '../licenses/repo';
import * as assets from '../assets/repo';
import * as sessions from '../sessions/repo';
import { MIN_PASSWORD_LENGTH } from '../auth/passwordPolicy';
import * as repo from './repo';
import * as service from './service';
import type { User } from './repo';
import { BULK_ACTIONS } from './bulk';
import { bulkRoutes } from './bulkRoutes';
import { csvRoutes } from './csvRoutes';
import { FILTER_KEYS, readListFilters } from './listFilters';
import { policyFor } from './policy';
import { count } from '../http/format';
import { decisionState } from '../changes/follower';
import { searchCountsOf } from './searchCounts';
import { listFromDirectory } from './directoryList';

const manage = can(P.usersManage);
const GROUPS = 'groups';

// ----------------------------------------------------------------------------------------------- the list

async function list(ctx: Koa.Context) {
  const { db } = ctx.services;
  const { query: filters, filter, filterError } = await readListFilters(db, ctx.query as Record<string, unknown>);
  const now = Date.now();
  const state = await decisionState(db);
  const offset = (filters.page - 1) * filters.size;
  const { rows, count } = filter
    ? ((await listFromDirectory(db, state, filter, filters.sort, filters.dir, filters.size + 1, offset, now)) ??
      (await repo.list(db, filter, filters.sort, filters.dir, filters.size + 1, offset, now, undefined, { boundedCount: true, searchCounts: searchCountsOf(state), names: state.names })))
    : { rows: [], count: { n: 0, exact: true } };
  // One row more than a page tells whether there is a next page when the count is only a bound.
  const hasNext = rows.length > filters.size;
  rows.splice(filters.size);
  const pages = count.exact ? Math.max(1, Math.ceil(count.n / filters.size)) : hasNext ? filters.page + 1 : filters.page;
  const data = {
    title: 'Users',
    rows,
    total: count.n,
    count,
    countCap: repo.COUNT_CAP,
    pages,
    pagesKnown: count.exact,
    filters,
    filtered: FILTER_KEYS.some((k) => filters[k] !== undefined && filters[k] !== ''),
    filterError,
    bulkActions: BULK_ACTIONS,
  };
  if (wantsFragment(ctx, 'user-results')) return fragment(ctx, 'users/_results', data);
  // The filters' choices, from the decision state (it holds every role and license type): no query.
  page(ctx, 'users/list', { ...data, roles: state.roleChoices(), licenses: state.licenseChoices() });
}

/** Type-ahead: `<option>`s for a datalist, or JSON for scripts. */
async function suggest(ctx: Koa.Context) {
  // A picker sends its own field (e.g. `transferTo`) and names it in `field`; plain callers send `q`.
  const field = typeof ctx.query.field === 'string' && /^[A-Za-z]{1,40}$/.test(ctx.query.field) ? ctx.query.field : 'q';
  const raw = ctx.query[field] ?? ctx.query.q;
  const q = typeof raw === 'string' ? raw.slice(0, 100) : '';
  const exclude = typeof ctx.query.exclude === 'string' && /^\d{1,10}$/.test(ctx.query.exclude) ? [Number(ctx.query.exclude)] : [];
  const users = q.trim() ? await repo.suggest(ctx.services.db, q, 10, exclude) : [];
  fragment(ctx, 'users/_suggestions', { users });
}

// ------------------------------------------------------------------------------------------ create / edit

interface FormValues {
  /** Only when re-rendering Create user after a group move (see createUser). */
  password?: string;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  roleId: string;
  licenseTypeId: string;
  version: string;
}

function valuesFrom(body: Record<string, unknown>, fallback: Partial<FormValues> = {}): FormValues {
  const str = (k: keyof FormValues) => (typeof body[k] === 'string' ? (body[k] as string) : (fallback[k] ?? ''));
  return {
    username: str('username'),
    firstName: str('firstName'),
    lastName: str('lastName'),
    email: str('email'),
    roleId: str('roleId'),
    licenseTypeId: str('licenseTypeId'),
    version: str('version'),
  };
}

function valuesOf(u: User): FormValues {
  return {
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    roleId: String(u.roleId ?? ''),
    licenseTypeId: String(u.licenseTypeId ?? ''),
    version: String(u.version),
  };
}

async function formOptions(ctx: Koa.Context) {
  const { db } = ctx.services;
  const allRoles = await roles.all(db);
  const seatCounts = await licenses.seatCounts(db);
  const licenseTypes = (await licenses.all(db)).map((l) => ({
    ...l,
    used: seatCounts.get(l.id) ?? 0,
    left: l.seatLimit === null ? null : Math.max(0, l.seatLimit - (seatCounts.get(l.id) ?? 0)),
  }));
  // Offer only the roles this administrator may hand out (the same rule the service enforces).
  const actor = actorOf(ctx);
  const assignable = [];
  for (const r of allRoles) if (!(await assignmentBlocker(db, actor, r))) assignable.push(r);
  return {
    roles: assignable,
    allRoles,
    licenseTypes,
    defaultRole: allRoles.find((r) => r.isDefault),
  };
}

async function renderUserForm(
  ctx: Koa.Context,
  opts: { user?: User; values: FormValues; groups: DualListState; errors?: Record<string, string>; message?: string; status?: number; dualListError?: string },
) {
  const { db } = ctx.services;
  const source = groupsOfUserSource(db, opts.user?.id ?? null);
  const groupsView = await buildView(opts.groups, source, opts.dualListError);
  const action = opts.user ? `/users/${opts.user.id}` : '/users/new';
  const dualList = {
    view: groupsView,
    postUrl: action,
    legend: 'Groups',
    leftTitle: 'Groups the user is not in',
    rightTitle: 'Assigned groups',
    itemNoun: 'group',
  };
  if (wantsFragment(ctx, `dl-${GROUPS}`)) return fragment(ctx, 'partials/dual-list', { dl: dualList }, opts.status ?? 200);
  const extra = opts.user
    ? {
        sessions: await sessions.listLiveForUser(db, opts.user.id, Date.now()),
        ownedAssets: await assets.countOwnedBy(db, opts.user.id),
        signIn: await signInPanel(db, actorOf(ctx), opts.user),
        now: Date.now(),
      }
    : {};
  page(
    ctx,
    'users/form',
    {
      title: opts.user ? `User ${opts.user.username}` : 'Create user',
      subject: opts.user,
      values: opts.values,
      errors: opts.errors ?? {},
      message: opts.message,
      action,
      dl: dualList,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      ...(await formOptions(ctx)),
      ...extra,
    },
    opts.status ?? 200,
  );
}

async function newUser(ctx: Koa.Context) {
  const { defaultRole } = await formOptions(ctx);
  await renderUserForm(ctx, {
    values: valuesFrom({}, { roleId: String(defaultRole?.id ?? ''), licenseTypeId: '' }),
    groups: readState(GROUPS),
  });
}

/** A dual-list button re-renders the form with the new pending state; anything else saves. */
async function handleDualList(ctx: Koa.Context, body: Record<string, unknown>, render: (state: DualListState, error?: string) => Promise<void>) {
  const op = operationFor(GROUPS, body);
  if (!op) return false;
  const state = readState(GROUPS, body);
  const userId = ctx.path === '/users/new' ? null : idParam(ctx);
  try {
    await render(await applyOperation(state, op, groupsOfUserSource(ctx.services.db, userId)));
  } catch (e) {
    if (!(e instanceof DualListLimitError)) throw e;
    await render(state, e.message);
  }
  return true;
}

async function createUser(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const values = valuesFrom(body);
  // A group move re-renders the form without JavaScript: the password typed so far stays in it (and the
  // page is not cached), so moving groups does not make the administrator type it again.
  const typed = { ...values, password: typeof body.password === 'string' ? body.password.slice(0, 1024) : '' };
  if (
    await handleDualList(ctx, body, (groups, dualListError) => {
      ctx.set('Cache-Control', 'no-store');
      return renderUserForm(ctx, { values: typed, groups, dualListError });
    })
  )
    return;
  const groups = readState(GROUPS, body);
  try {
    const user = await service.createUser(
      ctx.services.db,
      actorOf(ctx),
      { ...body, addGroupIds: groups.pending.add },
      ctx.services.config.scryptN,
    );
    flash(ctx, 'success', `User ${user.username} created.`);
    redirectTo(ctx, `/users/${user.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderUserForm(ctx, { values, groups, errors: e.fields, message: e.message, status: e.status });
  }
}

async function loadUser(ctx: Koa.Context): Promise<User> {
  const user = await repo.findById(ctx.services.db, idParam(ctx));
  if (!user) throw notFound('User');
  return user;
}

async function showUser(ctx: Koa.Context) {
  const user = await loadUser(ctx);
  await renderUserForm(ctx, { user, values: valuesOf(user), groups: readState(GROUPS) });
}

async function updateUser(ctx: Koa.Context) {
  const user = await loadUser(ctx);
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const values = valuesFrom(body, valuesOf(user));
  values.username = user.username;
  if (await handleDualList(ctx, body, (groups, dualListError) => renderUserForm(ctx, { user, values, groups, dualListError }))) return;
  const groups = readState(GROUPS, body);
  try {
    const saved = await service.updateUser(
      ctx.services.db,
      actorOf(ctx),
      user.id,
      { ...body, addGroupIds: groups.pending.add, removeGroupIds: groups.pending.remove },
      ctx.services.config.scryptN,
    );
    if (saved.version === user.version) flash(ctx, 'info', 'Nothing to save: no changes were made.');
    else flash(ctx, 'success', `User ${saved.username} saved.`);
    redirectTo(ctx, `/users/${saved.id}`);
  } catch (e) {
    if (!(e instanceof HttpError) || (e.status !== 422 && e.status !== 409 && e.status !== 403)) throw e;
    const current = (await repo.findById(ctx.services.db, user.id)) ?? user;
    // On a conflict the form keeps the administrator's input but takes the new version, so saving again applies it knowingly.
    const next = e.code === 'conflict' ? { ...values, version: String(current.version) } : values;
    await renderUserForm(ctx, { user: current, values: next, groups, errors: e.fields, message: e.message, status: e.status });
  }
}

// ---------------------------------------------------------------------------------------------- actions

function action(run: (ctx: Koa.Context, user: User) => Promise<string>) {
  return async (ctx: Koa.Context) => {
    const user = await loadUser(ctx);
    try {
      flash(ctx, 'success', await run(ctx, user));
    } catch (e) {
      if (!(e instanceof HttpError) || e.status >= 500) throw e;
      flash(ctx, 'error', e.message);
    }
    redirectTo(ctx, `/users/${user.id}`);
  };
}

const deactivate = action(async (ctx, u) => {
  await service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'deactivated');
  return `${u.username} is deactivated and signed out everywhere.`;
});
const reactivate = action(async (ctx, u) => {
  await service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'active');
  return `${u.username} is active again.`;
});
const unlock = action(async (ctx, u) => {
  await service.unlock(ctx.services.db, actorOf(ctx), u.id);
  return `${u.username} is unlocked.`;
});
const endSessions = action(async (ctx, u) => {
  const n = await service.endSessions(ctx.services.db, actorOf(ctx), u.id);
  return n ? `Ended ${n} session${n === 1 ? '' : 's'} of ${u.username}.` : `${u.username} had no open sessions.`;
});

/**
 * Deactivate and End sessions ask first, with the same confirmation as Remove: a dialog with htmx, a page
 * of its own without JavaScript. What the service would refuse (yourself, a user above you) says so instead.
 */
function confirmAction(kind: 'deactivate' | 'end-sessions') {
  return async (ctx: Koa.Context) => {
    const user = await loadUser(ctx);
    const { db } = ctx.services;
    const refusal = kind === 'deactivate' ? await service.removalBlocker(db, actorOf(ctx), user) : await policyFor(db, actorOf(ctx)).blocker(user);
    const open = kind === 'end-sessions' ? (await sessions.listLiveForUser(db, user.id, Date.now())).length : 0;
    const data =
      kind === 'deactivate'
        ? {
            title: `Deactivate ${user.username}`,
            heading: `Deactivate ${user.username}?`,
            message: `${user.username} is signed out everywhere and cannot sign in, use API tokens or hold sessions until reactivated. Their groups, role and assets stay as they are.`,
            confirmLabel: 'Deactivate',
          }
        : {
            title: `End the sessions of ${user.username}`,
            heading: `Sign ${user.username} out everywhere?`,
            message: open
              ? `${count(open, 'open session')} of ${user.username} end now; they can sign in again.`
              : `${user.username} has no open sessions right now; nothing would end.`,
            confirmLabel: 'End sessions',
          };
    confirmation(ctx, 'users/confirm-action', { ...data, subject: user, action: `/users/${user.id}/${kind}`, blocker: refusal?.message });
  };
}

// ----------------------------------------------------------------------------------------------- remove

const removal = removalFlow<User>({
  view: 'users/remove',
  load: loadUser,
  async data(ctx, user, values) {
    const { db } = ctx.services;
    const ownedCount = await assets.countOwnedBy(db, user.id);
    return {
      title: `Remove ${user.username}`,
      subject: user,
      ownedCount,
      owned: await assets.ownedBy(db, user.id, 50),
      blocker: (await service.removalBlocker(db, actorOf(ctx), user))?.message,
      values: { assets: values.assets ?? (ownedCount ? 'transfer' : 'none'), transferTo: values.transferTo ?? '' },
    };
  },
  async remove(ctx, user, body) {
    const result = await service.deleteUser(ctx.services.db, actorOf(ctx), user.id, body);
    const what =
      result.mode === 'transfer'
        ? ` ${result.assets} asset${result.assets === 1 ? '' : 's'} now belong to ${body.transferTo}.`
        : result.mode === 'delete'
          ? ` ${result.assets} asset${result.assets === 1 ? ' was' : 's were'} deleted.`
          : '';
    return { message: `User ${result.username} removed.${what}`, redirect: '/users' };
  },
});

export const routes = [
  get('/users', manage, list),
  get('/users/suggest', can(P.usersManage, P.accessManage), suggest),
  ...bulkRoutes,
  ...csvRoutes,
  get('/users/new', manage, newUser),
  post('/users/new', manage, createUser),
  get('/users/:id', manage, showUser),
  post('/users/:id', manage, updateUser),
  get('/users/:id/deactivate', manage, confirmAction('deactivate')),
  post('/users/:id/deactivate', manage, deactivate),
  post('/users/:id/reactivate', manage, reactivate),
  post('/users/:id/unlock', manage, unlock),
  get('/users/:id/end-sessions', manage, confirmAction('end-sessions')),
  post('/users/:id/end-sessions', manage, endSessions),
  get('/users/:id/delete', manage, removal.confirm),
  post('/users/:id/delete', manage, removal.remove),
];
