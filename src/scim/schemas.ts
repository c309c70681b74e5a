/**
 * What this SCIM server supports, as the discovery endpoints describe it (RFC 7643 §5–7): exactly the
 * attributes Gatehouse keeps. Attributes a directory sends that are not listed here are ignored.
 */
export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
/** Gatehouse's own extension: the role and license of an account. */
export const GATEHOUSE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User';
export const LIST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

/** Results per page when the request names no count, and the most a page holds. */
export const DEFAULT_COUNT = 100;
export const MAX_COUNT = 1000;
/** Member operations accepted in one PATCH request (values across all its operations). */
export const MAX_PATCH_MEMBERS = 20_000;
export const MAX_OPERATIONS = 1000;

type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
type Returned = 'always' | 'never' | 'default' | 'request';

interface Attribute {
  name: string;
  type: 'string' | 'boolean' | 'dateTime' | 'reference' | 'complex';
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: Mutability;
  returned: Returned;
  uniqueness: 'none' | 'server' | 'global';
  subAttributes?: Attribute[];
  referenceTypes?: string[];
}

function attr(name: string, type: Attribute['type'], description: string, o: Partial<Attribute> = {}): Attribute {
  return { name, type, multiValued: false, description, required: false, caseExact: false, mutability: 'readWrite', returned: 'default', uniqueness: 'none', ...o };
}

const externalId = attr('externalId', 'string', "The directory's own identifier for the resource; unique in Gatehouse.", { caseExact: true, uniqueness: 'server' });

const USER_ATTRIBUTES: Attribute[] = [
  attr('userName', 'string', 'The username. Compared without regard to case; cannot be changed after creation.', { required: true, mutability: 'immutable', uniqueness: 'server' }),
  attr('name', 'complex', "The person's name.", {
    required: true,
    subAttributes: [
      attr('givenName', 'string', 'First name (required, up to 100 characters).', { required: true }),
      attr('familyName', 'string', 'Last name (required, up to 100 characters).', { required: true }),
    ],
  }),
  attr('emails', 'complex', 'One email address, unique across users: the primary one is kept.', {
    multiValued: true,
    required: true,
    subAttributes: [
      attr('value', 'string', 'The address.', { required: true }),
      attr('type', 'string', 'Always "work".'),
      attr('primary', 'boolean', 'Always true: Gatehouse keeps one address.'),
    ],
  }),
  attr('active', 'boolean', 'false deactivates the account and ends its sessions; true reactivates it.'),
  attr('password', 'string', 'Sets a password (checked against the password policy). Never returned.', { mutability: 'writeOnly', returned: 'never' }),
  externalId,
  attr('groups', 'complex', 'The groups the user is a member of; change them through /Groups.', {
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [
      attr('value', 'string', 'The group id.', { mutability: 'readOnly' }),
      attr('$ref', 'reference', 'The group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
      attr('display', 'string', 'The group name.', { mutability: 'readOnly' }),
      attr('type', 'string', 'Always "direct".', { mutability: 'readOnly' }),
    ],
  }),
];

const GATEHOUSE_USER_ATTRIBUTES: Attribute[] = [
  attr('role', 'string', 'The name of the Gatehouse role (default: the role marked as default). Handing out a role follows the rules of the console.'),
  attr('license', 'string', "The license type's key or name (default: the role's license). Seat limits apply."),
];

const GROUP_ATTRIBUTES: Attribute[] = [
  attr('displayName', 'string', 'The group name, unique without regard to case.', { required: true, uniqueness: 'server' }),
  externalId,
  attr('members', 'complex', 'The users in the group (users only; groups do not nest).', {
    multiValued: true,
    subAttributes: [
      attr('value', 'string', 'The user id.', { mutability: 'immutable' }),
      attr('$ref', 'reference', 'The user.', { mutability: 'immutable', referenceTypes: ['User'] }),
      attr('display', 'string', 'The username.', { mutability: 'readOnly' }),
      attr('type', 'string', 'Always "User".', { mutability: 'immutable' }),
    ],
  }),
];

const SCHEMAS = [
  { id: USER_SCHEMA, name: 'User', description: 'A Gatehouse account', attributes: USER_ATTRIBUTES },
  { id: GATEHOUSE_USER_SCHEMA, name: 'GatehouseUser', description: 'The role and license of a Gatehouse account', attributes: GATEHOUSE_USER_ATTRIBUTES },
  { id: GROUP_SCHEMA, name: 'Group', description: 'A Gatehouse group', attributes: GROUP_ATTRIBUTES },
];

const meta = (base: string, resourceType: string, path: string) => ({ resourceType, location: `${base}${path}` });

export function schemaResources(base: string) {
  return SCHEMAS.map((s) => ({ schemas: [SCHEMA_SCHEMA], ...s, meta: meta(base, 'Schema', `/Schemas/${s.id}`) }));
}

export function resourceTypes(base: string) {
  return [
    {
      schemas: [RESOURCE_TYPE_SCHEMA],
      id: 'User',
      name: 'User',
      endpoint: '/Users',
      description: 'Gatehouse accounts',
      schema: USER_SCHEMA,
      schemaExtensions: [{ schema: GATEHOUSE_USER_SCHEMA, required: false }],
      meta: meta(base, 'ResourceType', '/ResourceTypes/User'),
    },
    {
      schemas: [RESOURCE_TYPE_SCHEMA],
      id: 'Group',
      name: 'Group',
      endpoint: '/Groups',
      description: 'Gatehouse groups',
      schema: GROUP_SCHEMA,
      schemaExtensions: [],
      meta: meta(base, 'ResourceType', '/ResourceTypes/Group'),
    },
  ];
}

export function serviceProviderConfig(base: string, documentationUri: string) {
  return {
    schemas: [SPC_SCHEMA],
    documentationUri,
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_COUNT },
    changePassword: { supported: true },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Machine client token',
        description: 'Authorization: Bearer <token> of a machine client with the "scim" scope, created by a Superuser.',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        documentationUri,
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${base}/ServiceProviderConfig` },
  };
}
