import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { MAX_LEVEL } from '../../access/catalog';
import { groupNameParam, idPath, paging } from './common';
import { bool, id, input, int, obj, offsetPage, oneOf, ref, str, type OperationMap, type Schema } from './schema';

const manage = can(P.accessManage);

const etag = { ETag: { description: 'The version of the permission, quoted: send it back as `If-Match` to refuse a stale edit.', schema: { type: 'string' }, required: true } };

const attributes: Record<string, Schema> = {
  effect: str('Allow or deny (case-insensitive).', { enum: ['allow', 'deny'] }),
  domain: str('Domain name (or key), e.g. "Processes".', { minLength: 1, maxLength: 100 }),
  workspace: oneOf(id('Workspace id.'), str('Workspace path, e.g. "/Root/Sales".', { minLength: 1, maxLength: 2000 })),
  transitive: bool('Also applies to every sub-workspace (default false).'),
  operations: str('Letters of R (read), M (modify), C (create), D (delete), e.g. "RM".', { maxLength: 4, pattern: '^[RMCDrmcd]*$' }),
  level: int(`Processes only: the level (0–${MAX_LEVEL}) the permission applies from (default 0).`, { minimum: 0, maximum: MAX_LEVEL }),
  priority: str('High beats low; at the same priority deny beats allow (default low; case-insensitive).', { enum: ['high', 'low'] }),
};

export const permissionSchemas: Record<string, Schema> = {
  Permission: obj(
    {
      id: id(),
      group: str('The group it is granted to.'),
      effect: str(undefined, { enum: ['allow', 'deny'] }),
      domain: str('Domain name.'),
      workspace: str('Workspace path.'),
      transitive: bool('Applies to sub-workspaces too.'),
      operations: str('Letters of R, M, C, D in that order.', { pattern: '^R?M?C?D?$' }),
      level: int(undefined, { minimum: 0, maximum: MAX_LEVEL }),
      priority: str(undefined, { enum: ['high', 'low'] }),
    },
    { description: 'A domain permission of a group: allow or deny operations in a domain on a workspace.' },
  ),
};

const permissionPath = { id: idPath('permission') };
const ifMatch = {
  'If-Match': { description: 'The ETag you read (e.g. `"3"`): a permission changed since answers 409. Optional.', schema: { type: 'string' } },
};

export const permissionOperations: OperationMap = {
  'GET /groups/{name}/permissions': {
    operationId: 'listGroupPermissions',
    tag: 'Domain permissions',
    summary: 'Permissions of a group',
    description: 'The domain permissions granted to a group; offset pagination.',
    requires: manage,
    path: { name: groupNameParam },
    query: paging(100),
    responses: { 200: { description: 'A page of permissions.', schema: offsetPage(ref('Permission'), { group: str('The group name.') }) } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'There is no such group.' },
  },
  'POST /groups/{name}/permissions': {
    operationId: 'createGroupPermission',
    tag: 'Domain permissions',
    summary: 'Grant a permission to a group',
    description: 'Adds a domain permission. The same permission twice is refused. Decisions follow at once.',
    requires: manage,
    path: { name: groupNameParam },
    body: {
      schema: input(attributes, ['effect', 'domain', 'workspace', 'operations']),
      example: { effect: 'allow', domain: 'Processes', workspace: '/Root/Sales', transitive: true, operations: 'RM', level: 2, priority: 'low' },
    },
    responses: {
      201: {
        description: 'Created.',
        schema: ref('Permission'),
        headers: { ...etag, Location: { description: 'The URL of the new permission.', schema: { type: 'string' }, required: true } },
      },
    },
    errors: {
      404: 'There is no such group.',
      422: 'The domain or workspace does not exist, a level on a domain without levels, or the group already has exactly this permission.',
    },
  },
  'GET /permissions/{id}': {
    operationId: 'getPermission',
    tag: 'Domain permissions',
    summary: 'Get a permission',
    description: 'One domain permission, with its version as the ETag.',
    requires: manage,
    path: permissionPath,
    responses: { 200: { description: 'The permission.', schema: ref('Permission'), headers: etag } },
    errors: { 404: 'There is no such permission.' },
  },
  'PATCH /permissions/{id}': {
    operationId: 'updatePermission',
    tag: 'Domain permissions',
    summary: 'Change a permission',
    description: 'Changes the attributes sent (at least one). Changing the domain resets an unsent level to 0.',
    requires: manage,
    path: permissionPath,
    headers: ifMatch,
    body: { schema: input(attributes, [], { minProperties: 1 }), example: { operations: 'RMC', priority: 'high' } },
    responses: { 200: { description: 'The permission after the change.', schema: ref('Permission'), headers: etag } },
    errors: {
      400: 'No attribute, an unknown field, a wrong type, or a malformed If-Match.',
      404: 'There is no such permission.',
      409: 'The permission was changed since the If-Match version.',
      422: 'The domain or workspace does not exist, a level on a domain without levels, or it would duplicate another permission.',
    },
  },
  'DELETE /permissions/{id}': {
    operationId: 'deletePermission',
    tag: 'Domain permissions',
    summary: 'Revoke a permission',
    description: 'Deletes the domain permission. Decisions follow at once.',
    requires: manage,
    path: permissionPath,
    headers: ifMatch,
    responses: { 200: { description: 'Deleted; the permission as it was.', schema: obj({ deleted: ref('Permission') }) } },
    errors: { 400: 'A malformed If-Match.', 404: 'There is no such permission.', 409: 'The permission was changed since the If-Match version.' },
  },
};
