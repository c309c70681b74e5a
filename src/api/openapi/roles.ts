import { can, SUPERUSER } from '../../http/routing';
import { ALL_PERMISSION_KEYS, P } from '../../permissions/catalog';
import { idPath, paging, search } from './common';
import { arrayOf, bool, id, input, int, nullable, obj, offsetPage, oneOf, ref, str, time, version, type OperationMap, type Schema } from './schema';

const manage = can(P.usersManage);

const permissionKey = str('An application permission key.', { enum: [...ALL_PERMISSION_KEYS] });
const roleName = str('1–100 characters, no control characters, `<` or `>`. Unique (case-insensitive).', { minLength: 1, maxLength: 100, pattern: '^[^\\p{Cc}<>]*$' });
const roleDescription = str('Up to 500 characters.', { maxLength: 500 });
const roleRef = obj({ id: id(), name: str() });

export const roleSchemas: Record<string, Schema> = {
  Role: obj(
    {
      id: id(),
      name: str(),
      description: str(),
      builtIn: bool('Built-in roles are read-only; clone one to make a variant.'),
      builtinKey: nullable(str('Key of a built-in role (e.g. `superuser`, `analyst`); null for a custom role.')),
      template: nullable(roleRef),
      license: obj({ key: str(), name: str() }, { description: 'The license type users of this role take a seat of.' }),
      isDefault: bool('New users (and users removed from a role) get the default role.'),
      version: version(),
      createdAt: time(),
      updatedAt: time(),
      permissions: arrayOf(permissionKey, 'Application permissions the role grants, sorted.'),
      userCount: int('Users with this role.', { minimum: 0 }),
    },
    { description: 'A role: a set of application permissions and a license type.' },
  ),
  RoleDeleted: obj({
    deleted: str('The role name.'),
    usersMoved: int('Users moved to `movedTo`.', { minimum: 0 }),
    movedTo: nullable(str('Name of the role the users moved to.')),
  }),
  RolePermissions: obj({ role: roleRef, permissions: arrayOf(permissionKey), version: version() }),
  RolePermissionsChange: obj({
    role: roleRef,
    permissions: arrayOf(permissionKey, 'The permissions now granted, sorted.'),
    granted: arrayOf(permissionKey, 'Newly granted.'),
    revoked: arrayOf(permissionKey, 'Newly revoked.'),
    version: version(),
  }),
  RoleUser: obj({
    id: id(),
    username: str(),
    firstName: str(),
    lastName: str(),
    email: str(),
    status: str(undefined, { enum: ['active', 'deactivated'] }),
    license: nullable(str('License key.')),
  }),
  RoleAssignment: obj({
    role: roleRef,
    added: int('Users given this role.', { minimum: 0 }),
    removed: int('Users taken off this role.', { minimum: 0 }),
    removedMovedTo: nullable(roleRef),
    unchanged: int('Usernames already in the wanted state.', { minimum: 0 }),
    userCount: int('Users with this role now.', { minimum: 0 }),
    version: version(),
  }),
};

const rolePath = { id: idPath('role') };
const usernameList = (what: string) => arrayOf(str(undefined, { minLength: 1, maxLength: 64 }), what, { maxItems: 20_000 });

