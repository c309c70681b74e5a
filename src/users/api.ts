/** Users over JSON: one definition per operation (src/api/operation.ts); names (role, license, groups) instead of ids. */
import type Koa from 'koa';
import Joi from 'joi';
import { can } from '../http/routing';
import { P } from '../permissions/catalog';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import type { FieldErrors } from '../http/forms';
import type { Conn } from '../db/connect';
import { created, operation } from '../api/operation';
import { withApiFieldNames } from '../api/fieldNames';
import { component, count, flag, id, isoOrNull, iso, list, MAX_OFFSET, record, search, text, time, usernameParam, version } from '../api/schemas';
import * as roles from '../roles/repo';
import * as licenses from '../licenses/repo';
import * as groups from '../groups/repo';
import * as sessions from '../sessions/repo';
import * as repo from './repo';
import * as service from './service';
import type { User } from './repo';

const manage = can(P.usersManage);
const TAG = 'Users';

/** The service's field names → this API's, so that errors name the field the client sent. */
const API_FIELDS = { roleId: 'role', licenseTypeId: 'license', addGroupIds: 'groups', removeGroupIds: 'groups', groupIds: 'groups' };

// ------------------------------------------------------------------------------------------------ schemas

const status = text('`active` or `deactivated` (a deactivated account cannot sign in and keeps its seat).').valid('active', 'deactivated');
const source = text('`local` (password) or `sso` (created by single sign-on; no password).').valid('local', 'sso');

const userKeys = {
  id: id(),
  username: text('Unique, case-insensitive; cannot change.'),
  firstName: text(),
  lastName: text(),
  email: text(),
  role: record({ id: id(), name: text() }).allow(null),
  license: record({ id: id(), key: text(), name: text() }).allow(null),
  status,
  locked: flag('Locked (until `lockedUntil`). Failed sign-ins do not lock accounts: they slow further guesses down, see `GET /users/{username}/sign-in`.'),
  lockedUntil: time('When the lock ends.').allow(null),
  source,
  createdAt: time(),
  updatedAt: time(),
  lastLoginAt: time().allow(null),
  lastActivityAt: time().allow(null),
  version: version(),
  groups: list(record({ id: id(), name: text() }), 'Groups the user belongs to, by name.').optional(),
  online: flag('Has a live console session.').optional(),
};
const UserSchema = component('User', record(userKeys, 'A user. `groups` and `online` come with reads and saves, not with status actions.'));
const UserSessionsEnded = component(
  'UserSessionsEnded',
  record({ ...userKeys, sessionsEnded: count('Console sessions that were ended.') }, 'A user, with the number of sessions ended.'),
);
const UserSummary = component(
  'UserSummary',
  record(
    {
      id: id(),
      username: text(),
      firstName: text(),
      lastName: text(),
      email: text(),
      role: text('Role name.').allow(null),
      license: text('License type name.').allow(null),
      status,
      locked: flag('Locked (until `lockedUntil`, or an unlock). Failed sign-ins do not lock accounts.'),
      online: flag('Has a live console session.'),
      source,
      lastLoginAt: time().allow(null),
      createdAt: time(),
    },
    'A user as the list shows it.',
  ),
);
const UserPage = component(
  'UserPage',
  record(
    {
      items: list(UserSummary, 'The rows of this page.'),
      total: count('Users matching the filters, over all pages.'),
      limit: Joi.number().integer().min(1).description('The page size used.'),
      offset: count('Rows skipped before this page (0 with a cursor).'),
      nextOffset: count('The offset of the next page; null on the last page, and when paging by cursor.').allow(null),
      nextCursor: text('Pass as `cursor` for the next page (sorted by username or email); null on the last page or with other sorts.').allow(null),
    },
    'A page of users: page on with `offset=nextOffset` or `cursor=nextCursor` until it is null.',
  ),
);
const UserDeleted = component(
  'UserDeleted',
  record({
    deleted: text('Username of the removed user.'),
    assets: count('Assets the user owned.'),
    disposition: text('What happened to them.').valid('none', 'delete', 'transfer'),
  }),
);

