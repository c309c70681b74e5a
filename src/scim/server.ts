/**
 * The SCIM 2.0 protocol endpoints at /scim/v2 (RFC 7644). A standard of its own, answered in its own
 * media type and error format, so it is not part of /api/v1 or its OpenAPI document.
 *
 * Every request needs the token of a SCIM caller (src/scim/auth.ts).
 */
import type Koa from 'koa';
import Router from '@koa/router';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import { scimAuthentication } from './auth';
import { ScimError, asScimError } from './errors';
import { resourceTypes, schemaResources, serviceProviderConfig } from './schemas';
import { etag } from './resources';
import * as service from './service';

export const SCIM_PREFIX = '/scim/v2';
const MEDIA_TYPE = 'application/scim+json; charset=utf-8';
/** 20,000 member values in one PATCH are about 600 KB. */
const BODY_LIMIT = '4mb';

const base = (ctx: Koa.Context) => `${ctx.services.config.baseUrl}${SCIM_PREFIX}`;
const caller = (ctx: Koa.Context) => ctx.state.scimCaller!;
const ifMatch = (ctx: Koa.Context) => ctx.get('if-match') || undefined;
const query = (ctx: Koa.Context): service.ListParams => {
  const q: Record<string, string> = {};
  for (const [k, v] of Object.entries(ctx.query)) if (typeof v === 'string') q[k] = v;
  // Parameter names are case-insensitive in practice (some directories send startindex).
  const get = (name: string) => q[name] ?? Object.entries(q).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  return {
    filter: get('filter'),
    startIndex: get('startIndex'),
    count: get('count'),
    sortBy: get('sortBy'),
    sortOrder: get('sortOrder'),
    attributes: get('attributes'),
    excludedAttributes: get('excludedAttributes'),
  };
};

function respond(ctx: Koa.Context, body: unknown, status = 200, version?: number): void {
  ctx.status = status;
  ctx.type = MEDIA_TYPE;
  if (version !== undefined) ctx.set('ETag', etag(version));
  ctx.body = body;
}

/** A single resource after a write: read back as a GET would return it. */
async function respondWith(ctx: Koa.Context, kind: 'User' | 'Group', id: number, status: number): Promise<void> {
  const { resource, version } = kind === 'User' ? await service.getUser(ctx.services.db, String(id), query(ctx), base(ctx)) : await service.getGroup(ctx.services.db, String(id), query(ctx), base(ctx));
  if (status === 201) ctx.set('Location', `${base(ctx)}/${kind}s/${id}`);
  respond(ctx, resource, status, version);
}

/** POST /…/.search (RFC 7644 §3.4.3): the query parameters in the body. */
function searchParams(body: unknown): service.ListParams {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const text = (v: unknown) => (v === undefined || v === null ? undefined : Array.isArray(v) ? v.join(',') : String(v));
  return {
    filter: text(b.filter),
    startIndex: text(b.startIndex),
    count: text(b.count),
    sortBy: text(b.sortBy),
    sortOrder: text(b.sortOrder),
    attributes: text(b.attributes),
    excludedAttributes: text(b.excludedAttributes),
  };
}