export const roleOperations: OperationMap = {
  'GET /roles': {
    operationId: 'listRoles',
    tag: 'Roles',
    summary: 'List roles',
    description: 'Roles by name with their permissions and user counts; search and offset pagination.',
    requires: manage,
    query: { q: search('role name or description'), ...paging(100) },
    responses: { 200: { description: 'A page of roles.', schema: offsetPage(ref('Role')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.' },
  },
  'POST /roles': {
    operationId: 'createRole',
    tag: 'Roles',
    summary: 'Create a role',
    description:
      "Send `template` (a built-in role's id, key or name: the new role starts with its permissions and license type) or `cloneOf` (the id of any role to copy), not both.",
    requires: manage,
    body: {
      schema: input({
        name: roleName,
        description: roleDescription,
        template: oneOf(id('Built-in role id.'), str('Built-in role key or name.', { minLength: 1, maxLength: 100 })),
        cloneOf: id('Id of the role to copy.'),
      }, ['name'], { oneOf: [{ required: ['template'] }, { required: ['cloneOf'] }] }),
      example: { name: 'Regional Analyst', description: 'Analysts without uploads', template: 'analyst' },
    },
    responses: {
      201: { description: 'Created.', schema: ref('Role'), headers: { Location: { description: 'The URL of the new role.', schema: { type: 'string' }, required: true } } },
    },
    errors: {
      400: 'Neither or both of `template` and `cloneOf`, an unknown field or a wrong type.',
      403: 'Without the permission, or the role would grant administration permissions the caller lacks.',
      422: 'The name is invalid or taken, or the template / role to copy does not exist.',
    },
  },
  'PUT /roles/default': {
    operationId: 'setDefaultRole',
    tag: 'Roles',
    summary: 'Set the default role',
    description: 'New users get the default role. Exactly one role is the default.',
    requires: manage,
    body: { schema: input({ role: id('The id of the role to make the default.') }, ['role']), example: { role: 4 } },
    responses: { 200: { description: 'The new default role.', schema: ref('Role') } },
    errors: {
      403: 'Without the permission, or the role grants permissions the caller lacks.',
      409: 'The Superuser role cannot be the default.',
      422: 'There is no role with this id.',
    },
  },
  'GET /roles/{id}': {
    operationId: 'getRole',
    tag: 'Roles',
    summary: 'Get a role',
    description: 'One role with its permissions and user count.',
    requires: manage,
    path: rolePath,
    responses: { 200: { description: 'The role.', schema: ref('Role') } },
    errors: { 404: 'There is no such role.' },
  },
  'PATCH /roles/{id}': {
    operationId: 'updateRole',
    tag: 'Roles',
    summary: 'Rename or describe a role',
    description: 'Changes the name and/or description. Built-in roles are read-only (409). Permissions change with `PUT /roles/{id}/permissions`.',
    requires: manage,
    path: rolePath,
    body: { schema: input({ name: roleName, description: roleDescription, version: version('The version you read.') }), example: { description: 'Analysts of the EMEA region', version: 1 } },
    responses: { 200: { description: 'The role after the change.', schema: ref('Role') } },
    errors: { 404: 'There is no such role.', 409: 'A built-in role, or the role was changed meanwhile (stale `version`).', 422: 'The name is invalid or taken.' },
  },
  'DELETE /roles/{id}': {
    operationId: 'deleteRole',
    tag: 'Roles',
    summary: 'Delete a role',
    description: 'Removes a custom role. Its users move to the role given by `moveTo` (required when it has users), in one transaction.',
    requires: manage,
    path: rolePath,
    query: { moveTo: { description: 'Id of the role the users move to.', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } } },
    responses: { 200: { description: 'Deleted.', schema: ref('RoleDeleted') } },
    errors: {
      400: 'An unknown query parameter or a value out of range.',
      403: 'Without the permission, or `moveTo` grants permissions the caller lacks.',
      404: 'There is no such role.',
      409: 'A built-in role or the default role cannot be removed.',
      422: 'The role has users and `moveTo` is missing, is this role, or does not exist.',
    },
  },
  'GET /roles/{id}/permissions': {
    operationId: 'getRolePermissions',
    tag: 'Roles',
    summary: 'Permissions of a role',
    description: 'The application permission keys the role grants.',
    requires: manage,
    path: rolePath,
    responses: { 200: { description: 'The permissions.', schema: ref('RolePermissions') } },
    errors: { 404: 'There is no such role.' },
  },
  'PUT /roles/{id}/permissions': {
    operationId: 'replaceRolePermissions',
    tag: 'Roles',
    summary: 'Replace the permissions of a role',
    description: 'Grants exactly the permissions listed. Only a Superuser may change role permissions; built-in roles are read-only.',
    requires: SUPERUSER,
    path: rolePath,
    body: {
      schema: input({ permissions: arrayOf(permissionKey, 'The complete list of permission keys.', { maxItems: 200 }), version: version('The version you read.') }, ['permissions']),
      example: { permissions: ['models.view', 'models.edit', 'api.access'], version: 2 },
    },
    responses: { 200: { description: 'The permissions now granted, with what changed.', schema: ref('RolePermissionsChange') } },
    errors: {
      400: 'An unknown permission key, an unknown field or a wrong type.',
      403: 'The caller is not a Superuser.',
      404: 'There is no such role.',
      409: 'A built-in role, or the role was changed meanwhile (stale `version`).',
    },
  },
  'GET /roles/{id}/users': {
    operationId: 'listRoleUsers',
    tag: 'Roles',
    summary: 'Users of a role',
    description: 'The users holding the role; search and offset pagination.',
    requires: manage,
    path: rolePath,
    query: { q: search('username, names, email'), ...paging(100) },
    responses: { 200: { description: 'A page of users.', schema: offsetPage(ref('RoleUser'), { role: roleRef }) } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'There is no such role.' },
  },
  'POST /roles/{id}/users': {
    operationId: 'assignRoleUsers',
    tag: 'Roles',
    summary: 'Assign users to a role',
    description:
      "Gives the role to the users in `add`; users in `remove` move to the default role. Users keep their license type. All or nothing.",
    requires: manage,
    path: rolePath,
    body: {
      schema: input({ add: usernameList('Usernames to give this role.'), remove: usernameList('Usernames to take off this role (they get the default role).') }, [], {
        minProperties: 1,
      }),
      example: { add: ['jane.doe'], remove: ['sam.lee'] },
    },
    responses: { 200: { description: 'What changed.', schema: ref('RoleAssignment') } },
    errors: {
      400: 'Neither `add` nor `remove`, an unknown field or a wrong type.',
      403: 'Without the permission; assigning the Superuser role or a role with permissions the caller lacks; changing your own role.',
      404: 'There is no such role.',
      409: 'Removing users from the default role (they would have nowhere to go), or leaving no active Superuser.',
      422: 'A username names no user (nothing is changed), or no default role exists for removed users.',
    },
  },
};
