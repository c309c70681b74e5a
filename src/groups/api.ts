/** Groups, their members and approval relations over JSON: one definition per operation (src/api/operation.ts). */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import { created, operation } from '../api/operation';
import { component, count, flag, groupNameParam, iso, list, offsetPage, page, paging, record, search, text, time, id, usernameParam, version } from '../api/schemas';
import * as users from '../users/repo';
import * as repo from './repo';
import * as service from './service';
import type { GroupWithCount } from './repo';

const manage = can(P.usersManage);
const TAG = 'Groups';

// ------------------------------------------------------------------------------------------------ schemas

const groupKeys = {
  id: id(),
  name: text(),
  description: text(),
  memberCount: count('Members of the group.'),
  version: version(),
  createdAt: time(),
  updatedAt: time(),
};
const Group = component('Group', record(groupKeys, 'A group of users.'));
const GroupDetail = component(
  'GroupDetail',
  record(
    {
      ...groupKeys,
      approverGroups: list(text(), 'Groups that approve what members of this group publish.'),
      requesterGroups: list(text(), 'Groups whose publications this group approves.'),
    },
    'A group with its approval relations (group names).',
  ),
);
const GroupMember = component('GroupMember', record({ id: id(), username: text(), firstName: text(), lastName: text(), email: text(), addedAt: time('When the user joined the group.') }));
const capped = (what: string) => `${what} (the first ${service.AUDIT_NAME_CAP.toLocaleString('en-US')} at most; the count has them all).`;
const MembershipChange = component(
  'MembershipChange',
  record(
    {
      group: text('The group name.'),
      added: list(text(), capped('Usernames added')),
      removed: list(text(), capped('Usernames removed')),
      addedCount: count(),
      removedCount: count(),
      alreadyMembers: count('Users in `add` who were already members.'),
      alreadyRemoved: count('Users in `remove` who were not members.'),
      merged: flag('True when the group was saved by someone else after the `version` you sent: your moves were applied to the current members.'),
      memberCount: count(),
      version: version(),
    },
    'The outcome of adding and removing members.',
  ),
);
const GroupDeleted = component(
  'GroupDeleted',
  record({
    deleted: text('The group name.'),
    removed: record({ memberships: count(), domainPermissions: count(), assetShares: count(), relations: count() }, 'What went with the group.'),
  }),
);
const GroupRelation = component(
  'GroupRelation',
  record({ requester: text('Requester group name.'), approver: text('Approver group name.'), createdAt: time() }, 'Members of the approver group approve what members of the requester group publish.'),
);
const GroupRelationPair = component('GroupRelationPair', record({ requester: text('Requester group name.'), approver: text('Approver group name.') }));
const ApproverSummary = component(
  'ApproverSummary',
  record({
    user: text('The username.'),
    needsApproval: flag('False when the user publishes without approval (in no requester group with an approver).'),
    approverGroups: list(
      record({
        name: text(),
        memberCount: count(),
        approvesFor: list(text(), 'The requester groups of the user it approves for.'),
        includesUser: flag('The user is a member of this approver group too.'),
      }),
    ),
    requesterGroups: list(record({ name: text(), approvers: list(text()) }), "The user's requester groups with their approver groups."),
  }),
);

export function groupJson(g: GroupWithCount) {
  return { id: g.id, name: g.name, description: g.description, memberCount: g.memberCount, version: g.version, createdAt: iso(g.createdAt), updatedAt: iso(g.updatedAt) };
}

async function detailJson(ctx: Koa.Context, g: GroupWithCount) {
  const { db } = ctx.services;
  return {
    ...groupJson(g),
    approverGroups: (await repo.relatedGroups(db, g.id, 'requester')).map((r) => r.name),
    requesterGroups: (await repo.relatedGroups(db, g.id, 'approver')).map((r) => r.name),
  };
}

// -------------------------------------------------------------------------------------------- parameters

const groupPath = Joi.object<{ name: string }>({ name: groupNameParam });
const listQuery = (what: string) => Joi.object<{ q: string; limit: number; offset: number }>({ q: search(what).default(''), ...paging(50) });

