import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { ASSET_KINDS, SHARE_ACCESS } from '../../assets/repo';
import { idPath, paging, search } from './common';
import { arrayOf, id, input, nullable, obj, offsetPage, oneOf, ref, str, time, type OperationMap, type Schema } from './schema';

const manage = can(P.accessManage);

const workspaceRef = oneOf(id('Workspace id.'), str('Workspace path, e.g. "/Root/Sales".', { maxLength: 2000 }));
const assetName = str('1–200 characters, no control characters.', { minLength: 1, maxLength: 200, pattern: '^[^\\p{Cc}]*$' });
const access = str('viewer, editor or owner.', { enum: [...SHARE_ACCESS] });

export const assetSchemas: Record<string, Schema> = {
  Asset: obj(
    {
      id: id(),
      kind: str(undefined, { enum: [...ASSET_KINDS] }),
      name: str(),
      workspace: nullable(str('Workspace path.')),
      workspaceId: id(),
      owner: str('Username of the owner.'),
      shares: arrayOf(obj({ group: str('Group name.'), access }), 'Groups the asset is shared with.'),
      createdAt: time(),
      updatedAt: time(),
    },
    { description: 'A folder, log, model or dashboard in a workspace, owned by a user and shared with groups.' },
  ),
  AssetDeleted: obj({ deleted: id('The id of the deleted asset.'), name: str() }),
};

const assetPath = { id: idPath('asset') };

export const assetOperations: OperationMap = {
  'GET /assets': {
    operationId: 'listAssets',
    tag: 'Assets',
    summary: 'List assets',
    description: 'Assets with search, filters and offset pagination.',
    requires: manage,
    query: {
      q: search('asset name', 200),
      kind: { description: 'Only this kind.', schema: { type: 'string', enum: [...ASSET_KINDS] } },
      owner: { description: 'Only assets of this owner (username).', schema: { type: 'string', maxLength: 64 } },
      group: { description: 'Only assets shared with this group (name).', schema: { type: 'string', maxLength: 100 } },
      workspace: { description: 'Only assets directly in this workspace (id).', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } },
      ...paging(50),
    },
    responses: { 200: { description: 'A page of assets.', schema: offsetPage(ref('Asset')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'The `owner` or `group` filter names nobody.' },
  },
  'POST /assets': {
    operationId: 'registerAsset',
    tag: 'Assets',
    summary: 'Register an asset',
    description: 'Registers a folder, log, model or dashboard in a workspace, owned by a user.',
    requires: manage,
    body: {
      schema: input({ kind: str(undefined, { enum: [...ASSET_KINDS] }), name: assetName, owner: str('Username of the owner.', { minLength: 1, maxLength: 64 }), workspace: workspaceRef }, [
        'kind',
        'name',
        'owner',
        'workspace',
      ]),
      example: { kind: 'model', name: 'Order to cash', owner: 'jane.doe', workspace: '/Root/Sales' },
    },
    responses: {
      201: { description: 'Registered.', schema: ref('Asset'), headers: { Location: { description: 'The URL of the new asset.', schema: { type: 'string' }, required: true } } },
    },
    errors: { 422: 'A field breaks a rule (message per field): unknown kind, owner or workspace, invalid name.' },
  },
  'GET /assets/{id}': {
    operationId: 'getAsset',
    tag: 'Assets',
    summary: 'Get an asset',
    description: 'One asset with its shares.',
    requires: manage,
    path: assetPath,
    responses: { 200: { description: 'The asset.', schema: ref('Asset') } },
    errors: { 404: 'There is no such asset.' },
  },
  'PATCH /assets/{id}': {
    operationId: 'updateAsset',
    tag: 'Assets',
    summary: 'Rename or move an asset',
    description: 'Changes the name and/or the workspace.',
    requires: manage,
    path: assetPath,
    body: { schema: input({ name: assetName, workspace: workspaceRef }), example: { name: 'Order to cash v2', workspace: '/Root/Sales/EMEA' } },
    responses: { 200: { description: 'The asset after the change.', schema: ref('Asset') } },
    errors: { 404: 'There is no such asset.', 422: 'An invalid name or an unknown workspace.' },
  },
  'DELETE /assets/{id}': {
    operationId: 'deleteAsset',
    tag: 'Assets',
    summary: 'Delete an asset',
    description: 'Deletes the asset and its shares.',
    requires: manage,
    path: assetPath,
    responses: { 200: { description: 'Deleted.', schema: ref('AssetDeleted') } },
    errors: { 404: 'There is no such asset.' },
  },
  'POST /assets/{id}/transfer': {
    operationId: 'transferAsset',
    tag: 'Assets',
    summary: 'Transfer ownership',
    description: 'Makes another user the owner.',
    requires: manage,
    path: assetPath,
    body: { schema: input({ to: str('Username of the new owner.', { minLength: 1, maxLength: 64 }) }, ['to']), example: { to: 'sam.lee' } },
    responses: { 200: { description: 'The asset with its new owner.', schema: ref('Asset') } },
    errors: { 404: 'There is no such asset.', 422: 'No such user, or the user owns it already.' },
  },
  'PUT /assets/{id}/shares': {
    operationId: 'shareAsset',
    tag: 'Assets',
    summary: 'Share with a group',
    description: 'Shares the asset with a group at an access level, or changes the level of an existing share.',
    requires: manage,
    path: assetPath,
    body: { schema: input({ group: str('Group name.', { minLength: 1, maxLength: 100 }), access }, ['group', 'access']), example: { group: 'Sales Analysts', access: 'viewer' } },
    responses: { 200: { description: 'The asset with its shares.', schema: ref('Asset') } },
    errors: { 404: 'There is no such asset.', 422: 'No such group.' },
  },
  'DELETE /assets/{id}/shares/{group}': {
    operationId: 'unshareAsset',
    tag: 'Assets',
    summary: 'Stop sharing with a group',
    description: 'Removes the share of one group.',
    requires: manage,
    path: { ...assetPath, group: { description: 'The group name.', schema: { type: 'string', minLength: 1, maxLength: 100 }, example: 'Sales Analysts' } },
    responses: { 200: { description: 'The asset with its remaining shares.', schema: ref('Asset') } },
    errors: { 404: 'There is no such asset or group, or the asset is not shared with the group.' },
  },
};
