/**
 * The OpenAPI 3.1 document, derived from the operation definitions (src/api/operation.ts): paths, parameters,
 * request and response schemas (Joi → JSON Schema, src/api/jsonSchema.ts), the automatic error responses
 * and the security of each surface. Served at GET /api/v1/openapi.json and rendered as the console's API
 * reference (/api-docs); every API response of the test suite is validated against it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type Joi from 'joi';
import { ROOT_DIR } from '../paths';
import { APP_PERMISSIONS } from '../permissions/catalog';
import type { Requirement } from '../http/routing';
import { JsonSchemaConverter, type JsonSchema } from './jsonSchema';
import { BODY_METHODS, CONSISTENCY_HEADER, carriesConsistencyToken, type ApiSurface, type ErrorStatus, type Operation } from './operation';
import { CONSISTENCY_WAIT_MS } from '../changes/follower';
import { ErrorBody } from './schemas';

export type Schema = JsonSchema & {
  $ref?: string;
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  oneOf?: Schema[];
  anyOf?: Schema[];
  allOf?: Schema[];
  enum?: unknown[];
  examples?: unknown[];
  additionalProperties?: boolean | Schema;
  format?: string;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  default?: unknown;
};

/** The operations of one surface, as the document and the router both take them. */
export interface SurfaceOperations {
  surface: ApiSurface;
  operations: readonly Operation[];
}

/** The tags, in the order of the reference page. */
export const TAGS = [
  { name: 'Users', description: 'Accounts: create, change, deactivate, remove; their role, license type and groups.' },
  { name: 'Groups', description: 'Groups of users, their members, and approval relations between groups.' },
  { name: 'Roles', description: 'Roles: application permissions and a license type; who holds them; the default role.' },
  { name: 'Licenses', description: 'License types: seats and caps on the operations their users may get.' },
  { name: 'Workspaces', description: 'The workspace tree where assets live and domain permissions are granted.' },
  { name: 'Domains', description: 'The domain catalog: the built-in domains and those a Superuser adds for other applications of the suite.' },
  { name: 'Domain permissions', description: 'Allow or deny operations (R, M, C, D) in a domain on a workspace, for a group.' },
  { name: 'Access decisions', description: 'Ask whether a user may do something, with the explanation; effective permissions.' },
  { name: 'Assets', description: 'Folders, logs, models and dashboards: register, share with groups, transfer, delete.' },
  { name: 'Audit log', description: 'The trail of every change.' },
  { name: 'Webhooks', description: 'Endpoints that receive signed events about changes (Superusers): register, rotate the secret, delivery log, redeliver.' },
  { name: 'Machine clients', description: 'Services that call the API: owner, scopes, rate limit, tokens (Superusers only).' },
  {
    name: 'AuthZEN',
    description:
      'The OpenID AuthZEN Authorization API 1.0 (Basic, Batch, Search and Discovery). Mapping (src/authzen/mapping.ts): subject {type: "user", id: <username>}; action {name: read | modify | write (= modify) | create | delete}; resource {type: <domain key or name>, id: <workspace external key, else path, else id>, properties: {level}}. The explanation comes in `context.reason_admin` (deciding permission, its High/Low rung, group, workspace, other matches) and `context.reason_user`. Unknown fields are ignored; every input problem is a 400.',
  },
  { name: 'Reference', description: 'This description of the API.' },
] as const;

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

const ERROR_DESCRIPTIONS: Record<ErrorStatus, string> = {
  400: 'The request cannot be read: malformed JSON, a body that is not a JSON object, an unknown field or query parameter (`details.fields` names each; nothing is silently dropped), or a malformed header. Nothing was written.',
  401: 'No token, or the token is unknown, revoked or expired, or its account cannot sign in. `WWW-Authenticate` carries the challenge.',
  403: 'The token’s role lacks “Access API” or the permission this operation needs; or a machine client’s scopes do not cover this call (code `insufficient_scope`, `details.scope` names the missing scope).',
  404: 'Not found.',
  405: 'The path exists, but not with this method: `Allow` lists the methods it answers.',
  409: 'Conflict with the current state. Nothing was written.',
  412: 'Precondition failed.',
  413: 'The request body is larger than 2 MB.',
  415: 'The request has a body that is not JSON: send `Content-Type: application/json`.',
  422: 'A known field or query parameter has a value this operation refuses — wrong type, `null` where not allowed, out of range, breaking a rule, or naming an object that does not exist — with a message for every such field in `details.fields`. Nothing was written.',
  428: 'Precondition required.',
  429: 'Too many requests for this token or client; retry after the number of seconds in `Retry-After`.',
  503: 'The server is unavailable for the moment; retry after the number of seconds in `Retry-After`.',
};

