import { can } from '../../http/routing';
import { AUDIT_NAME_CAP, MAX_MOVES } from '../../groups/service';
import { P } from '../../permissions/catalog';
import { groupNameParam, paging, search, usernameParam } from './common';
import { arrayOf, bool, id, input, int, obj, offsetPage, ref, str, time, version, type OperationMap, type Schema } from './schema';

const manage = can(P.usersManage);

const NAME_PATTERN = "^[\\p{L}\\p{N}][\\p{L}\\p{N} ._&()'+,@#:-]*$";

const groupName = str("1–100 characters: letters, digits, spaces and . _ - & ( ) ' + , @ # :, starting with a letter or digit. Unique (case-insensitive).", {
  minLength: 1,
  maxLength: 100,
  pattern: NAME_PATTERN,
});
const description = str('Up to 500 characters, no control characters.', { maxLength: 500 });

const groupProps: Record<string, Schema> = {
  id: id(),
  name: str(),
  description: str(),
  memberCount: int('Members of the group.', { minimum: 0 }),
  version: version(),
  createdAt: time(),
  updatedAt: time(),
};

const usernames = (what: string) => arrayOf(str(undefined, { minLength: 1, maxLength: 64 }), what, { maxItems: MAX_MOVES });

export const groupSchemas: Record<string, Schema> = {
  Group: obj(groupProps, { description: 'A group of users.' }),
  GroupDetail: obj(
    {
      ...groupProps,
      approverGroups: arrayOf(str(), 'Groups that approve what members of this group publish.'),
      requesterGroups: arrayOf(str(), 'Groups whose publications this group approves.'),
    },
    { description: 'A group with its approval relations (group names).' },
  ),
  GroupMember: obj({ id: id(), username: str(), firstName: str(), lastName: str(), email: str(), addedAt: time('When the user joined the group.') }),
  MembershipChange: obj(
    {
      group: str('The group name.'),
      added: arrayOf(str(), `Usernames added (the first ${AUDIT_NAME_CAP.toLocaleString('en-US')} at most; \`addedCount\` has them all).`),
      removed: arrayOf(str(), `Usernames removed (the first ${AUDIT_NAME_CAP.toLocaleString('en-US')} at most; \`removedCount\` has them all).`),
      addedCount: int(undefined, { minimum: 0 }),
      removedCount: int(undefined, { minimum: 0 }),
      alreadyMembers: int('Users in `add` who were already members.', { minimum: 0 }),
      alreadyRemoved: int('Users in `remove` who were not members.', { minimum: 0 }),
      merged: bool('True when the group was saved by someone else after the `version` you sent: your moves were applied to the current members.'),
      memberCount: int(undefined, { minimum: 0 }),
      version: version(),
    },
    { description: 'The outcome of adding and removing members.' },
  ),
  GroupDeleted: obj({
    deleted: str('The group name.'),
    removed: obj(
      {
        memberships: int(undefined, { minimum: 0 }),
        domainPermissions: int(undefined, { minimum: 0 }),
        assetShares: int(undefined, { minimum: 0 }),
        relations: int(undefined, { minimum: 0 }),
      },
      { description: 'What went with the group.' },
    ),
  }),
  GroupRelation: obj(
    { requester: str('Requester group name.'), approver: str('Approver group name.'), createdAt: time() },
    { description: 'Members of the approver group approve what members of the requester group publish.' },
  ),
  GroupRelationPair: obj({ requester: str('Requester group name.'), approver: str('Approver group name.') }),
  ApproverSummary: obj({
    user: str('The username.'),
    needsApproval: bool('False when the user publishes without approval (in no requester group with an approver).'),
    approverGroups: arrayOf(
      obj({
        name: str(),
        memberCount: int(undefined, { minimum: 0 }),
        approvesFor: arrayOf(str(), 'The requester groups of the user it approves for.'),
        includesUser: bool('The user is a member of this approver group too.'),
      }),
    ),
    requesterGroups: arrayOf(obj({ name: str(), approvers: arrayOf(str()) }), "The user's requester groups with their approver groups."),
  }),
};

const groupPath = { name: groupNameParam };
const pair = {
  requester: { description: 'Requester group name.', schema: { type: 'string', maxLength: 100 }, required: true },
  approver: { description: 'Approver group name.', schema: { type: 'string', maxLength: 100 }, required: true },
};