async function loadGroup(ctx: Koa.Context, params: { name: string }): Promise<GroupWithCount> {
  const g = await repo.findByName(ctx.services.db, params.name);
  if (!g) throw notFound('Group');
  return (await repo.findByIdWithCount(ctx.services.db, g.id))!;
}

function listNames(names: string[]): string {
  const shown = names.slice(0, 20).join(', ');
  return names.length > 20 ? `${shown} and ${names.length - 20} more` : shown;
}

const usernames = (description: string) => Joi.array().items(Joi.string().trim().min(1).max(64)).max(service.MAX_MOVES).description(description);

// ------------------------------------------------------------------------------------------------ groups

const listGroups = operation({
  operationId: 'listGroups',
  method: 'GET',
  path: '/groups',
  tag: TAG,
  summary: 'List groups',
  description: 'Groups by name, with member counts; search and offset pagination.',
  requires: manage,
  query: listQuery('group name or description'),
  responses: { 200: { description: 'A page of groups.', schema: page('GroupPage', Group) } },
  async handler(ctx, { query }) {
    const { rows, total } = await repo.list(ctx.services.db, query.q, query.limit, query.offset);
    return offsetPage(rows.map(groupJson), total, query);
  },
});

const createGroup = operation({
  operationId: 'createGroup',
  method: 'POST',
  path: '/groups',
  tag: TAG,
  summary: 'Create a group',
  description: 'Creates an empty group. Add members with `POST /groups/{name}/members`.',
  requires: manage,
  body: Joi.object<{ name: string; description?: string }>({
    name: service.groupNameSchema.required().description("1–100 characters: letters, digits, spaces and . _ - & ( ) ' + , @ # :, starting with a letter or digit. Unique (case-insensitive)."),
    description: service.descriptionSchema.description('Up to 500 characters, no control characters.'),
  }),
  example: { name: 'Sales Analysts', description: 'Analysts of the sales department' },
  responses: { 201: { description: 'Created.', schema: Group, headers: { Location: { description: 'The URL of the new group.', required: true } } } },
  errors: { 422: 'The name is empty, too long, has characters that are not allowed, or is taken.' },
  // A taken name comes back together with the other fields' problems.
  async check(ctx, { body }) {
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    const fields: Record<string, string> = {};
    if (name && (await repo.nameTaken(ctx.services.db, name))) fields.name = service.nameTakenMessage(name);
    return fields;
  },
  async handler(ctx, { body }) {
    const g = await service.createGroup(ctx.services.db, actorOf(ctx), body);
    return created(ctx, `/api/v1/groups/${encodeURIComponent(g.name)}`, groupJson({ ...g, memberCount: 0 }));
  },
});

const getGroup = operation({
  operationId: 'getGroup',
  method: 'GET',
  path: '/groups/:name',
  tag: TAG,
  summary: 'Get a group',
  description: 'One group with its member count and approval relations.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  responses: { 200: { description: 'The group.', schema: GroupDetail } },
  handler: (ctx, { target }) => detailJson(ctx, target),
});

const updateGroup = operation({
  operationId: 'updateGroup',
  method: 'PATCH',
  path: '/groups/:name',
  tag: TAG,
  summary: 'Rename or describe a group',
  description: 'Changes the fields sent; the others keep their values. With `version`, a group changed meanwhile is refused (409) rather than overwritten.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  body: Joi.object<{ name?: string; description?: string; version?: number }>({
    name: service.groupNameSchema.description('The new name (same rules as on create).'),
    description: service.descriptionSchema.description('Up to 500 characters, no control characters.'),
    version: version('The version you read; a different current version answers 409.'),
  }),
  example: { name: 'Sales Analysts EMEA', version: 2 },
  responses: { 200: { description: 'The group after the change.', schema: GroupDetail } },
  errors: { 409: 'The group was changed meanwhile (stale `version`).', 422: 'The name is invalid or taken.' },
  async handler(ctx, { body, target }) {
    // PATCH: fields not sent keep their values. A stale `version` is refused (409): an API client has no base to merge from.
    const { group } = await service.updateDetails(ctx.services.db, actorOf(ctx), target.id, {
      name: body.name ?? target.name,
      description: body.description ?? target.description,
      version: body.version,
    });
    return detailJson(ctx, (await repo.findByIdWithCount(ctx.services.db, group.id))!);
  },
});