export function userJson(u: User) {
  return {
    id: u.id,
    username: u.username,
    firstName: u.firstName,
    lastName: u.lastName,
    email: u.email,
    role: u.roleId ? { id: u.roleId, name: u.roleName ?? '' } : null,
    license: u.licenseTypeId ? { id: u.licenseTypeId, key: u.licenseKey ?? '', name: u.licenseName ?? '' } : null,
    status: u.status,
    locked: u.lockedUntil !== null && u.lockedUntil > Date.now(),
    lockedUntil: isoOrNull(u.lockedUntil),
    source: u.source,
    createdAt: iso(u.createdAt),
    updatedAt: iso(u.updatedAt),
    lastLoginAt: isoOrNull(u.lastLoginAt),
    lastActivityAt: isoOrNull(u.lastActivityAt),
    version: u.version,
  };
}

/** A user as reads and saves return it: with groups and whether they are online. */
async function fullJson(db: Conn, u: User) {
  return { ...userJson(u), groups: await repo.groupsOf(db, u.id), online: (await sessions.onlineUserIds(db, [u.id], Date.now())).has(u.id) };
}

// -------------------------------------------------------------------------------------- names → objects

const nameRef = (description: string) => Joi.string().trim().min(1).max(100).description(description);
const groupNames = (description: string) => Joi.array().items(nameRef('A group name.')).max(5000).description(description);

interface Refs {
  roleId?: number;
  licenseTypeId?: number;
  groupIds?: number[];
}

/**
 * Maps the names an API payload or filter uses (role name, license key or name, group names) to the ids the
 * service takes; each name that matches nothing is a message on its field.
 */
async function resolveNames(db: Conn, input: { role?: unknown; license?: unknown; groups?: unknown }): Promise<{ refs: Refs; fields: FieldErrors }> {
  const refs: Refs = {};
  const fields: FieldErrors = {};
  if (typeof input.role === 'string') {
    const r = await roles.findByNameLower(db, input.role.trim().toLowerCase());
    if (r) refs.roleId = r.id;
    else fields.role = `There is no role "${input.role}".`;
  }
  if (typeof input.license === 'string') {
    const wanted = input.license.trim();
    const all = await licenses.all(db);
    const l = all.find((x) => x.key === wanted || x.name.toLowerCase() === wanted.toLowerCase());
    if (l) refs.licenseTypeId = l.id;
    else fields.license = `There is no license "${wanted}". Use one of: ${all.map((x) => x.key).join(', ')}.`;
  }
  if (Array.isArray(input.groups)) {
    const names = input.groups.filter((g): g is string => typeof g === 'string').map((g) => g.trim());
    const found = await groups.findByNames(db, names);
    const missing = names.filter((n) => !found.has(n.toLowerCase()));
    if (missing.length) fields.groups = `Unknown group${missing.length === 1 ? '' : 's'}: ${missing.join(', ')}.`;
    else refs.groupIds = names.map((n) => found.get(n.toLowerCase())!.id);
  }
  return { refs, fields };
}

async function loadUser(ctx: Koa.Context, params: { username: string }): Promise<User> {
  const u = await repo.findByUsername(ctx.services.db, params.username);
  if (!u) throw notFound('User');
  return u;
}

const userPath = Joi.object<{ username: string }>({ username: usernameParam });

// ---------------------------------------------------------------------------------------------------- list

interface ListQuery {
  q?: string;
  role?: string;
  license?: string;
  group?: string;
  status?: 'active' | 'deactivated' | 'locked';
  online?: boolean;
  source?: 'local' | 'sso';
  sort: repo.UserSort;
  dir: 'asc' | 'desc';
  limit: number;
  offset?: number;
  cursor?: string;
}

