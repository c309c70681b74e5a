/**
 * API operations: ONE declarative definition per operation, from which its route, its request validation and
 * its OpenAPI description (src/api/openapi.ts) are all derived.
 *
 * How to add an operation
 * 1. In the feature's api.ts, define it with `operation({...})`:
 *    - `method`, `path` in router syntax below the surface's prefix ('/things/:id'), `operationId`, `tag`,
 *      `summary`, `description`, and `requires` (src/http/routing.ts) — the route's permission.
 *    - `params`, `query`, `body` as Joi object schemas (`headers` as Joi schemas by header name). Reuse the
 *      service's field schemas so that a rule lives in one place; src/api/schemas.ts has the shared pieces
 *      (path parameters that name an object, paging, `record()` and `page()` for responses).
 *    - `responses`: each success status with its description and a Joi schema of the body (`record()`:
 *      every key present unless `.optional()`; `.meta({ component: 'Name' })` names it in the document).
 *    - `errors`: the statuses the operation answers beyond the automatic ones (400 unknown field, 404 for an
 *      object its path names, 413/415 for a body, 401/403/429 when protected, 422 when it takes input),
 *      each with the case that causes it.
 *    - `load` (optional): finds the object the path names, or throws `notFound` — before the input is judged.
 *    - `check` (optional): database checks of the input (names that must exist, uniqueness…), run together
 *      with the schema's so that every field's problem comes back in one response.
 *    - `handler(ctx, { params, query, body, headers, target })`: gets the validated input and returns the
 *      response body (set `ctx.status`/headers itself, or use `created()`). A decision operation
 *      (`consistency: 'decisions'`) gives `decide(services, input)` instead: no request context, so the
 *      decision lane (src/http/decisionLane.ts) can answer it in front of Koa.
 * 2. Add it to the feature's exported `operations` list, and that list to its surface's list in src/app.ts.
 * 3. A new prefix or another way of authenticating (AuthZEN at /access/v1, SCIM at /scim/v2): define an
 *    `ApiSurface` and mount it in src/app.ts with `mountSurface`; its operations join the same document.
 * The test suite then holds the operation to its definition: every response of every test is validated
 * against the document (test/support/openapi.ts); test/http/openapi.test.ts sends each operation unknown
 * fields, hostile values and unknown paths.
 *
 * Order of a request: the surface authenticates from headers alone → the route's requirement (401/403) →
 * the body is read (415 for another Content-Type, 413, 400 malformed) → path parameters (404) → `load` (404)
 * → query, body, headers (400 unknown; 422 every value problem, with `check`'s) → the handler. Nothing is
 * read from the body, and nothing expensive is done, before the caller is known.
 */
import type Koa from 'koa';
import Router from '@koa/router';
import compose from 'koa-compose';
import Joi from 'joi';
import { bodyParser } from '@koa/bodyparser';
import { HttpError, ValidationError, notFound } from '../http/errors';
import { bodyParseError } from '../http/errorHandler';
import { checkStrict, throwStrict, type FieldErrors } from '../http/forms';
import { satisfies, type Method, type MountedRoute, type Requirement } from '../http/routing';
import { collectPositions, headPosition } from '../changes/service';
import { followerPosition } from '../changes/follower';
import type { SurfaceAuthentication } from './auth';
import type { AppServices } from '../http/types';
import type { DecisionRoute } from '../http/decisionLane';
import { PRE_READ_BODY, type HandedOver } from '../http/handOver';

/** A group of operations under one prefix with one way of authenticating (the JSON API, AuthZEN, SCIM…). */
export interface ApiSurface {
  /** The paths' prefix, e.g. '/api/v1'. */
  prefix: string;
  /** Makes the middleware that identifies the caller from the request's headers alone (sets ctx.state.user); it never reads the body. One per app. */
  authenticate: () => SurfaceAuthentication;
  /** How the protected operations authenticate, for the document: a name and an OpenAPI Security Scheme. */
  security: { name: string; scheme: Record<string, unknown> };
  /** The `WWW-Authenticate` challenge of a 401, e.g. 'Bearer realm="Gatehouse API"'. */
  challenge: string;
  /**
   * How input problems are answered. `strict` (the default, Gatehouse's own API): an unknown field is a 400
   * naming it, a refused value a 422, another media type a 415. `lenient` (a standard that says otherwise,
   * such as AuthZEN): unknown fields are ignored, and every input problem — another media type, no body, a
   * missing or malformed field — is a 400 naming the fields.
   */
  input?: 'strict' | 'lenient';
}

export type SuccessStatus = 200 | 201 | 202 | 204;
export type ErrorStatus = 400 | 401 | 403 | 404 | 405 | 409 | 412 | 413 | 415 | 422 | 428 | 429 | 503;

