/** Machine clients over JSON (Superusers only): create, change, disable, delete, issue and revoke tokens. */
import type Koa from 'koa';
import Joi from 'joi';
import { SUPERUSER } from '../http/routing';
import { actorOf } from '../http/auth';
import { notFound } from '../http/errors';
import type { FieldErrors } from '../http/forms';
import * as users from '../users/repo';
import { created, operation } from '../api/operation';
import { component, count, id, idParam, iso, isoOrNull, list, offsetPage, page, paging, record, search, text, time } from '../api/schemas';
import * as repo from './repo';
import * as service from './service';
import type { ClientToken, MachineClient } from './repo';
import { SCOPES, type Scope } from './scopes';

const TAG = 'Machine clients';

const scopeList = Joi.array()
  .items(Joi.string().valid(...SCOPES))
  .description('`decisions`: the decision endpoints only; `read`: GET operations; `write`: changes, as the owner may make them; `scim`: /scim/v2 only.');

const ClientSchema = component(
  'MachineClient',
  record(
    {
      id: id(),
      name: text('Unique (without regard to case); the audit log names the client `client:<name>`.'),
      description: text(),
      owner: text('Username of the owner: the client acts with their permissions.'),
      scopes: scopeList,
      rateLimitPerMinute: Joi.number().integer().min(1).allow(null).description('Requests per minute (per server); null: no limit.'),
      status: text('`disabled`: every token of the client is refused (401).').valid('active', 'disabled'),
      createdAt: time(),
      updatedAt: time(),
    },
    'A non-human caller of the API with its own tokens.',
  ),
);

const TokenSchema = component(
  'ClientToken',
  record({
    id: id(),
    name: text(),
    prefix: text('The first characters of the token, to recognise it.'),
    createdAt: time(),
    lastUsedAt: time('Updated at most once a minute.').allow(null),
    expiresAt: time().allow(null),
    revokedAt: time().allow(null),
  }),
);

const IssuedTokenSchema = component(
  'IssuedClientToken',
  record({
    id: id(),
    name: text(),
    token: text('The secret: send it as `Authorization: Bearer <token>`. It is shown only in this response.'),
    prefix: text(),
    expiresAt: time().allow(null),
  }),
);

export const clientJson = (c: MachineClient) => ({
  id: c.id,
  name: c.name,
  description: c.description,
  owner: c.ownerUsername,
  scopes: c.scopes,
  rateLimitPerMinute: c.rateLimitPerMinute,
  status: c.status,
  createdAt: iso(c.createdAt),
  updatedAt: iso(c.updatedAt),
});

const tokenJson = (t: ClientToken) => ({
  id: t.id,
  name: t.name,
  prefix: t.prefix,
  createdAt: iso(t.createdAt),
  lastUsedAt: isoOrNull(t.lastUsedAt),
  expiresAt: isoOrNull(t.expiresAt),
  revokedAt: isoOrNull(t.revokedAt),
});

const clientPath = Joi.object<{ id: number }>({ id: idParam('Client') });

/** The database's part of judging a body (an owner that exists, a free name), reported with the schema's problems. */
async function checkClient(ctx: Koa.Context, body: Record<string, unknown>, current?: MachineClient): Promise<FieldErrors> {
  const { db } = ctx.services;
  const fields: FieldErrors = {};
  if (typeof body.owner === 'string' && body.owner.trim() && !(await users.findByUsername(db, body.owner.trim()))) fields.owner = `There is no user "${body.owner.trim()}".`;
  if (typeof body.name === 'string' && body.name.trim() && body.name.trim().toLowerCase() !== current?.name.toLowerCase() && (await repo.findByName(db, body.name))) {
    fields.name = service.NAME_TAKEN;
  }
  return fields;
}

async function loadClient(ctx: Koa.Context, params: { id: number }): Promise<MachineClient> {
  const c = await repo.findById(ctx.services.db, params.id);
  if (!c) throw notFound('Client');
  return c;
}