/**
 * The opaque cursor of the users list: the sort and the last key of the page (keyset pagination, so the
 * millionth user is as quick to reach as the first). Only for the unique sort keys, username and email.
 */
function encodeCursor(sort: string, dir: string, key: string): string {
  return Buffer.from(JSON.stringify({ s: sort, d: dir, k: key })).toString('base64url');
}

function decodeCursor(cursor: string, sort: string, dir: string): string | undefined {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { s?: unknown; d?: unknown; k?: unknown };
    if (c.s === sort && c.d === dir && typeof c.k === 'string' && c.k.length <= 254) return c.k;
  } catch {
    // an unreadable cursor is reported below
  }
  return undefined;
}

const listUsers = operation({
  operationId: 'listUsers',
  method: 'GET',
  path: '/users',
  tag: TAG,
  summary: 'List users',
  description:
    'Users with search, filters and sorting. Two ways to page: `offset` (any sort; `nextOffset` gives the next page) or, sorted by `username` or `email`, the keyset `cursor` (`nextCursor` gives the next page; as fast at the millionth user as at the first, and stable while users are added). A filter naming a role, license or group that does not exist is a 422 on that parameter.',
  requires: manage,
  query: Joi.object<ListQuery>({
    q: search('username, first and last name, email'),
    role: nameRef('Only users with this role (name).'),
    license: nameRef('Only users with this license type (key or name).'),
    group: nameRef('Only members of this group (name).'),
    status: Joi.string().valid('active', 'deactivated', 'locked').description('Only users in this state.'),
    online: Joi.boolean().description('Only users with (true) or without (false) a live session.'),
    source: Joi.string().valid('local', 'sso').description('Only local or single sign-on accounts.'),
    sort: Joi.string().valid(...Object.keys(repo.USER_SORTS)).default('username').description('Sort key.'),
    dir: Joi.string().valid('asc', 'desc').default('asc').description('Sort direction.'),
    limit: Joi.number().integer().min(1).max(500).default(50).description('Page size (default 50).'),
    // No default: `offset` and `cursor` exclude each other, and a default would count as given.
    offset: Joi.number().integer().min(0).max(MAX_OFFSET).description('Rows to skip: the `nextOffset` of the previous page (default 0).'),
    cursor: Joi.string()
      .max(400)
      .pattern(/^[A-Za-z0-9_-]+$/)
      .description('The `nextCursor` of the previous page (opaque). Only with `sort=username` or `sort=email`, with the same `dir`; not together with `offset`.'),
  }).oxor('cursor', 'offset'),
  responses: { 200: { description: 'A page of users.', schema: UserPage } },
  errors: { 422: 'A value out of range; a `role`, `license` or `group` filter that names nothing; a cursor that does not fit the sort (or given with `offset`).' },
  async check(ctx) {
    const q = ctx.query as Record<string, unknown>;
    const { fields } = await resolveNames(ctx.services.db, { role: q.role, license: q.license });
    if (typeof q.group === 'string' && !(await groups.findByName(ctx.services.db, q.group))) fields.group = `There is no group "${q.group}".`;
    const sort = typeof q.sort === 'string' ? q.sort : 'username';
    if (typeof q.cursor === 'string') {
      if (!repo.UNIQUE_SORTS.has(sort as repo.UserSort)) fields.cursor = 'Cursor pagination needs sort=username or sort=email; use offset with other sorts.';
      else if (decodeCursor(q.cursor, sort, typeof q.dir === 'string' ? q.dir : 'asc') === undefined) fields.cursor = 'This cursor is not valid for this sort order: start again without it.';
    }
    return fields;
  },
  async handler(ctx, { query: q }) {
    const { db } = ctx.services;
    const { refs } = await resolveNames(db, { role: q.role, license: q.license });
    const groupId = q.group ? (await groups.findByName(db, q.group))?.id : undefined;
    const keyset = repo.UNIQUE_SORTS.has(q.sort);
    const after = q.cursor ? decodeCursor(q.cursor, q.sort, q.dir) : undefined;
    const offset = after === undefined ? (q.offset ?? 0) : 0;
    const now = Date.now();
    const filter = { q: q.q, roleId: refs.roleId, licenseTypeId: refs.licenseTypeId, groupId, status: q.status, online: q.online, source: q.source };
    const { rows, total } = await repo.list(db, filter, q.sort, q.dir, q.limit + 1, offset, now, after);
    const more = rows.length > q.limit;
    rows.splice(q.limit);
    const last = rows[rows.length - 1];
    const lastKey = last ? (q.sort === 'email' ? last.email : last.username).toLowerCase() : undefined;
    return {
      items: rows.map((r) => ({
        id: r.id,
        username: r.username,
        firstName: r.firstName,
        lastName: r.lastName,
        email: r.email,
        role: r.roleName,
        license: r.licenseName,
        status: r.status,
        locked: r.locked,
        online: r.online,
        source: r.source,
        lastLoginAt: isoOrNull(r.lastLoginAt),
        createdAt: iso(r.createdAt),
      })),
      total,
      limit: q.limit,
      // With a cursor, rows are counted from the cursor: nothing is skipped after it.
      offset,
      nextOffset: after === undefined && more ? offset + rows.length : null,
      nextCursor: keyset && more && lastKey !== undefined ? encodeCursor(q.sort, q.dir, lastKey) : null,
    };
  },
});