/** The response header naming the change-log position a response reflects (src/changes/follower.ts). */
export const CONSISTENCY_HEADER = 'Gatehouse-Consistency-Token';

export interface ResponseSpec {
  description: string;
  /** The JSON body; none for a response without a body. */
  schema?: Joi.Schema;
  headers?: Record<string, { description: string; required?: boolean; schema?: Joi.Schema }>;
}

export interface OperationInput<P, Q, B, T> {
  params: P;
  query: Q;
  body: B;
  headers: Record<string, unknown>;
  /** What `load` found (the object the path names). */
  target: T;
}

// Joi's object schemas carry the TypeScript type of the value they produce: `Joi.object<T>({…})`.
/* eslint-disable @typescript-eslint/no-explicit-any */
export interface Operation<P = any, Q = any, B = any, T = any> {
  /** Stable name for client generators, e.g. "listUsers". */
  operationId: string;
  method: Method;
  /** Router syntax, below the surface's prefix: '/users/:username'. */
  path: string;
  tag: string;
  summary: string;
  description: string;
  requires: Requirement;
  params?: Joi.ObjectSchema<P>;
  query?: Joi.ObjectSchema<Q>;
  headers?: Record<string, Joi.Schema>;
  body?: Joi.ObjectSchema<B>;
  /** An example request body (checked against the schema by the test suite). */
  example?: Record<string, unknown>;
  /** Required for POST/PUT/PATCH operations with a `body`; false when the whole body may be left out. */
  bodyRequired?: boolean;
  responses: Partial<Record<SuccessStatus, ResponseSpec>>;
  errors?: Partial<Record<ErrorStatus, string>>;
  /**
   * `decisions`: the operation answers from the decision state (it may take a consistency token and reads
   * nothing from the database); its response's consistency token is the position it answered at. Every
   * other operation that is not a GET is a write: its token is the position its transaction recorded.
   */
  consistency?: 'decisions';
  /**
   * Optional, for hot operations: a cheap, precompiled test that a body is already exactly what `body`'s
   * schema would make of it (right types, trimmed, in range, no unknown field). When it says yes, the
   * schema's own pass is skipped; anything else still goes through the schema, for its messages. It must
   * never accept what the schema refuses (test/http/check-api.test.ts holds the decision operations to it).
   */
  canonicalBody?: (body: unknown) => boolean;
  load?: (ctx: Koa.Context, params: P) => Promise<T>;
  check?: (ctx: Koa.Context, input: { params: P; target: T; body: Record<string, unknown> }) => Promise<FieldErrors>;
  /** Answers the request: returns the response body (or sets `ctx` itself). Exactly one of `handler` and `decide`. */
  handler?: (ctx: Koa.Context, input: OperationInput<P, Q, B, T>) => unknown;
  /**
   * For decision operations (`consistency: 'decisions'`): the answer from the input and the services alone,
   * with no request context — so the decision lane (src/http/decisionLane.ts) can answer it without Koa.
   */
  decide?: (services: AppServices, input: OperationInput<P, Q, B, T>) => unknown;
}

/** Defines an operation (an identity function that lets TypeScript infer the input types from the schemas). */
export function operation<P = Record<string, never>, Q = Record<string, never>, B = Record<string, never>, T = undefined>(op: Operation<P, Q, B, T>): Operation<P, Q, B, T> {
  return op;
}

/** For a handler that creates: 201 with the new object's URL in Location; returns the body. */
export function created<R>(ctx: Koa.Context, location: string, body: R): R {
  ctx.status = 201;
  ctx.set('Location', location);
  return body;
}

/** Methods whose request may carry a body; GET and DELETE bodies have no meaning and are not read. */
export const BODY_METHODS: ReadonlySet<Method> = new Set(['POST', 'PUT', 'PATCH']);

const NO_FIELDS = Joi.object({});
/** The `next` of an operation, which answers the request itself. */
const NOTHING_NEXT = async () => undefined;
const NOTHING = Object.freeze({ value: undefined, unknown: Object.freeze({}), problems: Object.freeze({}) });
const NO_QUERY = Object.freeze({ value: Object.freeze({}), unknown: Object.freeze({}), problems: Object.freeze({}) });
const EMPTY = Joi.object({});

const readJson = bodyParser({ enableTypes: ['json'], jsonLimit: '2mb', onError: bodyParseError });