/** The response header every write (and every decision) carries. */
const CONSISTENCY_TOKEN_HEADER = {
  description:
    'The change-log position this response reflects: for a write, the position of the last change its transaction recorded (or the current head when it recorded none); for a decision, the position the state it was answered from had reached. Pass it to a decision request (header `Gatehouse-Consistency-Token` or body field `consistencyToken`) to have it answered from state at least this fresh, on any server.',
  required: true,
  schema: { type: 'string', pattern: '^[0-9]+$' },
};

const PUBLIC_TOKEN_ERRORS: Partial<Record<ErrorStatus, string>> = {
  401: 'A token was sent and it is unknown, revoked or expired: send none.',
  403: 'A token was sent whose role lacks “Access API”: send none.',
  429: 'A token was sent and it is over its rate limit: send none.',
};

const DESCRIPTION = `The JSON API of Gatehouse: everything the console manages — users, groups, roles, licenses, workspaces, domain permissions, assets, the audit log — and access decisions.

**Authentication.** Send a personal API token as \`Authorization: Bearer <token>\`. Create one under *My account → API tokens* in the console, or with \`npm run token -- --username <username> --name <what uses it>\` on the server. A token acts as its owner, with the owner's current permissions: the role must include “Access API”, and every operation also needs the permission its console page needs. Without a valid token the API answers 401 with \`WWW-Authenticate: Bearer\`; the token is checked before the request body is read.

**Machine clients.** Services call with a client token (\`ghc_…\`), issued by a Superuser under *Machine clients*. A client acts with its owner's permissions, narrowed by its scopes: \`decisions\` may call only the decision endpoints (\`/check\`, \`/check/batch\`, AuthZEN under \`/access/v1\`), \`read\` the other GET operations, \`write\` the other changes (judged as changes by the owner), \`scim\` only \`/scim/v2\`. A call outside the scopes answers 403 \`insufficient_scope\` with \`details.scope\`; a token of a disabled client 401. The audit log names the client as \`client:<name>\`.

**Requests.** A request body is a JSON object sent with \`Content-Type: application/json\` (anything else: 415). Fields are never silently dropped: an unknown field or query parameter is refused (400, naming it); \`null\` is accepted only where a field says so. A PATCH changes only the fields it sends.

**Errors.** Every error answers \`{"error": {"code", "message", "details"}}\`. \`400\`: the request cannot be read (malformed JSON, not an object, unknown field or parameter). \`422\`: a known field has a value the operation refuses; \`details.fields\` has a message for every such field at once. \`404\` with code \`not_found\` and \`details.type\` (\`user\`, \`group\`, …): the object the **path** names does not exist; an object named in a **body field or query parameter** that does not exist is a \`422\` on that field. \`405\`: the path exists with other methods, listed in \`Allow\`. \`409\`: conflict with the current state (e.g. a stale \`version\`). A refused request writes nothing.

**Pagination.** Lists answer \`{"items", "total", "limit", "offset", "nextOffset"}\`: pass \`offset=nextOffset\` for the next page until it is null. The users list also pages by keyset cursor (\`nextCursor\`), and the audit log, which grows while you read it, pages by cursor only: \`{"items", "nextCursor"}\`, pass \`cursor=nextCursor\`.

**Concurrency.** Objects carry a \`version\`; send it back with a change to have it refused (409) if someone changed the object meanwhile. Domain permissions use \`ETag\` / \`If-Match\`.

**Consistency tokens.** Decisions are answered from memory on every server, which follows the database's change log within about 20 ms. Every write's response (and every decision's) carries \`${CONSISTENCY_HEADER}: <position>\`. Send that value with a decision request — the same header, or the body field \`consistencyToken\` — and it is answered from state that includes that write, on whichever server receives it: the server waits for its state to reach the position, at most ${CONSISTENCY_WAIT_MS / 1000} s, and otherwise answers 503 with \`Retry-After\` (never a stale answer).

**Rate limits.** Each personal token may make a limited number of requests per minute; a machine client has its own limit, none unless a Superuser sets one. Past it the API answers 429 with \`Retry-After\` (seconds).`;