// ------------------------------------------------------------------------------------------ one user

const profileFields = {
  firstName: service.createUserSchema.extract('firstName').optional().description('First name.'),
  lastName: service.createUserSchema.extract('lastName').optional().description('Last name.'),
  email: service.emailSchema.description('Email address, unique among users (case-insensitive).'),
  password: Joi.string().max(1024).label('Password').description('At least 12 characters (at most 256), not the username or email, not one character repeated.'),
  role: nameRef('Role name (case-insensitive). Default on create: the default role.'),
  license: nameRef("License key (e.g. `process_modeler`) or name. Default on create: the role's license type."),
};

interface CreateBody {
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  password: string;
  role?: string;
  license?: string;
  groups?: string[];
}

/** The problems only the database can tell, with the names this API uses: every field's problem at once. */
async function profileProblems(db: Conn, body: Record<string, unknown>, who: { username?: unknown; email?: unknown }, exceptId?: number, passwordRequired = false) {
  const { fields } = await resolveNames(db, body);
  service.checkPassword(fields, body.password, who, passwordRequired);
  await service.checkReferences(db, fields, { username: exceptId === undefined ? body.username : undefined, email: body.email }, exceptId);
  return fields;
}

const createUser = operation({
  operationId: 'createUser',
  method: 'POST',
  path: '/users',
  tag: TAG,
  summary: 'Create a user',
  description: 'Creates a local account. It takes a seat of its license type: when none is left the request is refused (409) and nothing is written.',
  requires: manage,
  body: Joi.object<CreateBody>({
    username: service.usernameSchema.required().description('2–64 characters: letters, digits, `.`, `_`, `-`, `@`, starting with a letter or digit. Unique (case-insensitive).'),
    ...profileFields,
    firstName: profileFields.firstName.required(),
    lastName: profileFields.lastName.required(),
    email: profileFields.email.required(),
    password: profileFields.password.required(),
    groups: groupNames('Names of groups to add the user to.'),
  }),
  example: { username: 'jane.doe', firstName: 'Jane', lastName: 'Doe', email: 'jane.doe@example.com', password: 'a-long-secret-passphrase', role: 'Analyst', groups: ['Sales'] },
  responses: { 201: { description: 'Created.', schema: UserSchema, headers: { Location: { description: 'The URL of the new user.', required: true } } } },
  errors: {
    403: 'Without the permission, or assigning a role that grants permissions the caller lacks (e.g. Superuser).',
    409: 'No seat is left on the license type (`details.fields.license`).',
    422: 'Every field that breaks a rule, with its message: taken username or email, weak password, unknown role, license or group, …',
  },
  check: (ctx, { body }) => profileProblems(ctx.services.db, body, body, undefined, true),
  async handler(ctx, { body }) {
    const { db, config } = ctx.services;
    const { refs } = await resolveNames(db, body);
    const input = { ...body, role: undefined, license: undefined, groups: undefined, roleId: refs.roleId, licenseTypeId: refs.licenseTypeId, addGroupIds: refs.groupIds ?? [] };
    const u = await withApiFieldNames(API_FIELDS, () => service.createUser(db, actorOf(ctx), input, config.scryptN));
    return created(ctx, `/api/v1/users/${encodeURIComponent(u.username)}`, await fullJson(db, u));
  },
});

