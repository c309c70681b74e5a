/**
 * The OpenAPI 3.1 description of /api/v1, as a typed object built from the operation maps in
 * src/api/openapi/*.ts (one per feature). Served at GET /api/v1/openapi.json and rendered as the console's
 * API reference (/api-docs). test/http/openapi.test.ts checks that every route of the router is described
 * (and nothing else), with the same permission; every API response of the test suite is validated against
 * it (test/support/openapi.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT_DIR } from '../../paths';
import { APP_PERMISSIONS } from '../../permissions/catalog';
import type { Requirement } from '../../http/routing';
import { PUBLIC } from '../../http/routing';
import { commonSchemas } from './common';
import { ref, type OperationMap, type OperationSpec, type Parameter, type Schema } from './schema';
import { roleOperations, roleSchemas } from './roles';
import { licenseOperations, licenseSchemas } from './licenses';
import { workspaceOperations, workspaceSchemas } from './workspaces';
import { permissionOperations, permissionSchemas } from './permissions';
import { accessOperations, accessSchemas } from './access';
import { assetOperations, assetSchemas } from './assets';
import { auditOperations, auditSchemas } from './audit';

export type { OperationSpec, Schema } from './schema';

/** The tags, in the order of the reference page. */
export const TAGS = [
  { name: 'Users', description: 'Accounts: create, change, deactivate, remove; their role, license type and groups.' },
  { name: 'Groups', description: 'Groups of users, their members, and approval relations between groups.' },
  { name: 'Roles', description: 'Roles: application permissions and a license type; who holds them; the default role.' },
  { name: 'Licenses', description: 'License types: seats and caps on the operations their users may get.' },
  { name: 'Workspaces', description: 'The workspace tree where assets live and domain permissions are granted.' },
  { name: 'Domain permissions', description: 'Allow or deny operations (R, M, C, D) in a domain on a workspace, for a group.' },
  { name: 'Access decisions', description: 'Ask whether a user may do something, with the explanation; effective permissions.' },
  { name: 'Assets', description: 'Folders, logs, models and dashboards: register, share with groups, transfer, delete.' },
  { name: 'Audit log', description: 'The trail of every change.' },
  { name: 'Reference', description: 'This description of the API.' },
] as const;

const metaOperations: OperationMap = {
  'GET /openapi.json': {
    operationId: 'getOpenApiDocument',
    tag: 'Reference',
    summary: 'This OpenAPI document',
    description: 'The OpenAPI 3.1 description of the API, for client generators. Needs no token: it describes the API and holds no data.',
    requires: PUBLIC,
    responses: { 200: { description: 'The OpenAPI document.', schema: { type: 'object', required: ['openapi', 'info', 'paths'] } } },
    errors: {
      401: 'A token was sent and it is unknown, revoked or expired: send none.',
      403: 'A token was sent whose role lacks “Access API”: send none.',
      429: 'A token was sent and it is over its rate limit: send none.',
    },
  },
};

/** Every operation, keyed "METHOD /path/{param}" (the router's "/path/:param"). */
export const OPERATIONS: OperationMap = {
  ...roleOperations,
  ...licenseOperations,
  ...workspaceOperations,
  ...permissionOperations,
  ...accessOperations,
  ...assetOperations,
  ...auditOperations,
  ...metaOperations,
};

const SCHEMAS: Record<string, Schema> = {
  ...commonSchemas,
  ...roleSchemas,
  ...licenseSchemas,
  ...workspaceSchemas,
  ...permissionSchemas,
  ...accessSchemas,
  ...assetSchemas,
  ...auditSchemas,
};

/** A route path of the router ("/users/:username") as an OpenAPI path ("/users/{username}"). */
export function toOpenApiPath(routerPath: string): string {
  return routerPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

/** The requirement in words, for people reading the description or the reference page. */
export function requirementText(r: Requirement): string {
  switch (r.kind) {
    case 'public':
      return 'None: no token needed.';
    case 'signedIn':
      return 'Access API.';
    case 'superuser':
      return 'Access API, and the Superuser role.';
    case 'anyOf': {
      const labels = r.permissions.map((key) => `“${APP_PERMISSIONS.find((p) => p.key === key)?.label ?? key}” (${key})`);
      return `Access API, and ${labels.length > 1 ? `one of ${labels.join(' or ')}` : labels[0]}.`;
    }
  }
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'The request is malformed: invalid JSON, an unknown field (named in `details.fields`), a wrong type or a value out of range. Nothing was written.',
  401: 'No token, or the token is unknown, revoked or expired, or its account cannot sign in.',
  403: 'The token’s role lacks “Access API” or the permission this operation needs.',
  404: 'Not found.',
  409: 'Conflict with the current state. Nothing was written.',
  413: 'The request body is larger than 2 MB.',
  415: 'The request has a body that is not JSON.',
  422: 'A field breaks a rule: `details.fields` has a message per field. Nothing was written.',
  429: 'Too many requests for this token; retry after the number of seconds in `Retry-After`.',
};

function errorResponse(status: number, description?: string): Record<string, unknown> {
  return {
    description: description ?? ERROR_DESCRIPTIONS[status],
    ...(status === 429 ? { headers: { 'Retry-After': { description: 'Seconds until the token may call again.', required: true, schema: { type: 'integer', minimum: 1 } } } } : {}),
    content: { 'application/json': { schema: ref('Error') } },
  };
}

function parameters(where: 'path' | 'query' | 'header', params: Record<string, Parameter> | undefined): Record<string, unknown>[] {
  return Object.entries(params ?? {}).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' ? true : !!p.required,
    description: p.description,
    schema: p.schema,
    ...(p.example !== undefined ? { example: p.example } : {}),
  }));
}

