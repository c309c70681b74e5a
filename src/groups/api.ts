import type Koa from 'koa';
import Joi from 'joi';
import { can, del, get, patch, post } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { validate } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import * as users from '../users/repo';
import * as repo from './repo';
import * as service from './service';
import type { Group, GroupWithCount } from './repo';

const manage = can(P.usersManage);

const iso = (ms: number) => new Date(ms).toISOString();

export function groupJson(g: GroupWithCount, extra: Record<string, unknown> = {}) {
  return {
    id: g.id,
    name: g.name,
    description: g.description,
    memberCount: g.memberCount,
    version: g.version,
    createdAt: iso(g.createdAt),
    updatedAt: iso(g.updatedAt),
    ...extra,
  };
}

function body(ctx: Koa.Context): Record<string, unknown> {
  const b = ctx.request.body;
  if (!b || typeof b !== 'object' || Array.isArray(b)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return b as Record<string, unknown>;
}

const param = (ctx: Koa.Context, name: string) => String((ctx as unknown as { params: Record<string, string> }).params[name] ?? '');

async function findGroup(ctx: Koa.Context): Promise<GroupWithCount> {
  const name = param(ctx, 'name');
  const g = name.length <= 100 ? await repo.findByName(ctx.services.db, name) : undefined;
  if (!g) throw notFound('Group');
  return (await repo.findByIdWithCount(ctx.services.db, g.id))!;
}

const paging = {
  limit: Joi.number().integer().min(1).max(500).default(50),
  offset: Joi.number().integer().min(0).max(10_000_000).default(0),
};
const listQuery = Joi.object({ q: Joi.string().trim().max(100).allow('').default(''), ...paging });

function page<T>(items: T[], total: number, q: { limit: number; offset: number }) {
  return { items, total, limit: q.limit, offset: q.offset, nextOffset: q.offset + items.length < total ? q.offset + items.length : null };
}

// ------------------------------------------------------------------------------------------------ groups

async function listGroups(ctx: Koa.Context) {
  const q = validate<{ q: string; limit: number; offset: number }>(listQuery, ctx.query, { allowUnknown: false, status: 400 });
  const { rows, total } = await repo.list(ctx.services.db, q.q, q.limit, q.offset);
  ctx.body = page(rows.map((g) => groupJson(g)), total, q);
}

async function relationsOf(ctx: Koa.Context, g: Group) {
  const { db } = ctx.services;
  return {
    approverGroups: (await repo.relatedGroups(db, g.id, 'requester')).map((r) => r.name),
    requesterGroups: (await repo.relatedGroups(db, g.id, 'approver')).map((r) => r.name),
  };
}

async function getGroup(ctx: Koa.Context) {
  const g = await findGroup(ctx);
  ctx.body = groupJson(g, await relationsOf(ctx, g));
}

const createBody = Joi.object({ name: Joi.any(), description: Joi.any() });
const updateBody = Joi.object({ name: Joi.any(), description: Joi.any(), version: Joi.number().integer().min(1).max(2147483647).label('version') });

async function createGroup(ctx: Koa.Context) {
  const input = validate<{ name?: unknown; description?: unknown }>(createBody, body(ctx), { allowUnknown: false, status: 400 });
  const g = await service.createGroup(ctx.services.db, actorOf(ctx), input);
  ctx.status = 201;
  ctx.set('Location', `/api/v1/groups/${encodeURIComponent(g.name)}`);
  ctx.body = groupJson({ ...g, memberCount: 0 });
}

async function updateGroup(ctx: Koa.Context) {
  const current = await findGroup(ctx);
  const input = validate<{ name?: unknown; description?: unknown; version?: number }>(updateBody, body(ctx), { allowUnknown: false, status: 400 });
  // PATCH: fields not sent keep their values. A stale `version` is refused (409): an API client has no base to merge from.
  const { group } = await service.updateDetails(ctx.services.db, actorOf(ctx), current.id, {
    name: input.name ?? current.name,
    description: input.description ?? current.description,
    version: input.version,
  });
  const fresh = (await repo.findByIdWithCount(ctx.services.db, group.id))!;
  ctx.body = groupJson(fresh, await relationsOf(ctx, fresh));
}

async function deleteGroup(ctx: Koa.Context) {
  const g = await findGroup(ctx);
  validate(Joi.object({}), ctx.query, { allowUnknown: false, status: 400 });
  const { name, impact } = await service.deleteGroup(ctx.services.db, actorOf(ctx), g.id);
  ctx.body = { deleted: name, removed: { memberships: impact.memberships, domainPermissions: impact.permissions, assetShares: impact.shares, relations: impact.relations } };
}

// ----------------------------------------------------------------------------------------------- members

async function listMembers(ctx: Koa.Context) {
  const g = await findGroup(ctx);
  const q = validate<{ q: string; limit: number; offset: number }>(listQuery, ctx.query, { allowUnknown: false, status: 400 });
  const { rows, total } = await repo.listMembers(ctx.services.db, g.id, q.q, q.limit, q.offset);
  ctx.body = page(
    rows.map((r) => ({ id: r.id, username: r.username, firstName: r.firstName, lastName: r.lastName, email: r.email, addedAt: iso(r.addedAt) })),
    total,
    q,
  );
}

const usernames = (label: string) => Joi.array().items(Joi.string().trim().min(1).max(64).label(`${label} item`)).max(service.MAX_MOVES).default([]).label(label);
const membersBody = Joi.object({ add: usernames('add'), remove: usernames('remove'), version: Joi.number().integer().min(1).max(2147483647).label('version') });

function listNames(names: string[]): string {
  const shown = names.slice(0, 20).join(', ');
  return names.length > 20 ? `${shown} and ${names.length - 20} more` : shown;
}

async function changeMembers(ctx: Koa.Context) {
  const g = await findGroup(ctx);
  const input = validate<{ add: string[]; remove: string[]; version?: number }>(membersBody, body(ctx), { allowUnknown: false, status: 400 });
  if (!input.add.length && !input.remove.length) throw new ValidationError({ add: 'Send at least one username in "add" or "remove".' });
  const lower = (list: string[]) => [...new Set(list.map((u) => u.toLowerCase()))];
  const add = lower(input.add);
  const remove = lower(input.remove);
  const both = add.filter((u) => remove.includes(u));
  if (both.length) throw new ValidationError({ remove: `A user cannot be both added and removed: ${listNames(both)}.` });
  const found = await repo.findUsersByNames(ctx.services.db, [...add, ...remove]);
  const fields: Record<string, string> = {};
  const unknownAdd = add.filter((u) => !found.has(u));
  const unknownRemove = remove.filter((u) => !found.has(u));
  if (unknownAdd.length) fields.add = `Unknown user${unknownAdd.length === 1 ? '' : 's'}: ${listNames(unknownAdd)}.`;
  if (unknownRemove.length) fields.remove = `Unknown user${unknownRemove.length === 1 ? '' : 's'}: ${listNames(unknownRemove)}.`;
  if (Object.keys(fields).length) throw new ValidationError(fields);
  const r = await service.saveMembers(ctx.services.db, actorOf(ctx), g.id, {
    add: add.map((u) => found.get(u)!.id),
    remove: remove.map((u) => found.get(u)!.id),
    version: input.version,
  });
  ctx.body = {
    group: g.name,
    added: r.added,
    removed: r.removed,
    addedCount: r.addedCount,
    removedCount: r.removedCount,
    alreadyMembers: r.alreadyMembers,
    alreadyRemoved: r.alreadyRemoved,
    merged: r.merged,
    memberCount: r.memberCount,
    version: r.version,
  };
}

// --------------------------------------------------------------------------------------------- relations

async function listRelations(ctx: Koa.Context) {
  const q = validate<{ q: string; limit: number; offset: number }>(listQuery, ctx.query, { allowUnknown: false, status: 400 });
  const { rows, total } = await repo.listRelations(ctx.services.db, q.q, q.limit, q.offset);
  ctx.body = page(
    rows.map((r) => ({ requester: r.requesterName, approver: r.approverName, createdAt: iso(r.createdAt) })),
    total,
    q,
  );
}

const pairBody = Joi.object({ requester: Joi.any(), approver: Joi.any() });

async function createRelation(ctx: Koa.Context) {
  const input = validate<Record<string, unknown>>(pairBody, body(ctx), { allowUnknown: false, status: 400 });
  const { requester, approver } = await service.addRelation(ctx.services.db, actorOf(ctx), input);
  ctx.status = 201;
  ctx.body = { requester: requester.name, approver: approver.name };
}

async function deleteRelation(ctx: Koa.Context) {
  // DELETE carries no body: the pair comes as query parameters.
  const input = validate<Record<string, unknown>>(pairBody, ctx.query, { allowUnknown: false, status: 400 });
  const { requester, approver } = await service.removeRelationByNames(ctx.services.db, actorOf(ctx), input);
  ctx.body = { deleted: { requester: requester.name, approver: approver.name } };
}

async function approversOfUser(ctx: Koa.Context) {
  const name = param(ctx, 'username');
  const u = name.length <= 64 ? await users.findByUsername(ctx.services.db, name) : undefined;
  if (!u) throw notFound('User');
  const s = await service.approversFor(ctx.services.db, u.id);
  ctx.body = {
    user: u.username,
    needsApproval: s.needsApproval,
    approverGroups: s.approvers.map((a) => ({ name: a.name, memberCount: a.memberCount, approvesFor: a.via, includesUser: a.userIsMember })),
    requesterGroups: s.requesterGroups.map((r) => ({ name: r.name, approvers: r.approvers.map((a) => a.name) })),
  };
}

export const apiRoutes = [
  get('/groups', manage, listGroups),
  post('/groups', manage, createGroup),
  get('/groups/:name', manage, getGroup),
  patch('/groups/:name', manage, updateGroup),
  del('/groups/:name', manage, deleteGroup),
  get('/groups/:name/members', manage, listMembers),
  post('/groups/:name/members', manage, changeMembers),
  get('/group-relations', manage, listRelations),
  post('/group-relations', manage, createRelation),
  del('/group-relations', manage, deleteRelation),
  get('/users/:username/approvers', manage, approversOfUser),
];