const getUser = operation({
  operationId: 'getUser',
  method: 'GET',
  path: '/users/:username',
  tag: TAG,
  summary: 'Get a user',
  description: 'One user with their groups.',
  requires: manage,
  params: userPath,
  load: loadUser,
  responses: { 200: { description: 'The user.', schema: UserSchema } },
  handler: (ctx, { target }) => fullJson(ctx.services.db, target),
});

interface UpdateBody {
  firstName?: string;
  lastName?: string;
  email?: string;
  password?: string;
  role?: string;
  license?: string;
  groups?: string[];
  version?: number;
}

const updateUser = operation({
  operationId: 'updateUser',
  method: 'PATCH',
  path: '/users/:username',
  tag: TAG,
  summary: 'Update a user',
  description:
    'Changes the fields sent; the others keep their values (a PATCH that changes nothing answers the user as it is: same `version`, no audit event). `groups` replaces the memberships with exactly these groups. Send `version` (from a read) to refuse the save when someone changed the user meanwhile (409). A new password ends the user’s sessions.',
  requires: manage,
  params: userPath,
  load: loadUser,
  body: Joi.object<UpdateBody>({
    ...profileFields,
    password: profileFields.password.description('A new password (same rules as on create).'),
    groups: groupNames('The complete list of group names the user should belong to.'),
    version: version('The version you read; a different current version answers 409.'),
  }),
  example: { lastName: 'Smith', role: 'Model Designer', version: 3 },
  responses: { 200: { description: 'The user after the change.', schema: UserSchema } },
  errors: {
    403: 'Without the permission; changing your own account (use My account); changing an account whose role holds rights yours lacks.',
    409: 'The user was changed meanwhile (stale `version`), or no seat is left on the new license type.',
    422: 'Every field that breaks a rule, with its message.',
  },
  check: (ctx, { body, target }) => profileProblems(ctx.services.db, body, { username: target.username, email: body.email ?? target.email }, target.id),
  async handler(ctx, { body, target: current }) {
    const { db, config } = ctx.services;
    const { refs } = await resolveNames(db, body);
    // PATCH: fields not sent keep their values; the service answers an unchanged user as it is.
    const groupsNow = await repo.groupIdsOf(db, current.id);
    const wanted = refs.groupIds ?? groupsNow;
    const u = await withApiFieldNames(API_FIELDS, () =>
      service.updateUser(
        db,
        actorOf(ctx),
        current.id,
        {
          firstName: body.firstName ?? current.firstName,
          lastName: body.lastName ?? current.lastName,
          email: body.email ?? current.email,
          password: body.password ?? '',
          roleId: refs.roleId ?? current.roleId,
          licenseTypeId: refs.licenseTypeId ?? current.licenseTypeId,
          addGroupIds: wanted.filter((g) => !groupsNow.includes(g)),
          removeGroupIds: groupsNow.filter((g) => !wanted.includes(g)),
          version: body.version,
        },
        config.scryptN,
      ),
    );
    return fullJson(db, u);
  },
});

