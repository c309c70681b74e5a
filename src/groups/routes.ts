import type Koa from 'koa';
import Joi from 'joi';
import { can, get, idParam, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { fragment, isHtmx, page, redirectTo, renderToString, wantsFragment, confirmation } from '../http/render';
import { flash } from '../http/session';
import { removalFlow } from '../http/removal';
import { actorOf } from '../http/auth';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { validate } from '../http/forms';
import { applyOperation, buildView, DualListLimitError, operationFor, readState, type DualListState } from '../http/dualList';
import * as fmt from '../http/format';
import { csvDate, sendCsv } from '../http/csv';
import * as users from '../users/repo';
import { membersOfGroupSource } from './membersRepo';
import * as repo from './repo';
import * as service from './service';
import type { GroupWithCount } from './repo';

const manage = can(P.usersManage);
/** The dual list's name: its fields are `members_add`, `members_remove`, … and its element `#dl-members`. */
const MEMBERS = 'members';
const PAGE_SIZE = 50;
const CANDIDATES = 8;

type Body = Record<string, unknown>;
const bodyOf = (ctx: Koa.Context): Body => (ctx.request.body ?? {}) as Body;
const str = (v: unknown): string => (typeof v === 'string' ? v : Array.isArray(v) && typeof v[0] === 'string' ? v[0] : '');

const listQuery = Joi.object({
  q: Joi.string().trim().max(100).allow('').default(''),
  page: Joi.number().integer().min(1).max(100000).default(1),
  sort: Joi.string().valid(...repo.GROUP_SORTS).default('name'),
  dir: Joi.string().valid('asc', 'desc').default('asc'),
});

interface ListParams {
  q: string;
  page: number;
  sort: repo.GroupSort;
  dir: 'asc' | 'desc';
}

/** Query parameters of a list page; anything not understood falls back to the first page of everything. */
function listParams(ctx: Koa.Context): ListParams {
  try {
    return validate<ListParams>(listQuery, ctx.query);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return { q: '', page: 1, sort: 'name', dir: 'asc' };
  }
}

async function loadGroup(ctx: Koa.Context): Promise<GroupWithCount> {
  const g = await repo.findByIdWithCount(ctx.services.db, idParam(ctx));
  if (!g) throw notFound('Group');
  return g;
}

// ------------------------------------------------------------------------------------------------- list

async function renderList(
  ctx: Koa.Context,
  opts: { values?: { name: string; description: string }; errors?: Record<string, string>; message?: string; status?: number } = {},
) {
  const { q, page: pageNo, sort, dir } = listParams(ctx);
  let { rows, total } = await repo.list(ctx.services.db, q, PAGE_SIZE, (pageNo - 1) * PAGE_SIZE, { sort, dir });
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  let current = pageNo;
  if (pageNo > pages) {
    current = pages;
    ({ rows, total } = await repo.list(ctx.services.db, q, PAGE_SIZE, (pages - 1) * PAGE_SIZE, { sort, dir }));
  }
  const data = {
    title: 'Groups',
    q,
    sort,
    dir,
    page: current,
    pages,
    rows,
    total,
    values: opts.values ?? { name: '', description: '' },
    errors: opts.errors ?? {},
    message: opts.message,
    createOpen: !!opts.errors,
  };
  if (wantsFragment(ctx, 'group-results')) return fragment(ctx, 'groups/_results', data);
  page(ctx, 'groups/list', data, opts.status ?? 200);
}

async function list(ctx: Koa.Context) {
  await renderList(ctx);
}

async function create(ctx: Koa.Context) {
  const body = bodyOf(ctx);
  const values = { name: str(body.name), description: str(body.description) };
  try {
    const g = await service.createGroup(ctx.services.db, actorOf(ctx), values);
    flash(ctx, 'success', `Group ${g.name} created. Add its members below.`);
    redirectTo(ctx, `/groups/${g.id}`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderList(ctx, { values, errors: e.fields, message: e.message, status: e.status });
  }
}

/** `<option>`s of group names for a picker's datalist; the picker sends its own field name. */
async function suggestGroups(ctx: Koa.Context) {
  const q = ['q', 'group', 'requester', 'approver'].map((k) => str(ctx.query[k])).find((v) => v) ?? '';
  const groups = await repo.suggest(ctx.services.db, q.slice(0, 100), 10);
  fragment(ctx, 'groups/_group-options', { groups });
}

// ------------------------------------------------------------------------------------ the Members tab

interface DetailsValues {
  name: string;
  description: string;
  version: string;
  baseName: string;
  baseDescription: string;
}

function valuesOf(g: GroupWithCount): DetailsValues {
  return { name: g.name, description: g.description, version: String(g.version), baseName: g.name, baseDescription: g.description };
}

interface AddState {
  q: string;
  results?: Awaited<ReturnType<typeof repo.candidates>>;
  more?: boolean;
  message?: string;
  error?: string;
}

async function findCandidates(ctx: Koa.Context, groupId: number, q: string): Promise<AddState> {
  const text = q.trim().slice(0, 100);
  if (!text) return { q: text };
  const found = await repo.candidates(ctx.services.db, groupId, text, CANDIDATES + 1);
  return { q: text, results: found.slice(0, CANDIDATES), more: found.length > CANDIDATES };
}

function dualListModel(group: GroupWithCount, view: Awaited<ReturnType<typeof buildView>>) {
  return {
    view,
    postUrl: `/groups/${group.id}`,
    legend: 'Members',
    leftTitle: 'Users not in the group',
    rightTitle: 'Assigned users',
    itemNoun: 'user',
    note: 'Select users and move them with > and <. Moves stay pending until you press Save.',
  };
}

async function renderGroupPage(
  ctx: Koa.Context,
  group: GroupWithCount,
  opts: { values?: DetailsValues; state?: DualListState; errors?: Record<string, string>; message?: string; status?: number; dualListError?: string; add?: AddState } = {},
) {
  const state = opts.state ?? readState(MEMBERS);
  const view = await buildView(state, membersOfGroupSource(ctx.services.db, group.id), opts.dualListError);
  const dl = dualListModel(group, view);
  if (wantsFragment(ctx, `dl-${MEMBERS}`)) return fragment(ctx, 'partials/dual-list', { dl }, opts.status ?? 200);
  page(
    ctx,
    'groups/show',
    {
      title: `Group ${group.name}`,
      group,
      values: opts.values ?? valuesOf(group),
      errors: opts.errors ?? {},
      message: opts.message,
      dl,
      add: opts.add ?? { q: '' },
    },
    opts.status ?? 200,
  );
}

async function show(ctx: Koa.Context) {
  await renderGroupPage(ctx, await loadGroup(ctx));
}

function detailsFrom(body: Body, fallback: DetailsValues): DetailsValues {
  const pick = (k: keyof DetailsValues) => (typeof body[k] === 'string' ? (body[k] as string) : fallback[k]);
  return { name: pick('name'), description: pick('description'), version: pick('version'), baseName: pick('baseName'), baseDescription: pick('baseDescription') };
}

const plural = (n: number, noun: string) => fmt.count(n, noun);

/** What the administrator reads after a save of the group page. */
function saveMessages(groupName: string, r: Awaited<ReturnType<typeof service.saveGroup>>): Array<{ type: 'success' | 'info'; text: string }> {
  const out: Array<{ type: 'success' | 'info'; text: string }> = [];
  const m = r.members;
  const d = r.details;
  if (d?.changed) {
    out.push({ type: 'success', text: d.merged ? `Details of ${groupName} saved; changes someone else made meanwhile to the fields you left alone were kept.` : `Details of ${groupName} saved.` });
  }
  if (m && (m.addedCount || m.removedCount || m.merged)) {
    const moves = `${plural(m.addedCount, 'user')} added, ${plural(m.removedCount, 'user')} removed`;
    const already: string[] = [];
    if (m.alreadyMembers) already.push(`${fmt.number(m.alreadyMembers)} of your additions ${m.alreadyMembers === 1 ? 'was already a member' : 'were already members'}`);
    if (m.alreadyRemoved) already.push(`${fmt.number(m.alreadyRemoved)} of your removals ${m.alreadyRemoved === 1 ? 'was' : 'were'} already out of the group`);
    if (m.missingUsers) already.push(`${plural(m.missingUsers, 'user')} no longer ${m.missingUsers === 1 ? 'exists' : 'exist'}`);
    const extra = already.length ? ` (${already.join('; ')})` : '';
    const total = `${groupName} now has ${plural(m.memberCount, 'member')}.`;
    if (m.merged) {
      out.push({
        type: 'info',
        text: `${groupName} had changed meanwhile: someone else saved it while you were editing. Your moves were merged with theirs and nothing was lost: ${moves}${extra}. ${total}`,
      });
    } else {
      out.push({ type: 'success', text: `Members of ${groupName} saved: ${moves}${extra}. ${total}` });
    }
  }
  if (!out.length) out.push({ type: 'info', text: 'Nothing to save: no changes were made.' });
  return out;
}

/** A dual-list button re-renders the page (or just the component) with the new pending state; Save saves. */
async function save(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const body = bodyOf(ctx);
  const values = detailsFrom(body, valuesOf(group));
  const op = operationFor(MEMBERS, body);
  const state = readState(MEMBERS, body);
  if (op) {
    try {
      return await renderGroupPage(ctx, group, { values, state: await applyOperation(state, op, membersOfGroupSource(ctx.services.db, group.id)) });
    } catch (e) {
      if (!(e instanceof DualListLimitError)) throw e;
      return renderGroupPage(ctx, group, { values, state, dualListError: e.message });
    }
  }
  try {
    const result = await service.saveGroup(ctx.services.db, actorOf(ctx), group.id, {
      details: { name: values.name, description: values.description, version: values.version, baseName: values.baseName, baseDescription: values.baseDescription },
      members: { add: state.pending.add, remove: state.pending.remove, version: values.version },
    });
    for (const m of saveMessages(result.group.name, result)) flash(ctx, m.type, m.text);
    redirectTo(ctx, `/groups/${group.id}`);
  } catch (e) {
    if (!(e instanceof HttpError) || (e.status !== 422 && e.status !== 409 && e.status !== 403)) throw e;
    const current = (await repo.findByIdWithCount(ctx.services.db, group.id)) ?? group;
    // After a conflict the form keeps the administrator's input and takes the current version and values as
    // its new base, so saving again applies it knowingly. Pending moves stay pending either way.
    const next = e.status === 409 ? { ...values, version: String(current.version), baseName: current.name, baseDescription: current.description } : values;
    const errors = { ...e.fields };
    if (errors['add'] || errors['remove']) errors.members = errors.add ?? errors.remove;
    await renderGroupPage(ctx, current, { values: next, state: { ...state, leftSelected: [], rightSelected: [] }, errors, message: e.message, status: e.status });
  }
}

// --------------------------------------------------------------------------------------- + Add member

async function candidates(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const add = await findCandidates(ctx, group.id, str(ctx.query.q));
  if (wantsFragment(ctx, 'add-member-results')) return fragment(ctx, 'groups/_candidates', { group, add });
  await renderGroupPage(ctx, group, { add });
}

async function addMember(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const body = bodyOf(ctx);
  const q = str(body.q).slice(0, 100);
  const raw = str(body.userId);
  let message: string | undefined;
  let error: string | undefined;
  let status = 200;
  let removedFromPending: number | undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(raw) || Number(raw) > 2147483647) {
    error = 'Choose a user from the list.';
    status = 422;
  } else {
    try {
      const r = await service.addMember(ctx.services.db, actorOf(ctx), group.id, Number(raw));
      removedFromPending = Number(raw);
      message = r.added
        ? `${r.username} was added to ${group.name}, which now has ${plural(r.result.memberCount, 'member')}.`
        : `${r.username} is already a member of ${group.name}.`;
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      error = Object.values(e.fields)[0] ?? e.message;
      status = e.status;
    }
  }
  if (!isHtmx(ctx)) {
    flash(ctx, error ? 'error' : 'success', (error ?? message)!);
    return redirectTo(ctx, `/groups/${group.id}`);
  }
  // htmx: swap the dual list (keeping the administrator's pending moves) and refresh the count, the version
  // the form will save against, and the candidates (the added user drops out of them).
  const fresh = (await repo.findByIdWithCount(ctx.services.db, group.id))!;
  const state = readState(MEMBERS, body);
  if (removedFromPending !== undefined) {
    state.pending = { add: state.pending.add.filter((id) => id !== removedFromPending), remove: state.pending.remove.filter((id) => id !== removedFromPending) };
  }
  const view = await buildView(state, membersOfGroupSource(ctx.services.db, group.id));
  const add = { ...(await findCandidates(ctx, group.id, q)), message, error };
  const parts = [
    renderToString(ctx, 'partials/dual-list', { dl: dualListModel(fresh, view) }),
    renderToString(ctx, 'groups/_candidates', { group: fresh, add, oob: true }),
    `<span id="member-count" class="badge" hx-swap-oob="true">${fmt.count(fresh.memberCount, 'member')}</span>`,
    `<input type="hidden" id="group-version" name="version" value="${fresh.version}" hx-swap-oob="true">`,
  ];
  ctx.status = status;
  ctx.type = 'html';
  ctx.vary('HX-Request');
  ctx.body = parts.join('\n');
}

// ------------------------------------------------------------------------------------------------ remove

const removal = removalFlow<GroupWithCount>({
  view: 'groups/remove',
  load: loadGroup,
  data: async (ctx, group) => ({ title: `Remove ${group.name}`, group, impact: await repo.removalImpact(ctx.services.db, group.id), cancelHref: `/groups/${group.id}` }),
  async remove(ctx, group) {
    const { name, impact } = await service.deleteGroup(ctx.services.db, actorOf(ctx), group.id);
    const message = `Group ${name} removed, with ${plural(impact.memberships, 'membership')}, ${plural(impact.permissions, 'domain permission')}, ${plural(impact.shares, 'asset share')} and ${plural(impact.relations, 'relation')}.`;
    return { message, redirect: '/groups' };
  },
});

// --------------------------------------------------------------------------------------------- relations

interface WhoState {
  query: string;
  error?: string;
  user?: { id: number; username: string };
  summary?: service.ApproverSummary;
  groupCount?: number;
}

async function whoApproves(ctx: Koa.Context): Promise<WhoState> {
  const query = str(ctx.query.user).trim().slice(0, 64);
  if (!query) return { query };
  const user = await users.findByUsername(ctx.services.db, query);
  if (!user) return { query, error: `There is no user "${query}".` };
  const summary = await service.approversFor(ctx.services.db, user.id);
  const groupCount = (await users.groupIdsOf(ctx.services.db, user.id)).length;
  return { query, user: { id: user.id, username: user.username }, summary, groupCount };
}

async function renderRelations(
  ctx: Koa.Context,
  opts: { values?: { requester: string; approver: string }; errors?: Record<string, string>; message?: string; status?: number } = {},
) {
  const who = await whoApproves(ctx);
  if (wantsFragment(ctx, 'who-approves')) return fragment(ctx, 'groups/_who-approves', { who });
  const { q, page: pageNo } = listParams(ctx);
  let { rows, total } = await repo.listRelations(ctx.services.db, q, PAGE_SIZE, (pageNo - 1) * PAGE_SIZE);
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  let current = pageNo;
  if (pageNo > pages) {
    current = pages;
    ({ rows, total } = await repo.listRelations(ctx.services.db, q, PAGE_SIZE, (pages - 1) * PAGE_SIZE));
  }
  const data = {
    title: 'Group relations',
    q,
    page: current,
    pages,
    rows,
    total,
    who,
    values: opts.values ?? { requester: '', approver: '' },
    errors: opts.errors ?? {},
    message: opts.message,
  };
  if (wantsFragment(ctx, 'relation-results')) return fragment(ctx, 'groups/_relations-results', data);
  page(ctx, 'groups/relations', data, opts.status ?? 200);
}

async function relations(ctx: Koa.Context) {
  await renderRelations(ctx);
}

async function addRelation(ctx: Koa.Context) {
  const body = bodyOf(ctx);
  const values = { requester: str(body.requester).slice(0, 200), approver: str(body.approver).slice(0, 200) };
  try {
    const { requester, approver } = await service.addRelation(ctx.services.db, actorOf(ctx), values);
    flash(ctx, 'success', `Models published by members of ${requester.name} now need approval from a member of ${approver.name}.`);
    redirectTo(ctx, '/groups/relations');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await renderRelations(ctx, { values, errors: e.fields, message: e.message, status: e.status });
  }
}

/** `<option>`s of usernames for the "who approves" picker. */
async function groupRelationsPage(
  ctx: Koa.Context,
  group: GroupWithCount,
  opts: { side?: 'approver' | 'requester'; values?: { group: string }; errors?: Record<string, string>; message?: string; status?: number } = {},
) {
  const { db } = ctx.services;
  page(
    ctx,
    'groups/group-relations',
    {
      title: `Relations of ${group.name}`,
      group,
      approvers: await repo.relatedGroups(db, group.id, 'requester'),
      requesters: await repo.relatedGroups(db, group.id, 'approver'),
      side: opts.side,
      values: opts.values ?? { group: '' },
      errors: opts.errors ?? {},
      message: opts.message,
    },
    opts.status ?? 200,
  );
}

async function groupRelations(ctx: Koa.Context) {
  await groupRelationsPage(ctx, await loadGroup(ctx));
}

async function addGroupRelation(ctx: Koa.Context) {
  const group = await loadGroup(ctx);
  const body = bodyOf(ctx);
  const side = str(body.side) === 'requester' ? 'requester' : 'approver';
  const other = str(body[side]).slice(0, 200);
  const pair = side === 'approver' ? { requester: group.name, approver: other } : { requester: other, approver: group.name };
  try {
    const { requester, approver } = await service.addRelation(ctx.services.db, actorOf(ctx), pair);
    flash(ctx, 'success', `Models published by members of ${requester.name} now need approval from a member of ${approver.name}.`);
    redirectTo(ctx, `/groups/${group.id}/relations`);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    // The message belongs beside the field the administrator typed in, whichever side of the pair it names.
    const errors: Record<string, string> = { [side]: e.fields[side] ?? e.fields[side === 'approver' ? 'requester' : 'approver'] ?? e.message };
    await groupRelationsPage(ctx, group, { side, values: { group: other }, errors, message: e.message, status: e.status });
  }
}

/** Where to go after removing a relation: back to the group's Relations tab it was removed from, or the list. */
function relationReturn(ctx: Koa.Context, requesterId: number, approverId: number): string {
  const from = str(ctx.query.from);
  if (/^[1-9][0-9]{0,9}$/.test(from) && (Number(from) === requesterId || Number(from) === approverId)) return `/groups/${from}/relations`;
  return '/groups/relations';
}

async function loadRelation(ctx: Koa.Context) {
  const requesterId = idParam(ctx, 'requester');
  const approverId = idParam(ctx, 'approver');
  const { db } = ctx.services;
  const requester = await repo.findById(db, requesterId);
  const approver = await repo.findById(db, approverId);
  if (!requester || !approver || !(await repo.relationExists(db, requesterId, approverId))) throw notFound('Relation');
  return { requesterId, requesterName: requester.name, approverId, approverName: approver.name };
}

async function confirmRelationRemoval(ctx: Koa.Context) {
  const relation = await loadRelation(ctx);
  const back = relationReturn(ctx, relation.requesterId, relation.approverId);
  const otherApprovers = (await repo.relatedGroups(ctx.services.db, relation.requesterId, 'requester')).length - 1;
  const from = str(ctx.query.from);
  const data = {
    title: 'Remove relation',
    relation,
    otherApprovers,
    action: `/groups/relations/${relation.requesterId}/${relation.approverId}/delete${back === '/groups/relations' ? '' : `?from=${from}`}`,
    cancelHref: back,
  };
  confirmation(ctx, 'groups/relation-remove', data);
}

async function removeRelation(ctx: Koa.Context) {
  const relation = await loadRelation(ctx);
  await service.removeRelation(ctx.services.db, actorOf(ctx), relation.requesterId, relation.approverId);
  flash(ctx, 'success', `${relation.approverName} no longer approves for ${relation.requesterName}.`);
  redirectTo(ctx, relationReturn(ctx, relation.requesterId, relation.approverId));
}

/** The group's members as CSV (the shared writer), streamed in username order. */
async function exportMembers(ctx: Koa.Context) {
  const { db } = ctx.services;
  const group = await repo.findById(db, idParam(ctx));
  if (!group) throw notFound('Group');
  const slug = group.name.toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-|-$/g, '') || 'group';
  sendCsv(
    ctx,
    `${slug}-members.csv`,
    ['username', 'first_name', 'last_name', 'email', 'added_at'],
    (async function* () {
      let after = '';
      for (;;) {
        const page = await repo.membersAfter(db, group.id, after, 1000);
        if (!page.length) return;
        yield page.map((m) => [m.username, m.firstName, m.lastName, m.email, csvDate(m.addedAt)]);
        after = page[page.length - 1].username.toLowerCase();
      }
    })(),
  );
}

export const routes = [
  get('/groups', manage, list),
  post('/groups', manage, create),
  get('/groups/suggest', can(P.usersManage, P.accessManage), suggestGroups),
  get('/groups/relations', manage, relations),
  post('/groups/relations', manage, addRelation),
  get('/groups/relations/:requester/:approver/delete', manage, confirmRelationRemoval),
  post('/groups/relations/:requester/:approver/delete', manage, removeRelation),
  get('/groups/:id', manage, show),
  post('/groups/:id', manage, save),
  get('/groups/:id/members.csv', manage, exportMembers),
  get('/groups/:id/candidates', manage, candidates),
  post('/groups/:id/members/add', manage, addMember),
  get('/groups/:id/relations', manage, groupRelations),
  post('/groups/:id/relations', manage, addGroupRelation),
  get('/groups/:id/delete', manage, removal.confirm),
  post('/groups/:id/delete', manage, removal.remove),
];