export interface OpenApiDocument {
  openapi: '3.1.0';
  info: Record<string, unknown>;
  servers: Array<{ url: string; description: string }>;
  security: Array<Record<string, string[]>>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, Record<string, unknown>>>;
  components: { securitySchemes: Record<string, unknown>; schemas: Record<string, Schema> };
}

function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT_DIR, 'package.json'), 'utf8')) as { version: string }).version;
}

interface Keyed {
  name: string;
  required: boolean;
  description?: string;
  example?: unknown;
  schema: JsonSchema;
}

/** The keys of a Joi object schema, each converted on its own (for parameters). */
function keysOf(converter: JsonSchemaConverter, schema: Joi.ObjectSchema | undefined): Keyed[] {
  if (!schema) return [];
  const keys = (schema.describe() as { keys?: Record<string, unknown> }).keys ?? {};
  return Object.keys(keys).map((name) => {
    const converted = converter.convert(schema.extract(name));
    const { description, examples, ...rest } = converted as { description?: string; examples?: unknown[] };
    const presence = (keys[name] as { flags?: { presence?: string } }).flags?.presence;
    return { name, required: presence === 'required', description, example: examples?.[0], schema: rest };
  });
}

function errorResponse(status: ErrorStatus, description: string, challenge: string): Record<string, unknown> {
  const headers: Record<string, unknown> = {};
  if (status === 401) headers['WWW-Authenticate'] = { description: `The challenge: \`${challenge}\`.`, required: true, schema: { type: 'string' } };
  if (status === 405) headers.Allow = { description: 'The methods this path answers.', required: true, schema: { type: 'string' } };
  if (status === 429) headers['Retry-After'] = { description: 'Seconds until the token may call again.', required: true, schema: { type: 'integer', minimum: 1 } };
  if (status === 503) headers['Retry-After'] = { description: 'Seconds to wait before asking again.', required: true, schema: { type: 'integer', minimum: 1 } };
  return { description, ...(Object.keys(headers).length ? { headers } : {}), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } };
}

const LENIENT_400 =
  'The request cannot be used: no body, a body that is not JSON (or not sent as `application/json`), not a JSON object, or a required field missing or malformed (`details.fields` names each). Unknown fields are ignored.';

/** The error statuses an operation answers, with their descriptions: the automatic ones, then its own. */
export function errorsOf(op: Operation, surface?: ApiSurface): Map<ErrorStatus, string> {
  const out = new Map<ErrorStatus, string>();
  const takesBody = BODY_METHODS.has(op.method);
  const lenient = surface?.input === 'lenient';
  // Every operation refuses an unknown query parameter; one that takes a body, a malformed body.
  out.set(400, lenient && takesBody ? LENIENT_400 : ERROR_DESCRIPTIONS[400]);
  for (const s of [401, 403] as const) out.set(s, op.requires.kind === 'public' ? PUBLIC_TOKEN_ERRORS[s]! : ERROR_DESCRIPTIONS[s]);
  if (op.params) out.set(404, 'The object the path names does not exist (`details.type` says which kind).');
  if (takesBody) {
    out.set(413, ERROR_DESCRIPTIONS[413]);
    if (!lenient) out.set(415, ERROR_DESCRIPTIONS[415]);
  }
  if (!lenient && (op.body || op.query || op.check)) out.set(422, ERROR_DESCRIPTIONS[422]);
  out.set(429, op.requires.kind === 'public' ? PUBLIC_TOKEN_ERRORS[429]! : ERROR_DESCRIPTIONS[429]);
  for (const [status, description] of Object.entries(op.errors ?? {})) out.set(Number(status) as ErrorStatus, description);
  return new Map([...out].sort(([a], [b]) => a - b));
}