const deleteUser = operation({
  operationId: 'deleteUser',
  method: 'DELETE',
  path: '/users/:username',
  tag: TAG,
  summary: 'Delete a user',
  description:
    'Removes the user with their memberships, tokens and sessions, in one transaction. A user who owns assets needs `assets=delete` or `assets=transfer&transferTo=<username>`.',
  requires: manage,
  params: userPath,
  load: loadUser,
  query: Joi.object<{ assets?: 'delete' | 'transfer'; transferTo?: string }>({
    assets: Joi.string().valid('delete', 'transfer').description('What to do with the assets the user owns.'),
    transferTo: Joi.string().max(64).description('With `assets=transfer`: the username who receives them.'),
  }),
  responses: { 200: { description: 'Deleted.', schema: UserDeleted } },
  errors: {
    403: 'Not yours to remove: your own account, or an account whose role holds rights yours lacks.',
    409: 'The last active Superuser cannot be removed.',
    422: 'The user owns assets and `assets`/`transferTo` do not say where they go.',
  },
  async handler(ctx, { query, target }) {
    const result = await service.deleteUser(ctx.services.db, actorOf(ctx), target.id, { assets: query.assets ?? 'none', transferTo: query.transferTo ?? '' });
    return { deleted: result.username, assets: result.assets, disposition: result.mode };
  },
});

// -------------------------------------------------------------------------------------------- actions

/** An action on an account that takes no body: it answers the user after the change. */
function accountAction(spec: { operationId: string; action: string; summary: string; description: string; conflict?: string; run: (ctx: Koa.Context, u: User) => Promise<unknown> }) {
  return operation({
    operationId: spec.operationId,
    method: 'POST',
    path: `/users/:username/${spec.action}`,
    tag: TAG,
    summary: spec.summary,
    description: `${spec.description} No request body (an empty JSON object is accepted).`,
    requires: manage,
    params: userPath,
    load: loadUser,
    responses: { 200: { description: 'The user after the change.', schema: UserSchema } },
    errors: spec.conflict ? { 409: spec.conflict } : {},
    async handler(ctx, { target }) {
      await spec.run(ctx, target);
      return userJson((await repo.findById(ctx.services.db, target.id))!);
    },
  });
}

const deactivateUser = accountAction({
  operationId: 'deactivateUser',
  action: 'deactivate',
  summary: 'Deactivate a user',
  description: 'The account can no longer sign in and its sessions end; its seat stays assigned.',
  conflict: 'The last active Superuser cannot be deactivated.',
  run: (ctx, u) => service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'deactivated'),
});
const reactivateUser = accountAction({
  operationId: 'reactivateUser',
  action: 'reactivate',
  summary: 'Reactivate a user',
  description: 'The account can sign in again.',
  run: (ctx, u) => service.setStatus(ctx.services.db, actorOf(ctx), u.id, 'active'),
});
const unlockUser = accountAction({
  operationId: 'unlockUser',
  action: 'unlock',
  summary: 'Unlock a user',
  description: 'Ends a lock and forgets the account’s failed sign-ins, so its next password guess is checked at once.',
  run: (ctx, u) => service.unlock(ctx.services.db, actorOf(ctx), u.id),
});

const endSessions = operation({
  operationId: 'endUserSessions',
  method: 'POST',
  path: '/users/:username/end-sessions',
  tag: TAG,
  summary: 'End sessions',
  description: 'Signs the user out everywhere (their console sessions). API tokens stay valid. No request body (an empty JSON object is accepted).',
  requires: manage,
  params: userPath,
  load: loadUser,
  responses: { 200: { description: 'The user, with the number of sessions ended.', schema: UserSessionsEnded } },
  async handler(ctx, { target }) {
    const sessionsEnded = await service.endSessions(ctx.services.db, actorOf(ctx), target.id);
    return { ...userJson((await repo.findById(ctx.services.db, target.id))!), sessionsEnded };
  },
});

export const operations = [listUsers, createUser, getUser, updateUser, deleteUser, deactivateUser, reactivateUser, unlockUser, endSessions];