function routes(): Router {
  const r = new Router({ prefix: SCIM_PREFIX });
  const docs = (ctx: Koa.Context) => `${ctx.services.config.baseUrl}/settings/scim`;

  r.get('/ServiceProviderConfig', (ctx) => respond(ctx, serviceProviderConfig(base(ctx), docs(ctx))));
  r.get('/ResourceTypes', (ctx) => {
    const all = resourceTypes(base(ctx));
    respond(ctx, { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: all.length, startIndex: 1, itemsPerPage: all.length, Resources: all });
  });
  r.get('/ResourceTypes/:id', (ctx) => {
    const found = resourceTypes(base(ctx)).find((t) => t.id === ctx.params.id);
    if (!found) throw new ScimError(404, `There is no resource type ${ctx.params.id}.`);
    respond(ctx, found);
  });
  r.get('/Schemas', (ctx) => {
    const all = schemaResources(base(ctx));
    respond(ctx, { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: all.length, startIndex: 1, itemsPerPage: all.length, Resources: all });
  });
  r.get('/Schemas/:id', (ctx) => {
    const found = schemaResources(base(ctx)).find((s) => s.id.toLowerCase() === ctx.params.id.toLowerCase());
    if (!found) throw new ScimError(404, `There is no schema ${ctx.params.id}.`);
    respond(ctx, found);
  });

  for (const kind of ['User', 'Group'] as const) {
    const path = `/${kind}s`;
    r.get(path, async (ctx) => respond(ctx, await service.list(ctx.services.db, kind, query(ctx), base(ctx))));
    r.post(`${path}/.search`, async (ctx) => {
      ctx.status = 200;
      respond(ctx, await service.list(ctx.services.db, kind, searchParams(ctx.request.body), base(ctx)));
    });
    r.get(`${path}/:id`, async (ctx) => {
      const { resource, version } = kind === 'User' ? await service.getUser(ctx.services.db, ctx.params.id, query(ctx), base(ctx)) : await service.getGroup(ctx.services.db, ctx.params.id, query(ctx), base(ctx));
      respond(ctx, resource, 200, version);
    });
  }

  r.post('/Users', async (ctx) => {
    const { db, config } = ctx.services;
    const created = await service.createUser(db, caller(ctx), ctx.request.body, config.scryptN);
    await respondWith(ctx, 'User', created.id, 201);
  });
  r.put('/Users/:id', async (ctx) => {
    const { db, config } = ctx.services;
    const u = await service.replaceUser(db, caller(ctx), ctx.params.id, ctx.request.body, ifMatch(ctx), config.scryptN);
    await respondWith(ctx, 'User', u.id, 200);
  });
  r.patch('/Users/:id', async (ctx) => {
    const { db, config } = ctx.services;
    const u = await service.patchUser(db, caller(ctx), ctx.params.id, ctx.request.body, ifMatch(ctx), config.scryptN, base(ctx));
    await respondWith(ctx, 'User', u.id, 200);
  });
  r.delete('/Users/:id', async (ctx) => {
    await service.deleteUser(ctx.services.db, caller(ctx), ctx.params.id, ifMatch(ctx));
    ctx.status = 204;
  });

  r.post('/Groups', async (ctx) => {
    const id = await service.createGroup(ctx.services.db, caller(ctx), ctx.request.body);
    await respondWith(ctx, 'Group', id, 201);
  });
  r.put('/Groups/:id', async (ctx) => {
    const id = await service.replaceGroup(ctx.services.db, caller(ctx), ctx.params.id, ctx.request.body, ifMatch(ctx));
    await respondWith(ctx, 'Group', id, 200);
  });
  r.patch('/Groups/:id', async (ctx) => {
    const id = await service.patchGroup(ctx.services.db, caller(ctx), ctx.params.id, ctx.request.body, ifMatch(ctx));
    // Entra ID and Okta read nothing from a group PATCH's answer; a group's members are returned only when asked for.
    const q = query(ctx);
    if (!q.attributes && !q.excludedAttributes) ctx.query = { ...ctx.query, excludedAttributes: 'members' };
    await respondWith(ctx, 'Group', id, 200);
  });
  r.delete('/Groups/:id', async (ctx) => {
    await service.deleteGroup(ctx.services.db, caller(ctx), ctx.params.id, ifMatch(ctx));
    ctx.status = 204;
  });

  r.all('/Bulk', () => {
    throw new ScimError(501, 'Bulk operations are not supported (see /ServiceProviderConfig).');
  });
  r.all('/Me', () => {
    throw new ScimError(501, '/Me is not supported: a SCIM caller is a machine client, not a user.');
  });
  return r;
}

/** Answers everything under /scim/v2 in SCIM's own format, including errors and unknown addresses. */
function scimErrors(): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new ScimError(404, 'There is nothing at this address.');
      if (ctx.status === 405 && !ctx.body) throw new ScimError(405, `This address answers ${ctx.response.get('Allow') || 'no method'} only.`, undefined, { Allow: String(ctx.response.get('Allow')) });
    } catch (raw) {
      const e = asScimError(raw, !!ctx.get('if-match'));
      if (e.status >= 500 && e.status !== 501) ctx.app.emit('error', raw, ctx);
      for (const [name, value] of Object.entries(e.headers)) ctx.set(name, value);
      respond(ctx, e.body(), e.status);
    }
  };
}

/** Writes need a JSON body: SCIM's media type or plain JSON. */
const requireJson: Koa.Middleware = async (ctx, next) => {
  if (['POST', 'PUT', 'PATCH'].includes(ctx.method) && !ctx.is('application/scim+json', 'application/json')) {
    throw new ScimError(415, 'Send the body as application/scim+json (or application/json).');
  }
  await next();
};

export function scimServer(): Koa.Middleware {
  const router = routes();
  const chain = compose([
    scimErrors(),
    scimAuthentication(),
    requireJson,
    bodyParser({ enableTypes: ['json'], extendTypes: { json: ['application/scim+json'] }, jsonLimit: BODY_LIMIT, encoding: 'utf-8' }),
    router.routes(),
    router.allowedMethods(),
  ] as Koa.Middleware[]);
  return (ctx, next) => {
    if (ctx.path !== SCIM_PREFIX && !ctx.path.startsWith(`${SCIM_PREFIX}/`)) return next();
    // Not `isApi`: that marks the OpenAPI-described surfaces; SCIM answers its own errors (scimErrors).
    return chain(ctx);
  };
}