const deleteGroup = operation({
  operationId: 'deleteGroup',
  method: 'DELETE',
  path: '/groups/:name',
  tag: TAG,
  summary: 'Delete a group',
  description: 'Removes the group with its memberships, domain permissions, asset shares and relations, in one transaction.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  responses: { 200: { description: 'Deleted, with what went with it.', schema: GroupDeleted } },
  async handler(ctx, { target }) {
    const { name, impact } = await service.deleteGroup(ctx.services.db, actorOf(ctx), target.id);
    return { deleted: name, removed: { memberships: impact.memberships, domainPermissions: impact.permissions, assetShares: impact.shares, relations: impact.relations } };
  },
});

// ----------------------------------------------------------------------------------------------- members

const listMembers = operation({
  operationId: 'listGroupMembers',
  method: 'GET',
  path: '/groups/:name/members',
  tag: TAG,
  summary: 'List members',
  description: 'The members of a group; search and offset pagination.',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  query: listQuery('username, names, email'),
  responses: { 200: { description: 'A page of members.', schema: page('GroupMemberPage', GroupMember) } },
  async handler(ctx, { query, target }) {
    const { rows, total } = await repo.listMembers(ctx.services.db, target.id, query.q, query.limit, query.offset);
    const items = rows.map((r) => ({ id: r.id, username: r.username, firstName: r.firstName, lastName: r.lastName, email: r.email, addedAt: iso(r.addedAt) }));
    return offsetPage(items, total, query);
  },
});

interface MembersBody {
  add?: string[];
  remove?: string[];
  version?: number;
}

/** The users named in `add` and `remove`, by lower-cased name; every name that matches no user is a field problem. */
async function membersProblems(ctx: Koa.Context, body: Record<string, unknown>) {
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').map((u) => u.trim().toLowerCase()) : []);
  const add = [...new Set(strings(body.add))];
  const remove = [...new Set(strings(body.remove))];
  const found = await repo.findUsersByNames(ctx.services.db, [...add, ...remove]);
  const fields: Record<string, string> = {};
  if (body.add === undefined && body.remove === undefined) fields.add = 'Send at least one username in "add" or "remove".';
  const both = add.filter((u) => remove.includes(u));
  if (both.length) fields.remove = `A user cannot be both added and removed: ${listNames(both)}.`;
  for (const [key, names] of [['add', add], ['remove', remove]] as const) {
    const unknown = names.filter((u) => !found.has(u));
    if (unknown.length && !fields[key]) fields[key] = `Unknown user${unknown.length === 1 ? '' : 's'}: ${listNames(unknown)}.`;
  }
  return { add, remove, found, fields };
}

