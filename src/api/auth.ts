import type Koa from 'koa';
import { awaitPosition, decisionState } from '../changes/follower';
import type { DecisionState } from '../access/state';
import type { Config } from '../config';
import { headPosition } from '../changes/service';
import { CONSISTENCY_HEADER } from './operation';
import type { Db } from '../db/connect';
import { HttpError } from '../http/errors';
import type { ClientCaller, CurrentUser } from '../http/types';
import { P } from '../permissions/catalog';
import * as tokens from '../tokens/repo';
import { hashToken } from '../tokens/service';
import * as clients from '../clients/repo';
import { CLIENT_TOKEN_PREFIX } from '../clients/service';
import { requiredScope, type Scope } from '../clients/scopes';
import { RateLimiter } from './rateLimit';
import { RATE_COUNTED, type HandedOver } from '../http/handOver';
import type { ApiSurface } from './operation';

/** How every bearer-token surface (/api/v1, /access/v1) authenticates, as the OpenAPI document and 401s say it. */
export const BEARER_TOKEN_AUTH: Pick<ApiSurface, 'authenticate' | 'security' | 'challenge'> = {
  authenticate: apiAuthentication,
  security: {
    name: 'bearerAuth',
    scheme: {
      type: 'http',
      scheme: 'bearer',
      description:
        'A personal API token (My account → API tokens, or `npm run token -- --username <username> --name <what uses it>`), acting as its owner; or a machine client\'s token (`ghc_…`, Settings → Machine clients), acting as the client\'s owner within the client\'s scopes.',
    },
  },
  challenge: 'Bearer realm="Gatehouse API"',
};

/** Writes of last-used time are spaced out so a busy token does not write on every call. */
const TOUCH_INTERVAL_MS = 60_000;

/** RFC 6750: a token that was sent and refused. */
const INVALID_TOKEN = { 'WWW-Authenticate': 'Bearer realm="Gatehouse API", error="invalid_token"' };


/** Who a bearer token stands for: a person (personal token), or a machine client acting as its owner. */
export type BearerIdentity = { kind: 'personal'; tokenId: number; user: CurrentUser } | { kind: 'client'; tokenId: number; user: CurrentUser; client: ClientCaller };

/**
 * The one lookup of a bearer token, personal or client (client tokens start with `ghc_`): the identity it
 * stands for, or a 401 when the token is unknown, revoked or expired, its client disabled, or the account
 * behind it unable to sign in. Answered from this server's decision state. A token the state does not know
 * may have been issued a moment ago through another server or the `token` command: before refusing it, the
 * state catches up with the change log's head (one query, a wait of at most a poll interval), so a new token
 * works at once everywhere while known tokens cost no query.
 */
export async function identifyBearer(db: Db, raw: string, now = Date.now()): Promise<BearerIdentity> {
  try {
    return await identifyFromState(db, raw, now);
  } catch (err) {
    if (!(err instanceof HttpError) || err.code !== 'invalid_token') throw err;
    if (!(await awaitPosition(db, await headPosition(db)))) throw err;
    return identifyFromState(db, raw, now);
  }
}

async function identifyFromState(db: Db, raw: string, now: number): Promise<BearerIdentity> {
  return identifyIn(await decisionState(db), raw, now);
}

/** The identity a bearer token stands for in this state, or the 401 that refuses it. */
function identifyIn(state: DecisionState, raw: string, now: number): BearerIdentity {
  const hash = hashToken(raw);
  if (raw.startsWith(CLIENT_TOKEN_PREFIX)) {
    const holder = state.activeClientToken(hash, now);
    if (!holder) throw new HttpError(401, 'invalid_token', 'The API token is unknown, revoked or expired.', {}, undefined, INVALID_TOKEN);
    const { client } = holder;
    if (client.status !== 'active') throw new HttpError(401, 'client_disabled', `The client ${client.name} is disabled.`, {}, undefined, INVALID_TOKEN);
    const user = state.currentUser(client.ownerId, now);
    if (!user) throw new HttpError(401, 'account_disabled', `The owner of the client ${client.name} cannot sign in (deactivated, locked, or without role or license).`, {}, undefined, INVALID_TOKEN);
    return { kind: 'client', tokenId: holder.tokenId, user, client: { id: client.id, name: client.name, scopes: client.scopes, rateLimitPerMinute: client.rateLimitPerMinute } };
  }
  const token = state.activeToken(hash, now);
  // A token whose owner was deleted went with it (ON DELETE CASCADE).
  if (!token || !state.account(token.userId)) throw new HttpError(401, 'invalid_token', 'The API token is unknown, revoked or expired.', {}, undefined, INVALID_TOKEN);
  const user = state.currentUser(token.userId, now);
  if (!user) throw new HttpError(401, 'account_disabled', 'The account behind this token cannot sign in (deactivated, locked, or without role or license).', {}, undefined, INVALID_TOKEN);
  return { kind: 'personal', tokenId: token.id, user };
}

/**
 * Waits until this server's decision state reaches a consistency token (by default the request's
 * `Gatehouse-Consistency-Token` header), if well-formed (the operation's own validation answers a malformed one); 503 with Retry-After when
 * it does not within CONSISTENCY_WAIT_MS.
 */
export async function awaitConsistency(ctx: Koa.Context, token = ctx.get(CONSISTENCY_HEADER)): Promise<void> {
  return awaitConsistencyIn(ctx.services.db, token);
}

/** `awaitConsistency` for a handle and a token. */
export async function awaitConsistencyIn(db: Db, token: string): Promise<void> {
  if (!/^[0-9]{1,15}$/.test(token)) return;
  if (!(await awaitPosition(db, Number(token)))) {
    throw new HttpError(503, 'not_yet_consistent', `This server has not yet applied the change at position ${token}. Retry in a moment.`, {}, undefined, { 'Retry-After': '1' });
  }
}