/** Reads a JSON body, after the caller is known: 415 (lenient: 400) for another media type; an absent body is `undefined`. */
async function readBody(ctx: Koa.Context, lenient: boolean): Promise<unknown> {
  // Read already by the decision lane, which handed the request over (src/http/decisionLane.ts).
  const preRead = (ctx.req as HandedOver)[PRE_READ_BODY];
  if (preRead) {
    if ('error' in preRead) bodyParseError(preRead.error as Error & { status?: number });
    return jsonObject(preRead.body);
  }
  const length = Number(ctx.get('content-length') || 0);
  if (!(length > 0 || ctx.get('transfer-encoding'))) return undefined;
  // The exact common type first: type-is's parsing is a measurable share of a decision.
  if (ctx.get('content-type') !== 'application/json' && !ctx.is('application/json', '+json')) {
    throw new HttpError(lenient ? 400 : 415, 'unsupported_media_type', 'Send the request body as JSON, with Content-Type: application/json.');
  }
  await readJson(ctx, async () => undefined);
  return jsonObject(ctx.request.body);
}

function jsonObject(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'malformed_body', 'Send a JSON object.');
  return body;
}

/** The object type a path parameter names, for its 404 (`.meta({ names: 'user' })`, see src/api/schemas.ts). */
function namedType(schema: Joi.ObjectSchema, key: string): string {
  const child = (schema.describe() as { keys?: Record<string, { metas?: Array<{ names?: string }> }> }).keys?.[key];
  return child?.metas?.find((m) => m.names)?.names ?? 'Object';
}

function guard(surface: ApiSurface, requires: Requirement, ctx: Koa.Context): void {
  if (requires.kind === 'public') return;
  if (!ctx.state.user) {
    throw new HttpError(401, 'unauthenticated', 'Send a valid API token: Authorization: Bearer <token>.', {}, undefined, { 'WWW-Authenticate': surface.challenge });
  }
  if (!satisfies(ctx, requires)) {
    throw new HttpError(403, 'forbidden', requires.kind === 'superuser' ? 'Only a Superuser may do this.' : 'Your role does not include the permission this operation needs.');
  }
}

/** The middleware chain of one operation: guard, body, validation, handler. */
function operationMiddleware(surface: ApiSurface, op: Operation): Koa.Middleware {
  const takesBody = BODY_METHODS.has(op.method);
  const lenient = surface.input === 'lenient';
  const headerSchemas = Object.entries(op.headers ?? {}).map(([name, schema]) => [name, schema, (schema.describe().flags as { presence?: string } | undefined)?.presence === 'required'] as const);
  return async (ctx) => {
    guard(surface, op.requires, ctx);
    const raw = takesBody ? await readBody(ctx, lenient) : undefined;

    let params: unknown = {};
    if (op.params) {
      const { value, error } = op.params.validate((ctx as unknown as { params: Record<string, string> }).params, { convert: true, abortEarly: true });
      if (error) throw notFound(namedType(op.params, String(error.details[0].path[0])));
      params = value;
    }
    const target = op.load ? await op.load(ctx, params) : undefined;

    // No query string and no query schema: nothing to judge (the common case of a POST).
    const query = !op.query && !ctx.querystring ? NO_QUERY : checkStrict(op.query ?? EMPTY, ctx.query);
    const body = !takesBody ? NOTHING : raw !== undefined && op.canonicalBody?.(raw) ? { value: raw, unknown: {}, problems: {} } : checkStrict(op.body ?? NO_FIELDS, raw ?? {}, { noDefaults: true });
    // A lenient surface ignores unknown body fields (query parameters stay strict: none of its operations take any).
    const unknown = lenient ? query.unknown : { ...query.unknown, ...body.unknown };
    const problems = { ...query.problems, ...body.problems };
    if (op.body && op.bodyRequired !== false && raw === undefined) problems._ = 'Send a JSON object as the request body.';
    const headers: Record<string, unknown> = {};
    for (const [name, schema, required] of headerSchemas) {
      const sent = ctx.get(name) || undefined;
      // An optional header that was not sent has nothing to judge (the common case on the decision path).
      if (sent === undefined && !required) continue;
      const { value, error } = schema.validate(sent);
      if (error) throw new ValidationError({ [name]: error.message }, `The ${name} header is malformed.`, 400);
      headers[name] = value;
    }
    // Database checks join the schema's problems (which win for the same field): every problem in one answer.
    const checked = !Object.keys(unknown).length && op.check ? await op.check(ctx, { params, target, body: (raw ?? {}) as Record<string, unknown> }) : {};
    if (lenient && Object.keys({ ...checked, ...problems }).length) throw new ValidationError({ ...unknown, ...checked, ...problems }, 'The request is missing a required field or has a malformed one.', 400, 'bad_request');
    throwStrict(unknown, { ...checked, ...problems });

    const input = { params, query: query.value, body: body.value, headers, target };
    if (op.consistency === 'decisions') {
      const result = op.decide ? await op.decide(ctx.services, input) : await op.handler!(ctx, input);
      if (result !== undefined) ctx.body = result;
      ctx.set(CONSISTENCY_HEADER, String(followerPosition(ctx.services.db)));
    } else if (op.method !== 'GET') {
      await collectPositions(async (recorded) => {
        const result = await op.handler!(ctx, input);
        if (result !== undefined) ctx.body = result;
        ctx.set(CONSISTENCY_HEADER, String(recorded() || (await headPosition(ctx.services.db))));
      });
    } else {
      const result = await op.handler!(ctx, input);
      if (result !== undefined) ctx.body = result;
    }
  };
}