interface ClientBody {
  name: string;
  description?: string;
  owner: string;
  scopes: Scope[];
  rateLimitPerMinute?: number | null;
}

const fields = {
  name: service.nameSchema.description('1–48 letters, digits, dots, dashes or underscores.'),
  description: service.descriptionSchema.description('What uses the client (up to 500 characters).'),
  owner: service.ownerSchema.description('Username of the owner.'),
  scopes: scopeList.min(1).unique().label('Scopes'),
  rateLimitPerMinute: Joi.number().integer().min(1).max(service.MAX_RATE_LIMIT).allow(null).label('Rate limit').description('Requests per minute per server; null or absent: no limit.'),
};

const listClients = operation({
  operationId: 'listClients',
  method: 'GET',
  path: '/clients',
  tag: TAG,
  summary: 'List machine clients',
  description: 'Machine clients by name, with search and offset pagination.',
  requires: SUPERUSER,
  query: Joi.object<{ q?: string; limit: number; offset: number }>({ q: search('client name', 48), ...paging(50) }),
  responses: { 200: { description: 'A page of clients.', schema: page('MachineClientPage', ClientSchema) } },
  errors: { 422: 'A value out of range.' },
  async handler(ctx, { query }) {
    const { rows, total } = await repo.list(ctx.services.db, { q: query.q }, query.limit, query.offset);
    return offsetPage(rows.map(clientJson), total, query);
  },
});

const createClient = operation({
  operationId: 'createClient',
  method: 'POST',
  path: '/clients',
  tag: TAG,
  summary: 'Create a machine client',
  description: 'Creates a client acting as its owner within its scopes. Issue it a token next (POST /clients/{id}/tokens).',
  requires: SUPERUSER,
  body: Joi.object<ClientBody>({ ...fields, name: fields.name.required(), owner: fields.owner.required(), scopes: fields.scopes.required() }),
  example: { name: 'orders-service', description: 'Checks access for the orders service', owner: 'jane.doe', scopes: ['decisions'] },
  responses: { 201: { description: 'Created.', schema: ClientSchema, headers: { Location: { description: 'The URL of the new client.', required: true } } } },
  errors: { 422: 'Every field that breaks a rule: a taken or invalid name, an unknown owner, no or unknown scopes, a rate limit out of range.' },
  check: (ctx, { body }) => checkClient(ctx, body),
  async handler(ctx, { body }) {
    const c = await service.createClient(ctx.services.db, actorOf(ctx), body as unknown as Record<string, unknown>);
    return created(ctx, `/api/v1/clients/${c.id}`, clientJson(c));
  },
});

const getClient = operation({
  operationId: 'getClient',
  method: 'GET',
  path: '/clients/:id',
  tag: TAG,
  summary: 'Get a machine client',
  description: 'One client.',
  requires: SUPERUSER,
  params: clientPath,
  load: loadClient,
  responses: { 200: { description: 'The client.', schema: ClientSchema } },
  handler: (_ctx, { target }) => clientJson(target),
});

const updateClient = operation({
  operationId: 'updateClient',
  method: 'PATCH',
  path: '/clients/:id',
  tag: TAG,
  summary: 'Change, disable or enable a machine client',
  description: 'Changes the fields sent; `status: "disabled"` refuses every token of the client (401) until it is `active` again.',
  requires: SUPERUSER,
  params: clientPath,
  load: loadClient,
  body: Joi.object<Partial<ClientBody> & { status?: 'active' | 'disabled' }>({ ...fields, status: Joi.string().valid('active', 'disabled').label('Status').description('active or disabled.') }),
  example: { scopes: ['decisions', 'read'], rateLimitPerMinute: 6000 },
  responses: { 200: { description: 'The client after the change.', schema: ClientSchema } },
  errors: { 422: 'A taken or invalid name, an unknown owner, no or unknown scopes, a rate limit out of range.' },
  check: (ctx, { body, target }) => checkClient(ctx, body, target),
  async handler(ctx, { body, target }) {
    return clientJson(await service.updateClient(ctx.services.db, actorOf(ctx), target.id, body as Record<string, unknown>));
  },
});