export const groupOperations: OperationMap = {
  'GET /groups': {
    operationId: 'listGroups',
    tag: 'Groups',
    summary: 'List groups',
    description: 'Groups by name, with member counts; search and offset pagination.',
    requires: manage,
    query: { q: search('group name or description'), ...paging(50) },
    responses: { 200: { description: 'A page of groups.', schema: offsetPage(ref('Group')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.' },
  },
  'POST /groups': {
    operationId: 'createGroup',
    tag: 'Groups',
    summary: 'Create a group',
    description: 'Creates an empty group. Add members with `POST /groups/{name}/members`.',
    requires: manage,
    body: { schema: input({ name: groupName, description }, ['name']), example: { name: 'Sales Analysts', description: 'Analysts of the sales department' } },
    responses: {
      201: { description: 'Created.', schema: ref('Group'), headers: { Location: { description: 'The URL of the new group.', schema: { type: 'string' }, required: true } } },
    },
    errors: { 422: 'The name is empty, too long, has characters that are not allowed, or is taken.' },
  },
  'GET /groups/{name}': {
    operationId: 'getGroup',
    tag: 'Groups',
    summary: 'Get a group',
    description: 'One group with its member count and approval relations.',
    requires: manage,
    path: groupPath,
    responses: { 200: { description: 'The group.', schema: ref('GroupDetail') } },
    errors: { 404: 'There is no such group.' },
  },
  'PATCH /groups/{name}': {
    operationId: 'updateGroup',
    tag: 'Groups',
    summary: 'Rename or describe a group',
    description: 'Changes the fields sent. With `version`, a group changed meanwhile is refused (409) rather than overwritten.',
    requires: manage,
    path: groupPath,
    body: { schema: input({ name: groupName, description, version: version('The version you read.') }), example: { name: 'Sales Analysts EMEA', version: 2 } },
    responses: { 200: { description: 'The group after the change.', schema: ref('GroupDetail') } },
    errors: { 404: 'There is no such group.', 409: 'The group was changed meanwhile (stale `version`).', 422: 'The name is invalid or taken.' },
  },
  'DELETE /groups/{name}': {
    operationId: 'deleteGroup',
    tag: 'Groups',
    summary: 'Delete a group',
    description: 'Removes the group with its memberships, domain permissions, asset shares and relations, in one transaction.',
    requires: manage,
    path: groupPath,
    responses: { 200: { description: 'Deleted, with what went with it.', schema: ref('GroupDeleted') } },
    errors: { 400: 'A query parameter was sent (none is accepted).', 404: 'There is no such group.' },
  },
  'GET /groups/{name}/members': {
    operationId: 'listGroupMembers',
    tag: 'Groups',
    summary: 'List members',
    description: 'The members of a group; search and offset pagination.',
    requires: manage,
    path: groupPath,
    query: { q: search('username, names, email'), ...paging(50) },
    responses: { 200: { description: 'A page of members.', schema: offsetPage(ref('GroupMember')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'There is no such group.' },
  },
  'POST /groups/{name}/members': {
    operationId: 'changeGroupMembers',
    tag: 'Groups',
    summary: 'Add and remove members',
    description:
      'Adds the users in `add` and removes those in `remove` (usernames), in one transaction. Users already in the wanted state are counted, not refused. With `version`, moves made after someone else saved the group are merged (`merged: true`).',
    requires: manage,
    path: groupPath,
    body: {
      schema: input({ add: usernames('Usernames to add.'), remove: usernames('Usernames to remove.'), version: version('The version you read.') }),
      example: { add: ['jane.doe', 'sam.lee'], remove: ['old.member'] },
    },
    responses: { 200: { description: 'What changed.', schema: ref('MembershipChange') } },
    errors: {
      404: 'There is no such group.',
      422: 'Neither list holds a username, a user is in both, or a username names no user (nothing is changed).',
    },
  },
  'GET /group-relations': {
    operationId: 'listGroupRelations',
    tag: 'Groups',
    summary: 'List approval relations',
    description: 'Requester → approver group pairs; search by either name; offset pagination.',
    requires: manage,
    query: { q: search('requester or approver group name'), ...paging(50) },
    responses: { 200: { description: 'A page of relations.', schema: offsetPage(ref('GroupRelation')) } },
    errors: { 400: 'An unknown query parameter or a value out of range.' },
  },
  'POST /group-relations': {
    operationId: 'createGroupRelation',
    tag: 'Groups',
    summary: 'Relate two groups',
    description: 'Makes the approver group approve what members of the requester group publish.',
    requires: manage,
    body: {
      schema: input({ requester: str('Requester group name.', { minLength: 1, maxLength: 100 }), approver: str('Approver group name.', { minLength: 1, maxLength: 100 }) }, ['requester', 'approver']),
      example: { requester: 'Sales Analysts', approver: 'Sales Managers' },
    },
    responses: { 201: { description: 'Created.', schema: ref('GroupRelationPair') } },
    errors: { 422: 'A group name is missing or names no group, the groups are the same, or the relation exists already.' },
  },
  'DELETE /group-relations': {
    operationId: 'deleteGroupRelation',
    tag: 'Groups',
    summary: 'Remove a relation',
    description: 'The pair is given as query parameters (a DELETE carries no body).',
    requires: manage,
    query: pair,
    responses: { 200: { description: 'Removed.', schema: obj({ deleted: ref('GroupRelationPair') }) } },
    errors: { 400: 'An unknown query parameter.', 404: 'The approver group does not approve for the requester group.', 422: 'A group name is missing or names no group.' },
  },
  'GET /users/{username}/approvers': {
    operationId: 'getUserApprovers',
    tag: 'Groups',
    summary: 'Who approves for a user',
    description: "The approver groups of the user's requester groups: who must approve what the user publishes.",
    requires: manage,
    path: { username: usernameParam },
    responses: { 200: { description: 'The approvers.', schema: ref('ApproverSummary') } },
    errors: { 404: 'There is no such user.' },
  },
};