/** The 403 of a client calling outside its scopes (RFC 6750 §3.1), naming the scope it lacks. */
export function insufficientScope(client: ClientCaller, scope: Scope): HttpError {
  return new HttpError(403, 'insufficient_scope', `The client ${client.name} lacks the "${scope}" scope this request needs.`, {}, { scope }, {
    'WWW-Authenticate': `Bearer realm="Gatehouse API", error="insufficient_scope", scope="${scope}"`,
  });
}

/**
 * For surfaces whose paths need one scope of a client (SCIM: `requireClientScope('scim')`): a client
 * without it is refused; people (personal tokens) pass, judged by their permissions as usual.
 */
export function requireClientScope(scope: Scope): Koa.Middleware {
  return async (ctx, next) => {
    const client = ctx.state.client;
    if (client && !client.scopes.includes(scope)) throw insufficientScope(client, scope);
    await next();
  };
}

/**
 * What the decision lane (src/http/decisionLane.ts) learns of a request's caller without waiting: the
 * identity, with the request already counted against the caller's rate limit (`rateWait` 0: allowed, else
 * the milliseconds to wait) — or undefined, leaving the request to the middleware: no or an unknown token, a
 * refusal to explain, a last-used time to write.
 */
export type DecisionCaller = (
  config: Config,
  state: DecisionState,
  authorization: string | undefined,
  method: string,
  path: string,
  now: number,
) => { user: CurrentUser; client?: ClientCaller; tokenId: number; rateWait: number } | undefined;

/** A surface's authentication middleware; bearer-token surfaces also judge callers for the decision lane. */
export type SurfaceAuthentication = Koa.Middleware & { decisionCaller?: DecisionCaller };

const BEARER = /^Bearer\s+(\S+)$/i;

/**
 * Authenticates API requests by bearer token (Authorization: Bearer …). A personal token acts as its owner
 * with the owner's current permissions; a client token acts as the client's owner, with the owner's
 * permissions, only on the calls its scopes allow (src/clients/scopes.ts). The API as a whole needs
 * `api.access`. Personal tokens share the configured rate limit; a client has its own (none unless set).
 */
export function apiAuthentication(): SurfaceAuthentication {
  let limiter: RateLimiter | undefined;
  const touched = new Map<string, number>();
  /** Where a caller may be refused before the request is counted: scope, then the API itself. */
  const refusal = (who: BearerIdentity, method: string, path: string): HttpError | undefined => {
    if (who.kind === 'client') {
      const scope = requiredScope(method, path);
      if (!who.client.scopes.includes(scope)) return insufficientScope(who.client, scope);
    }
    if (!who.user.permissions.has(P.apiAccess)) {
      return new HttpError(403, 'forbidden', who.kind === 'client' ? `The owner of this client, ${who.user.username}, lacks "Access API".` : 'Your role does not include "Access API".');
    }
    return undefined;
  };
  /** Counts one request against the caller's limit: 0 when allowed, else the milliseconds to wait. */
  const take = (config: Config, who: BearerIdentity, now: number): number => {
    limiter ??= new RateLimiter(config.apiRateLimitPerMinute, 60_000);
    const limit = who.kind === 'client' ? who.client.rateLimitPerMinute : config.apiRateLimitPerMinute;
    return limit === null ? 0 : limiter.take(who.kind === 'client' ? `client:${who.client.id}` : `token:${who.tokenId}`, now, limit);
  };
  const touchDue = (who: BearerIdentity, now: number) => now - (touched.get(`${who.kind}:${who.tokenId}`) ?? 0) > TOUCH_INTERVAL_MS;

  const middleware: SurfaceAuthentication = async (ctx, next) => {
    const { db, config } = ctx.services;
    const match = BEARER.exec(ctx.get('authorization'));
    if (match) {
      // With a consistency token the caller is judged by state at least that fresh too: a token revoked or
      // an owner deactivated through another server is refused here, not only in the decision.
      if (ctx.get(CONSISTENCY_HEADER)) await awaitConsistency(ctx);
      const now = Date.now();
      const who = await identifyBearer(db, match[1], now);
      const refused = refusal(who, ctx.method, ctx.path);
      if (refused) throw refused;
      const counted = (ctx.req as HandedOver)[RATE_COUNTED];
      const wait = counted ?? take(config, who, now);
      if (wait > 0) {
        ctx.set('Retry-After', String(Math.ceil(wait / 1000)));
        throw new HttpError(429, 'rate_limited', `Too many requests for this ${who.kind === 'client' ? 'client' : 'token'}. Retry after ${Math.ceil(wait / 1000)} s.`);
      }
      ctx.state.user = who.user;
      ctx.state.apiTokenId = who.tokenId;
      if (who.kind === 'client') ctx.state.client = who.client;
      if (touchDue(who, now)) {
        touched.set(`${who.kind}:${who.tokenId}`, now);
        await (who.kind === 'client' ? clients.touchToken(db, who.tokenId, now) : tokens.touch(db, who.tokenId, now));
      }
    }
    await next();
  };
  middleware.decisionCaller = (config, state, authorization, method, path, now) => {
    const match = BEARER.exec(authorization ?? '');
    if (!match) return undefined;
    let who: BearerIdentity;
    try {
      who = identifyIn(state, match[1], now);
    } catch {
      return undefined;
    }
    if (refusal(who, method, path) || touchDue(who, now)) return undefined;
    return { user: who.user, client: who.kind === 'client' ? who.client : undefined, tokenId: who.tokenId, rateWait: take(config, who, now) };
  };
  return middleware;
}