const deleteClient = operation({
  operationId: 'deleteClient',
  method: 'DELETE',
  path: '/clients/:id',
  tag: TAG,
  summary: 'Delete a machine client',
  description: 'Deletes the client with its tokens.',
  requires: SUPERUSER,
  params: clientPath,
  load: loadClient,
  responses: { 200: { description: 'Deleted.', schema: component('MachineClientDeleted', record({ deleted: id('The id of the deleted client.'), name: text() })) } },
  async handler(ctx, { target }) {
    const c = await service.removeClient(ctx.services.db, actorOf(ctx), target.id);
    return { deleted: c.id, name: c.name };
  },
});

const listTokens = operation({
  operationId: 'listClientTokens',
  method: 'GET',
  path: '/clients/:id/tokens',
  tag: TAG,
  summary: 'List the tokens of a machine client',
  description: 'Every token of the client, newest first, revoked ones included; never the secrets.',
  requires: SUPERUSER,
  params: clientPath,
  load: loadClient,
  responses: { 200: { description: 'The tokens.', schema: component('ClientTokenList', record({ items: list(TokenSchema), total: count() })) } },
  async handler(ctx, { target }) {
    const tokens = await repo.tokensOf(ctx.services.db, target.id);
    return { items: tokens.map(tokenJson), total: tokens.length };
  },
});

const issueToken = operation({
  operationId: 'issueClientToken',
  method: 'POST',
  path: '/clients/:id/tokens',
  tag: TAG,
  summary: 'Issue a token for a machine client',
  description: 'A new token; its secret is in this response only (Gatehouse keeps its SHA-256).',
  requires: SUPERUSER,
  params: clientPath,
  load: loadClient,
  body: Joi.object<{ name: string; expiresInDays?: number }>({
    name: Joi.string().trim().min(1).max(100).required().label('Name').description('What the token is for, e.g. "production".'),
    expiresInDays: Joi.number().integer().min(1).max(3650).label('Expires in (days)').description('Absent: the token does not expire.'),
  }),
  example: { name: 'production', expiresInDays: 365 },
  responses: { 201: { description: 'Issued.', schema: IssuedTokenSchema, headers: { Location: { description: 'The tokens of the client.', required: true } } } },
  errors: { 422: 'A missing name or an expiry out of range.' },
  async handler(ctx, { body, target }) {
    const t = await service.issueToken(ctx.services.db, actorOf(ctx), target.id, body);
    return created(ctx, `/api/v1/clients/${target.id}/tokens`, { id: t.id, name: t.name, token: t.token, prefix: t.prefix, expiresAt: isoOrNull(t.expiresAt) });
  },
});

const revokeToken = operation({
  operationId: 'revokeClientToken',
  method: 'DELETE',
  path: '/clients/:id/tokens/:tokenId',
  tag: TAG,
  summary: 'Revoke a token of a machine client',
  description: 'The token is refused from now on (401).',
  requires: SUPERUSER,
  params: Joi.object<{ id: number; tokenId: number }>({ id: idParam('Client'), tokenId: idParam('Token') }),
  async load(ctx, params) {
    const client = await loadClient(ctx, params);
    const token = await repo.findToken(ctx.services.db, client.id, params.tokenId);
    if (!token) throw notFound('Token');
    return { client, token };
  },
  responses: { 200: { description: 'The revoked token.', schema: TokenSchema } },
  errors: { 409: 'The token is already revoked.' },
  async handler(ctx, { target }) {
    const { db } = ctx.services;
    await service.revokeToken(db, actorOf(ctx), target.client.id, target.token.id);
    return tokenJson((await repo.findToken(db, target.client.id, target.token.id))!);
  },
});

export const operations = [listClients, createClient, getClient, updateClient, deleteClient, listTokens, issueToken, revokeToken];