function operationObject(converter: JsonSchemaConverter, surface: ApiSurface, op: Operation, defaultScheme: string): Record<string, unknown> {
  const parameters = [
    ...keysOf(converter, op.params).map((k) => ({ ...k, in: 'path', required: true })),
    ...keysOf(converter, op.query).map((k) => ({ ...k, in: 'query' })),
    ...Object.entries(op.headers ?? {}).map(([name, schema]) => {
      const { description, examples, ...rest } = converter.convert(schema) as { description?: string; examples?: unknown[] };
      return { name, in: 'header', required: false, description, example: examples?.[0], schema: rest };
    }),
  ].map(({ name, in: where, required, description, example, schema }) => ({
    name,
    in: where,
    required,
    ...(description ? { description } : {}),
    schema,
    ...(example !== undefined ? { example } : {}),
  }));
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(op.responses)) {
    if (!r) continue;
    const headers = {
      ...Object.fromEntries(
        Object.entries(r.headers ?? {}).map(([name, h]) => [name, { description: h.description, required: !!h.required, schema: h.schema ? converter.convert(h.schema) : { type: 'string' } }]),
      ),
      ...(carriesConsistencyToken(op) ? { [CONSISTENCY_HEADER]: CONSISTENCY_TOKEN_HEADER } : {}),
    };
    responses[status] = {
      description: r.description,
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(r.schema ? { content: { 'application/json': { schema: converter.convert(r.schema) } } } : {}),
    };
  }
  for (const [status, description] of errorsOf(op, surface)) responses[String(status)] = errorResponse(status, description, surface.challenge);
  const security = op.requires.kind === 'public' ? [] : surface.security.name === defaultScheme ? undefined : [{ [surface.security.name]: [] }];
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    description: `${op.description}\n\nRequires: ${requirementText(op.requires)}`,
    ...(security ? { security } : {}),
    ...(parameters.length ? { parameters } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: op.bodyRequired !== false,
            content: { 'application/json': { schema: converter.convert(op.body), ...(op.example ? { example: op.example } : {}) } },
          },
        }
      : {}),
    responses,
    'x-requires': op.requires,
    // A standard's input rules (unknown fields ignored, every input problem a 400): see ApiSurface.input.
    ...(surface.input === 'lenient' ? { 'x-input': 'lenient' } : {}),
  };
}

/** The document for a server reached at `baseUrl`, describing every operation of these surfaces. */
export function buildOpenApiDocument(baseUrl: string, surfaces: readonly SurfaceOperations[]): OpenApiDocument {
  const converter = new JsonSchemaConverter();
  converter.convert(ErrorBody);
  const defaultScheme = surfaces[0].surface.security.name;
  const paths: OpenApiDocument['paths'] = {};
  const securitySchemes: Record<string, unknown> = {};
  for (const { surface, operations } of surfaces) {
    securitySchemes[surface.security.name] = surface.security.scheme;
    for (const op of operations) {
      const p = `${surface.prefix}${toOpenApiPath(op.path)}`;
      const method = op.method.toLowerCase();
      if (paths[p]?.[method]) throw new Error(`${op.method} ${p} is defined twice.`);
      (paths[p] ??= {})[method] = operationObject(converter, surface, op, defaultScheme);
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Gatehouse',
      version: packageVersion(),
      summary: 'Access control back office: users, groups, roles, licenses, workspaces and permissions.',
      description: DESCRIPTION,
    },
    servers: [{ url: baseUrl.replace(/\/+$/, ''), description: 'This Gatehouse server' }],
    security: [{ [defaultScheme]: [] }],
    tags: TAGS.map((t) => ({ name: t.name, description: t.description })),
    paths,
    components: { securitySchemes, schemas: Object.fromEntries(Object.entries(converter.components).sort(([a], [b]) => a.localeCompare(b))) as Record<string, Schema> },
  };
}