/** The error statuses an operation documents, in order. */
export function errorStatuses(op: OperationSpec, method = 'GET'): number[] {
  const s = new Set<number>(Object.keys(op.errors).map(Number));
  if (op.body || ['POST', 'PUT', 'PATCH'].includes(method)) {
    s.add(400);
    s.add(413);
    s.add(415);
  }
  if (op.requires.kind !== 'public') {
    s.add(401);
    s.add(403);
    s.add(429);
  }
  return [...s].sort((a, b) => a - b);
}

function operationObject(key: string, op: OperationSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(r.headers).map(([name, h]) => [name, { description: h.description, required: !!h.required, schema: h.schema }]),
            ),
          }
        : {}),
      ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}),
    };
  }
  for (const status of errorStatuses(op, key.split(' ')[0])) responses[String(status)] = errorResponse(status, (op.errors as Record<number, string | undefined>)[status]);
  const params = [...parameters('path', op.path), ...parameters('query', op.query), ...parameters('header', op.headers)];
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    description: `${op.description}\n\nRequires: ${requirementText(op.requires)}`,
    ...(op.requires.kind === 'public' ? { security: [] } : {}),
    ...(params.length ? { parameters: params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: op.body.required ?? true,
            ...(op.body.description ? { description: op.body.description } : {}),
            content: { 'application/json': { schema: op.body.schema, example: op.body.example } },
          },
        }
      : {}),
    responses,
    'x-requires': op.requires,
    'x-route': key,
  };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8')) as { version: string }).version;
}

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: Record<string, unknown>;
  servers: Array<{ url: string; description: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, Schema> };
}

const DESCRIPTION = `The JSON API of Gatehouse: everything the console manages — users, groups, roles, licenses, workspaces, domain permissions, assets, the audit log — and access decisions.

**Authentication.** Send a personal API token as \`Authorization: Bearer <token>\`. Create one under *My account → API tokens* in the console, or with \`npm run token -- --username <username> --name <what uses it>\` on the server. A token acts as its owner, with the owner's current permissions: the role must include “Access API”, and every operation also needs the permission its console page needs.

**Errors.** Every error answers \`{"error": {"code", "message", "details"}}\`. \`400\`: malformed request — invalid JSON, an unknown field (fields are never silently dropped) or a wrong type; \`404\`: no such object; \`409\`: conflict with the current state (e.g. a stale \`version\`); \`422\`: a field breaks a rule. For 400 and 422, \`details.fields\` maps each field to its message. A refused request writes nothing.

**Pagination.** Lists answer \`{"items", "total", "limit", "offset", "nextOffset"}\`: pass \`offset=nextOffset\` for the next page until it is null. The audit log, which grows while you read it, pages by cursor instead: \`{"items", "nextCursor"}\`, pass \`cursor=nextCursor\`.

**Concurrency.** Objects carry a \`version\`; send it back with a change to have it refused (409) if someone changed the object meanwhile. Domain permissions use \`ETag\` / \`If-Match\`.

**Rate limits.** Each token may make a limited number of requests per minute; past it the API answers 429 with \`Retry-After\` (seconds).`;

/**
 * The operations not yet defined with src/api/operation.ts, as paths below `prefix`, with the schemas they
 * use, for src/api/openapi.ts to merge (transitional: goes once every feature is converted).
 */
export function legacyDocument(prefix: string): { paths: OpenApiDocument['paths']; schemas: Record<string, Schema> } {
  const paths: OpenApiDocument['paths'] = {};
  for (const [key, op] of Object.entries(OPERATIONS)) {
    const [method, p] = key.split(' ');
    if (p === '/openapi.json') continue;
    (paths[`${prefix}${p}`] ??= {})[method.toLowerCase()] = operationObject(key, op);
  }
  const { Error: _replaced, ...schemas } = SCHEMAS;
  return { paths, schemas };
}