const changeMembers = operation({
  operationId: 'changeGroupMembers',
  method: 'POST',
  path: '/groups/:name/members',
  tag: TAG,
  summary: 'Add and remove members',
  description:
    'Adds the users in `add` and removes those in `remove` (usernames), in one transaction. Users already in the wanted state are counted, not refused. With `version`, moves made after someone else saved the group are merged (`merged: true`).',
  requires: manage,
  params: groupPath,
  load: loadGroup,
  body: Joi.object<MembersBody>({ add: usernames('Usernames to add.'), remove: usernames('Usernames to remove.'), version: version('The version you read.') }),
  example: { add: ['jane.doe', 'sam.lee'], remove: ['old.member'] },
  responses: { 200: { description: 'What changed.', schema: MembershipChange } },
  errors: { 422: 'Neither list holds a username, a user is in both, or a username names no user (nothing is changed).' },
  check: async (ctx, { body }) => (await membersProblems(ctx, body)).fields,
  async handler(ctx, { body, target }) {
    const { add, remove, found } = await membersProblems(ctx, body as Record<string, unknown>);
    const r = await service.saveMembers(ctx.services.db, actorOf(ctx), target.id, {
      add: add.map((u) => found.get(u)!.id),
      remove: remove.map((u) => found.get(u)!.id),
      version: body.version,
    });
    return {
      group: target.name,
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
  },
});

// --------------------------------------------------------------------------------------------- relations

const listRelations = operation({
  operationId: 'listGroupRelations',
  method: 'GET',
  path: '/group-relations',
  tag: TAG,
  summary: 'List approval relations',
  description: 'Requester → approver group pairs; search by either name; offset pagination.',
  requires: manage,
  query: listQuery('requester or approver group name'),
  responses: { 200: { description: 'A page of relations.', schema: page('GroupRelationPage', GroupRelation) } },
  async handler(ctx, { query }) {
    const { rows, total } = await repo.listRelations(ctx.services.db, query.q, query.limit, query.offset);
    return offsetPage(rows.map((r) => ({ requester: r.requesterName, approver: r.approverName, createdAt: iso(r.createdAt) })), total, query);
  },
});

/** A requester → approver pair, with the service's rules and messages. */
const pair = (service.relationSchema as Joi.ObjectSchema<{ requester: string; approver: string }>).keys({
  requester: service.relationSchema.extract('requester').description('Requester group name.'),
  approver: service.relationSchema.extract('approver').description('Approver group name.'),
});

const createRelation = operation({
  operationId: 'createGroupRelation',
  method: 'POST',
  path: '/group-relations',
  tag: TAG,
  summary: 'Relate two groups',
  description: 'Makes the approver group approve what members of the requester group publish.',
  requires: manage,
  body: pair,
  example: { requester: 'Sales Analysts', approver: 'Sales Managers' },
  responses: { 201: { description: 'Created.', schema: GroupRelationPair } },
  errors: { 422: 'A group name names no group, the groups are the same, or the relation exists already.' },
  async handler(ctx, { body }) {
    const { requester, approver } = await service.addRelation(ctx.services.db, actorOf(ctx), body);
    ctx.status = 201;
    return { requester: requester.name, approver: approver.name };
  },
});

const deleteRelation = operation({
  operationId: 'deleteGroupRelation',
  method: 'DELETE',
  path: '/group-relations',
  tag: TAG,
  summary: 'Remove a relation',
  description: 'The pair is given as query parameters (a DELETE carries no body).',
  requires: manage,
  query: pair,
  responses: { 200: { description: 'Removed.', schema: component('GroupRelationDeleted', record({ deleted: GroupRelationPair })) } },
  errors: { 404: 'The approver group does not approve for the requester group (`details.type`: `relation`).', 422: 'A group name names no group.' },
  async handler(ctx, { query }) {
    const { requester, approver } = await service.removeRelationByNames(ctx.services.db, actorOf(ctx), query);
    return { deleted: { requester: requester.name, approver: approver.name } };
  },
});

const approversOfUser = operation({
  operationId: 'getUserApprovers',
  method: 'GET',
  path: '/users/:username/approvers',
  tag: TAG,
  summary: 'Who approves for a user',
  description: "The approver groups of the user's requester groups: who must approve what the user publishes.",
  requires: manage,
  params: Joi.object<{ username: string }>({ username: usernameParam }),
  async load(ctx, params) {
    const u = await users.findByUsername(ctx.services.db, params.username);
    if (!u) throw notFound('User');
    return u;
  },
  responses: { 200: { description: 'The approvers.', schema: ApproverSummary } },
  async handler(ctx, { target: u }) {
    const s = await service.approversFor(ctx.services.db, u.id);
    return {
      user: u.username,
      needsApproval: s.needsApproval,
      approverGroups: s.approvers.map((a) => ({ name: a.name, memberCount: a.memberCount, approvesFor: a.via, includesUser: a.userIsMember })),
      requesterGroups: s.requesterGroups.map((r) => ({ name: r.name, approvers: r.approvers.map((a) => a.name) })),
    };
  },
});

export const operations = [listGroups, createGroup, getGroup, updateGroup, deleteGroup, listMembers, changeMembers, listRelations, createRelation, deleteRelation, approversOfUser];