/** Whether an operation's successful responses carry the consistency-token header. */
export function carriesConsistencyToken(op: Operation): boolean {
  return op.method !== 'GET' || op.consistency === 'decisions';
}

/** A surface mounted: the middleware answering everything under its prefix, and its decision routes by `METHOD /path`. */
export interface MountedSurface {
  middleware: Koa.Middleware;
  /**
   * The surface's decision operations (`consistency: 'decisions'`, no path parameters), keyed by method and
   * full path: the hot path of the product, answered by src/http/decisionLane.ts ahead of everything else.
   */
  decisionRoutes: Map<string, DecisionRoute>;
}

/** The start-up check of a surface's operations: every problem at once. */
function checkOperations(surface: ApiSurface, operations: readonly Operation[]): void {
  const problems = operations.flatMap((op) => [
    ...(!op.handler === !op.decide ? [`${op.operationId}: give exactly one of handler and decide`] : []),
    ...(op.decide && op.consistency !== 'decisions' ? [`${op.operationId}: decide is for decision operations (consistency: 'decisions')`] : []),
  ]);
  if (problems.length) throw new Error(`The operations of ${surface.prefix} are malformed:\n${problems.join('\n')}`);
}

/**
 * Mounts a surface's operations: returns the middleware that answers every request under its prefix
 * (authenticate → route → 404/405), its decision routes, and records each route with its requirement in
 * `registry`.
 */
export function mountSurface(surface: ApiSurface, operations: readonly Operation[], registry: MountedRoute[]): MountedSurface {
  checkOperations(surface, operations);
  const router = new Router({ prefix: surface.prefix });
  // One authentication per surface: the decision routes share its rate limiter and last-used bookkeeping.
  const authenticate = surface.authenticate();
  const decisionRoutes = new Map<string, DecisionRoute>();
  const markApi = (ctx: Koa.Context) => {
    ctx.state.isApi = true;
    ctx.state.apiSurface = surface;
  };
  for (const op of operations) {
    const middleware = operationMiddleware(surface, op);
    registry.push({ method: op.method, path: op.path, requires: op.requires, handler: (ctx) => middleware(ctx, NOTHING_NEXT), api: true, prefix: surface.prefix });
    router.register(op.path, [op.method], [middleware] as never);
    if (op.consistency === 'decisions' && !op.path.includes(':')) {
      const route = `${surface.prefix}${op.path}`;
      const { decisionCaller } = authenticate;
      decisionRoutes.set(`${op.method} ${route}`, {
        route,
        middleware: (ctx) => {
          markApi(ctx);
          // The route pattern, as @koa/router would record it, for the metrics' and access log's labels.
          (ctx as unknown as { _matchedRoute: string })._matchedRoute = route;
          return authenticate(ctx, () => middleware(ctx, NOTHING_NEXT));
        },
        // Answered without Koa when the caller, the body and the answer need nothing the lane cannot give.
        alone:
          decisionCaller && op.decide && op.canonicalBody && BODY_METHODS.has(op.method) && !op.query && !op.load && !op.check
            ? { caller: decisionCaller, requires: op.requires, canonicalBody: op.canonicalBody, decide: op.decide }
            : undefined,
      });
    }
  }
  const methodNotAllowed: Koa.Middleware = async (ctx, next) => {
    await next();
    if ((ctx.status === 405 || ctx.status === 501) && !ctx.body) {
      const allow = String(ctx.response.get('Allow'));
      throw new HttpError(ctx.status, 'method_not_allowed', `This address answers ${allow || 'no method'} only.`, {}, undefined, { Allow: allow });
    }
  };
  const chain = compose([authenticate, methodNotAllowed, router.routes(), router.allowedMethods()] as Koa.Middleware[]);
  const under = (path: string) => path === surface.prefix || path.startsWith(`${surface.prefix}/`);
  return {
    middleware: (ctx, next) => {
      if (!under(ctx.path)) return next();
      markApi(ctx);
      return chain(ctx);
    },
    decisionRoutes,
  };
}
