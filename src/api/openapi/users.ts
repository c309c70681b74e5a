import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { USER_SORTS } from '../../users/repo';
import { paging, search, usernameParam } from './common';
import { arrayOf, bool, id, input, int, nullable, obj, offsetPage, ref, str, time, version, type OperationMap, type Schema } from './schema';

const manage = can(P.usersManage);

const USERNAME_PATTERN = '^[\\p{L}\\p{N}][\\p{L}\\p{N}._@-]*$';
const NO_CONTROL = '^[^\\p{Cc}]*$';

const status = str('`active` or `deactivated` (a deactivated account cannot sign in and keeps its seat).', { enum: ['active', 'deactivated'] });
const source = str('`local` (password) or `sso` (created by single sign-on; no password).', { enum: ['local', 'sso'] });

const fields = {
  firstName: str('First name.', { minLength: 1, maxLength: 100, pattern: NO_CONTROL }),
  lastName: str('Last name.', { minLength: 1, maxLength: 100, pattern: NO_CONTROL }),
  email: str('Email address, unique among users (case-insensitive).', { format: 'email', maxLength: 254 }),
  password: str('At least 12 characters (at most 256), not the username or email, not one character repeated.', { maxLength: 1024 }),
  role: str('Role name (case-insensitive). Default on create: the default role.', { minLength: 1, maxLength: 100 }),
  license: str("License key (e.g. `process_modeler`) or name. Default on create: the role's license type.", { minLength: 1, maxLength: 100 }),
};

const userProps: Record<string, Schema> = {
  id: id(),
  username: str('Unique, case-insensitive; cannot change.'),
  firstName: str(),
  lastName: str(),
  email: str(),
  role: nullable(obj({ id: id(), name: str() })),
  license: nullable(obj({ id: id(), key: str(), name: str() })),
  status,
  locked: bool('Locked (until `lockedUntil`). Failed sign-ins do not lock accounts: they slow further guesses down, see `GET /users/{username}/sign-in`.'),
  lockedUntil: nullable(time('When the lock ends.')),
  source,
  createdAt: time(),
  updatedAt: time(),
  lastLoginAt: nullable(time()),
  lastActivityAt: nullable(time()),
  version: version(),
  groups: arrayOf(obj({ id: id(), name: str() }), 'Groups the user belongs to, by name.'),
  online: bool('Has a live console session.'),
};

export const userSchemas: Record<string, Schema> = {
  UserSummary: obj(
    {
      id: id(),
      username: str(),
      firstName: str(),
      lastName: str(),
      email: str(),
      role: nullable(str('Role name.')),
      license: nullable(str('License type name.')),
      status,
      locked: bool('Locked (until `lockedUntil`, or an unlock). Failed sign-ins do not lock accounts.'),
      online: bool('Has a live console session.'),
      source,
      lastLoginAt: nullable(time()),
      createdAt: time(),
    },
    { description: 'A user as the list shows it.' },
  ),
  User: obj(userProps, { optional: ['groups', 'online'], description: 'A user. `groups` and `online` come with reads and saves, not with status actions.' }),
  UserSessionsEnded: obj(
    { ...userProps, sessionsEnded: int('Console sessions that were ended.', { minimum: 0 }) },
    { optional: ['groups', 'online'], description: 'A user, with the number of sessions ended.' },
  ),
  UserDeleted: obj({
    deleted: str('Username of the removed user.'),
    assets: int('Assets the user owned.', { minimum: 0 }),
    disposition: str('What happened to them.', { enum: ['none', 'delete', 'transfer'] }),
  }),
};

const userPath = { username: usernameParam };

const statusAction = (operationId: string, summary: string, description: string, conflict?: string) => ({
  operationId,
  tag: 'Users',
  summary,
  description,
  requires: manage,
  path: userPath,
  responses: { 200: { description: 'The user after the change.', schema: ref('User') } },
  errors: { 400: 'A request body with fields was sent (these actions take none).', 404: 'There is no such user.', ...(conflict ? { 409: conflict } : {}) },
});

