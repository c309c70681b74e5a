import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { idPath, paging, search } from './common';
import { id, input, int, nullable, obj, offsetPage, oneOf, ref, str, time, version, type OperationMap, type Schema } from './schema';

const manage = can(P.accessManage);

const workspaceName = str('1–100 characters; no "/" and no control characters. Unique among its siblings (case-insensitive).', {
  minLength: 1,
  maxLength: 100,
  pattern: '^[^/\\p{Cc}\\p{Cf}\\u2028\\u2029]*$',
});
const workspaceRef = (what: string) => oneOf(id(`The ${what}'s id.`), str(`The ${what}'s path, e.g. "/Root/Sales".`, { minLength: 1, maxLength: 2000 }));

const workspaceProps: Record<string, Schema> = {
  id: id(),
  name: str(),
  path: str('Full path from the root, e.g. "/Root/Sales/EMEA".'),
  parentId: nullable(id('Null for the root workspace.')),
  version: version(),
  createdAt: time(),
  updatedAt: time(),
};

export const workspaceSchemas: Record<string, Schema> = {
  Workspace: obj(workspaceProps, { description: 'A node of the workspace tree: where assets live and permissions are granted.' }),
  WorkspaceDetail: obj(
    {
      ...workspaceProps,
      children: int('Direct sub-workspaces.', { minimum: 0 }),
      assets: int('Assets directly in this workspace.', { minimum: 0 }),
      permissions: int('Domain permissions granted on this workspace.', { minimum: 0 }),
    },
    { description: 'A workspace with what it holds.' },
  ),
  WorkspaceDeleted: obj({ deleted: str('The path of the deleted workspace.'), permissionsRemoved: int('Domain permissions granted on it, removed with it.', { minimum: 0 }) }),
};

const workspacePath = { id: idPath('workspace') };

export const workspaceOperations: OperationMap = {
  'GET /workspaces': {
    operationId: 'listWorkspaces',
    tag: 'Workspaces',
    summary: 'List workspaces',
    description: 'A flat list of workspaces with their paths, in tree order; search by name, or list the children of one workspace; offset pagination.',
    requires: manage,
    query: {
      q: search('workspace name'),
      parent: { description: 'Only the direct children of this workspace (path or id).', schema: { type: 'string', minLength: 1, maxLength: 2000 } },
      ...paging(100),
    },
    responses: { 200: { description: 'A page of workspaces.', schema: offsetPage(ref('Workspace')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'The `parent` names no workspace.' },
  },
  'POST /workspaces': {
    operationId: 'createWorkspace',
    tag: 'Workspaces',
    summary: 'Create a workspace',
    description: 'Creates a workspace under `parent` (default: the root).',
    requires: manage,
    body: { schema: input({ name: workspaceName, parent: workspaceRef('parent workspace') }, ['name']), example: { name: 'EMEA', parent: '/Root/Sales' } },
    responses: {
      201: {
        description: 'Created.',
        schema: ref('WorkspaceDetail'),
        headers: { Location: { description: 'The URL of the new workspace.', schema: { type: 'string' }, required: true } },
      },
    },
    errors: { 422: 'The name is invalid or taken under that parent, or the parent does not exist.' },
  },
  'GET /workspaces/{id}': {
    operationId: 'getWorkspace',
    tag: 'Workspaces',
    summary: 'Get a workspace',
    description: 'One workspace with counts of its children, assets and permissions.',
    requires: manage,
    path: workspacePath,
    responses: { 200: { description: 'The workspace.', schema: ref('WorkspaceDetail') } },
    errors: { 404: 'There is no such workspace.' },
  },
  'PATCH /workspaces/{id}': {
    operationId: 'updateWorkspace',
    tag: 'Workspaces',
    summary: 'Rename or move a workspace',
    description: 'Send `name` to rename, `parent` to move (never into itself or its own sub-workspaces), or both. The root cannot move.',
    requires: manage,
    path: workspacePath,
    body: {
      schema: input({ name: workspaceName, parent: workspaceRef('new parent workspace'), version: version('The version you read.') }, [], {
        anyOf: [{ required: ['name'] }, { required: ['parent'] }],
      }),
      example: { parent: '/Root/Marketing', version: 3 },
    },
    responses: { 200: { description: 'The workspace after the change.', schema: ref('WorkspaceDetail') } },
    errors: {
      400: 'Neither `name` nor `parent`, an unknown field or a wrong type.',
      404: 'There is no such workspace.',
      409: 'The workspace was changed meanwhile (stale `version`).',
      422: 'The name is invalid or taken there, or the move is impossible (root, into itself, into a sub-workspace, already there).',
    },
  },
  'DELETE /workspaces/{id}': {
    operationId: 'deleteWorkspace',
    tag: 'Workspaces',
    summary: 'Delete a workspace',
    description: 'Deletes an empty workspace with the domain permissions granted on it. A workspace with sub-workspaces or assets, and the root, are refused (409).',
    requires: manage,
    path: workspacePath,
    query: { version: { description: 'The version you read; a different current version answers 409.', schema: { type: 'integer', minimum: 1, maximum: 2147483647 } } },
    responses: { 200: { description: 'Deleted.', schema: ref('WorkspaceDeleted') } },
    errors: {
      400: 'An unknown query parameter or a value out of range.',
      404: 'There is no such workspace.',
      409: 'The workspace still holds sub-workspaces or assets (`details.children`, `details.assets`), is the root, or was changed meanwhile.',
    },
  },
};
