/**
 * Who is calling the SCIM server. The directory presents `Authorization: Bearer <token>`; the caller acts
 * as the token's owner (who-may-change-whom, role hand-out rules and seats apply as to that person), and
 * its changes are audited under the caller's name.
 *
 * `resolveCaller` is the one place that knows what a SCIM token is: the bearer lookup of the API
 * (src/api/auth.ts), narrowed to machine clients with the `scim` scope.
 */
import type Koa from 'koa';
import type { Actor } from '../http/types';
import { HttpError } from '../http/errors';
import { P } from '../permissions/catalog';
import { identifyBearer } from '../api/auth';
import { RateLimiter } from '../api/rateLimit';
import { ScimError } from './errors';

export interface ScimCaller {
  /** The actor of every change: the owner's id and rights, the caller's name in the audit trail. */
  actor: Actor;
  name: string;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM"' };

/**
 * The token must be a machine client's with the `scim` scope (src/clients); its owner must be allowed to
 * manage users, as the console asks of a person creating accounts.
 */
async function resolveCaller(ctx: Koa.Context, token: string, limiter: RateLimiter): Promise<ScimCaller> {
  let who;
  try {
    who = await identifyBearer(ctx.services.db, token);
  } catch (e) {
    if (e instanceof HttpError) throw new ScimError(401, e.message, undefined, INVALID_TOKEN);
    throw e;
  }
  if (who.kind !== 'client') throw new ScimError(403, 'SCIM takes the token of a machine client with the "scim" scope, not a personal token.', undefined, INSUFFICIENT_SCOPE);
  if (!who.client.scopes.includes('scim')) throw new ScimError(403, `The client ${who.client.name} lacks the "scim" scope.`, undefined, INSUFFICIENT_SCOPE);
  if (!who.user.permissions.has(P.usersManage)) throw new ScimError(403, `The owner of the client ${who.client.name}, ${who.user.username}, may not manage users.`);
  const limit = who.client.rateLimitPerMinute;
  const wait = limit === null ? 0 : limiter.take(`client:${who.client.id}`, Date.now(), limit);
  if (wait > 0) throw new ScimError(429, `Too many requests for the client ${who.client.name}. Retry after ${Math.ceil(wait / 1000)} s.`, undefined, { 'Retry-After': String(Math.ceil(wait / 1000)) });
  const name = `client:${who.client.name}`;
  return { actor: { id: who.user.id, username: name, ip: ctx.ip, isSuperuser: who.user.isSuperuser }, name };
}

const INVALID_TOKEN = { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM", error="invalid_token"' };
const INSUFFICIENT_SCOPE = { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM", error="insufficient_scope", scope="scim"' };

declare module 'koa' {
  interface DefaultState {
    scimCaller?: ScimCaller;
  }
}

export function scimAuthentication(): Koa.Middleware {
  /** Each client's own limit (none unless its Superuser set one), counted per minute. */
  const limiter = new RateLimiter(Number.MAX_SAFE_INTEGER, 60_000);
  return async (ctx, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    if (!match) throw new ScimError(401, 'Send the SCIM token as "Authorization: Bearer <token>".', undefined, CHALLENGE);
    ctx.state.scimCaller = await resolveCaller(ctx, match[1], limiter);
    await next();
  };
}