export const userOperations: OperationMap = {
  'GET /users': {
    operationId: 'listUsers',
    tag: 'Users',
    summary: 'List users',
    description:
      'Users with search, filters and sorting. Two ways to page: `offset` (any sort; `nextOffset` gives the next page) or, sorted by `username` or `email`, the keyset `cursor` (`nextCursor` gives the next page; as fast at the millionth user as at the first, and stable while users are added). A filter by a name that does not exist (role, license, group) answers 404.',
    requires: manage,
    query: {
      q: search('username, first and last name, email'),
      role: { description: 'Only users with this role (name).', schema: { type: 'string', minLength: 1, maxLength: 100 } },
      license: { description: 'Only users with this license type (key or name).', schema: { type: 'string', minLength: 1, maxLength: 100 } },
      group: { description: 'Only members of this group (name).', schema: { type: 'string', minLength: 1, maxLength: 100 } },
      status: { description: 'Only users in this state.', schema: { type: 'string', enum: ['active', 'deactivated', 'locked'] } },
      online: { description: 'Only users with (true) or without (false) a live session.', schema: { type: 'boolean' } },
      source: { description: 'Only local or single sign-on accounts.', schema: { type: 'string', enum: ['local', 'sso'] } },
      sort: { description: 'Sort key.', schema: { type: 'string', enum: Object.keys(USER_SORTS), default: 'username' } },
      dir: { description: 'Sort direction.', schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' } },
      ...paging(50),
      cursor: {
        description: 'The `nextCursor` of the previous page (opaque). Only with `sort=username` or `sort=email`, with the same `dir`; not together with `offset`.',
        schema: { type: 'string', maxLength: 400, pattern: '^[A-Za-z0-9_-]+$' },
      },
    },
    responses: {
      200: {
        description: 'A page of users.',
        schema: offsetPage(ref('UserSummary'), {
          nextCursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page (sorted by username or email); null on the last page or with other sorts.' },
        }),
      },
    },
    errors: { 400: 'An unknown query parameter, a value out of range, or a cursor that does not fit the sort (or given with `offset`).', 404: 'The `role`, `license` or `group` filter names nothing (`details.fields` says which).' },
  },
  'POST /users': {
    operationId: 'createUser',
    tag: 'Users',
    summary: 'Create a user',
    description: 'Creates a local account. It takes a seat of its license type: when none is left the request is refused (409) and nothing is written.',
    requires: manage,
    body: {
      schema: input(
        {
          username: str('2–64 characters: letters, digits, `.`, `_`, `-`, `@`, starting with a letter or digit. Unique (case-insensitive).', {
            minLength: 2,
            maxLength: 64,
            pattern: USERNAME_PATTERN,
          }),
          ...fields,
          groups: arrayOf(str(undefined, { minLength: 1, maxLength: 100 }), 'Names of groups to add the user to.', { maxItems: 5000 }),
        },
        ['username', 'firstName', 'lastName', 'email', 'password'],
      ),
      example: { username: 'jane.doe', firstName: 'Jane', lastName: 'Doe', email: 'jane.doe@example.com', password: 'a-long-secret-passphrase', role: 'Analyst', groups: ['Sales'] },
    },
    responses: {
      201: {
        description: 'Created.',
        schema: ref('User'),
        headers: { Location: { description: 'The URL of the new user.', schema: { type: 'string' }, required: true } },
      },
    },
    errors: {
      403: 'Without the permission, or assigning a role that grants permissions the caller lacks (e.g. Superuser).',
      409: 'No seat is left on the license type (`details.fields.license`).',
      422: 'A field breaks a rule (message per field): taken username or email, weak password, unknown role, license or group.',
    },
  },
  'GET /users/{username}': {
    operationId: 'getUser',
    tag: 'Users',
    summary: 'Get a user',
    description: 'One user with their groups.',
    requires: manage,
    path: userPath,
    responses: { 200: { description: 'The user.', schema: ref('User') } },
    errors: { 404: 'There is no such user.' },
  },
  'PATCH /users/{username}': {
    operationId: 'updateUser',
    tag: 'Users',
    summary: 'Update a user',
    description:
      'Changes the fields sent; the others keep their values. `groups` replaces the memberships with exactly these groups. Send `version` (from a read) to refuse the save when someone changed the user meanwhile (409). A new password ends the user’s sessions.',
    requires: manage,
    path: userPath,
    body: {
      schema: input({
        ...fields,
        password: str('A new password (same rules as on create).', { maxLength: 1024 }),
        groups: arrayOf(str(undefined, { minLength: 1, maxLength: 100 }), 'The complete list of group names the user should belong to.', { maxItems: 5000 }),
        version: version('The version you read; a different current version answers 409.'),
      }),
      example: { lastName: 'Smith', role: 'Model Designer', version: 3 },
    },
    responses: { 200: { description: 'The user after the change.', schema: ref('User') } },
    errors: {
      403: 'Without the permission; changing your own role; changing a Superuser without being one.',
      404: 'There is no such user.',
      409: 'The user was changed meanwhile (stale `version`), or no seat is left on the new license type.',
      422: 'A field breaks a rule (message per field).',
    },
  },
  'DELETE /users/{username}': {
    operationId: 'deleteUser',
    tag: 'Users',
    summary: 'Delete a user',
    description:
      'Removes the user with their memberships, tokens and sessions, in one transaction. A user who owns assets needs `assets=delete` or `assets=transfer&transferTo=<username>`.',
    requires: manage,
    path: userPath,
    query: {
      assets: { description: 'What to do with the assets the user owns.', schema: { type: 'string', enum: ['delete', 'transfer'] } },
      transferTo: { description: 'With `assets=transfer`: the username who receives them.', schema: { type: 'string', maxLength: 64 } },
    },
    responses: { 200: { description: 'Deleted.', schema: ref('UserDeleted') } },
    errors: {
      400: 'An unknown query parameter or value.',
      403: 'Not yours to remove: your own account, or a Superuser when you are not one.',
      404: 'There is no such user.',
      409: 'The last active Superuser cannot be removed.',
      422: 'The user owns assets and `assets`/`transferTo` do not say where they go.',
    },
  },
  'POST /users/{username}/deactivate': statusAction(
    'deactivateUser',
    'Deactivate a user',
    'The account can no longer sign in and its sessions end; its seat stays assigned. No request body (an empty JSON object is accepted).',
    'The last active Superuser cannot be deactivated.',
  ),
  'POST /users/{username}/reactivate': statusAction('reactivateUser', 'Reactivate a user', 'The account can sign in again. No request body (an empty JSON object is accepted).'),
  'POST /users/{username}/unlock': statusAction('unlockUser', 'Unlock a user', 'Ends a lock and forgets the account’s failed sign-ins, so its next password guess is checked at once. No request body (an empty JSON object is accepted).'),
  'POST /users/{username}/end-sessions': {
    ...statusAction('endUserSessions', 'End sessions', "Signs the user out everywhere (their console sessions). API tokens stay valid. No request body (an empty JSON object is accepted)."),
    responses: { 200: { description: 'The user, with the number of sessions ended.', schema: ref('UserSessionsEnded') } },
  },
};
