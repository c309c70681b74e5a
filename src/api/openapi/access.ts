import { can } from '../../http/routing';
import { P } from '../../permissions/catalog';
import { MAX_LEVEL, OPERATIONS } from '../../access/catalog';
import { usernameParam } from './common';
import { arrayOf, bool, id, int, nullable, obj, oneOf, ref, str, type OperationMap, type Schema } from './schema';

const manage = can(P.accessManage);
const MAX_BATCH = 1000;

const checkRequest: Schema = {
  type: 'object',
  description: 'A question: may this user perform this operation in this domain on this workspace?',
  required: ['user', 'domain', 'operation', 'workspace'],
  properties: {
    user: str('Username.', { minLength: 1, maxLength: 64 }),
    domain: str('Domain name or key, e.g. "Processes".', { minLength: 1, maxLength: 100 }),
    operation: str('R, M, C or D (case-insensitive).', { enum: ['R', 'M', 'C', 'D', 'r', 'm', 'c', 'd'] }),
    workspace: oneOf(id('Workspace id.'), str('Workspace path, e.g. "/Root/Sales".', { minLength: 1, maxLength: 2000 })),
    level: nullable(int(`Processes only: the level of the process (0–${MAX_LEVEL}).`, { minimum: 0, maximum: MAX_LEVEL })),
  },
  additionalProperties: false,
};

export const accessSchemas: Record<string, Schema> = {
  CheckRequest: checkRequest,
  Decision: obj(
    {
      allowed: bool(),
      reason: str(
        '`account`: the user is deactivated, locked or without a license; `rule`: a matching permission decided; `default`: no permission matched (deny); `license`: the license type caps the operation.',
        { enum: ['account', 'rule', 'default', 'license'] },
      ),
      decidedBy: nullable(ref('Permission')),
      matched: arrayOf(ref('Permission'), 'Every matching permission, the deciding one first, then by precedence (High Deny, High Allow, Low Deny, Low Allow).'),
      explanation: str('The decision in one sentence.'),
    },
    { description: 'A decision with its explanation.' },
  ),
  CheckItemError: obj(
    {
      error: obj({
        status: int('The status the same question would get from POST /check.', { minimum: 400, maximum: 499 }),
        code: str(),
        message: str(),
        details: nullable(obj({ fields: { type: 'object', additionalProperties: str() } })),
      }),
    },
    { description: 'In a batch, the answer to a question that could not be decided (unknown user, domain or workspace, malformed item).' },
  ),
  EffectivePermissions: obj({
    user: str(),
    workspace: str('The workspace path.'),
    level: int(undefined, { minimum: 0, maximum: MAX_LEVEL }),
    domains: arrayOf(
      obj({
        domain: str('Domain name.'),
        key: str('Domain key.'),
        usesLevels: bool(),
        allowed: str('The operations allowed, e.g. "RM".', { pattern: '^R?M?C?D?$' }),
        operations: obj(Object.fromEntries(OPERATIONS.map((op) => [op, ref('Decision')])), { description: 'The decision for each operation.' }),
      }),
    ),
  }),
};

export const accessOperations: OperationMap = {
  'POST /check': {
    operationId: 'check',
    tag: 'Access decisions',
    summary: 'Check a permission',
    description: "The decision and its explanation: the user's account and license, then the domain permissions of the user's groups on the workspace and its ancestors.",
    requires: manage,
    body: { schema: ref('CheckRequest'), example: { user: 'jane.doe', domain: 'Processes', operation: 'M', workspace: '/Root/Sales', level: 2 } },
    responses: { 200: { description: 'The decision.', schema: ref('Decision') } },
    errors: { 400: 'A missing or malformed field, or an unknown field.', 404: 'The user, domain or workspace does not exist.' },
  },
  'POST /check/batch': {
    operationId: 'checkBatch',
    tag: 'Access decisions',
    summary: 'Check many permissions',
    description: `Up to ${MAX_BATCH} questions in one request; the answers come in the same order. A question that cannot be answered gets an error in its place; the others are still decided.`,
    requires: manage,
    body: {
      schema: {
        type: 'object',
        required: ['checks'],
        properties: { checks: arrayOf(ref('CheckRequest'), undefined, { minItems: 1, maxItems: MAX_BATCH }) },
        additionalProperties: false,
      },
      example: {
        checks: [
          { user: 'jane.doe', domain: 'Processes', operation: 'R', workspace: '/Root/Sales' },
          { user: 'jane.doe', domain: 'Files', operation: 'D', workspace: '/Root/Sales' },
        ],
      },
    },
    responses: { 200: { description: 'One answer per question, in order.', schema: obj({ results: arrayOf(oneOf(ref('Decision'), ref('CheckItemError'))) }) } },
    errors: { 400: 'No `checks` list, an empty one, more than 1,000, or an unknown field.' },
  },
  'GET /users/{username}/effective-permissions': {
    operationId: 'getEffectivePermissions',
    tag: 'Access decisions',
    summary: 'Effective permissions of a user',
    description: 'Every domain × R/M/C/D decided for one user on one workspace (default: the root).',
    requires: manage,
    path: { username: usernameParam },
    query: {
      workspace: { description: 'Workspace path (or id). Default: the root.', schema: { type: 'string', minLength: 1, maxLength: 2000 }, example: '/Root/Sales' },
      level: { description: 'Processes level to decide for.', schema: { type: 'integer', minimum: 0, maximum: MAX_LEVEL, default: 0 } },
    },
    responses: { 200: { description: 'The grid of decisions.', schema: ref('EffectivePermissions') } },
    errors: { 400: 'An unknown query parameter or a value out of range.', 404: 'The user or workspace does not exist.' },
  },
};
