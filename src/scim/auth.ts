/**
 * Who is calling the SCIM server. The directory presents `Authorization: Bearer <token>`; the caller acts
 * as the token's owner (who-may-change-whom, role hand-out rules and seats apply as to that person), and
 * its changes are audited under the caller's name.
 *
 * `resolveCaller` is the one place that knows what a SCIM token is.
 */
import type Koa from 'koa';
import type { Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { loadCurrentUser } from '../auth/service';
import { P } from '../permissions/catalog';
import * as tokens from '../tokens/repo';
import { hashToken } from '../tokens/service';
import { ScimError } from './errors';

export interface ScimCaller {
  /** The actor of every change: the owner's id and rights, the caller's name in the audit trail. */
  actor: Actor;
  name: string;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM"' };

/**
 * A personal API token whose owner may manage users stands in for a machine client with the `scim` scope
 * until machine clients exist.
 */
async function resolveCaller(db: Conn, token: string, ip: string): Promise<ScimCaller | 'forbidden' | null> {
  const found = await tokens.findActiveByHash(db, hashToken(token), Date.now());
  if (!found) return null;
  const owner = await loadCurrentUser(db, found.userId);
  if (!owner) return null;
  if (!owner.permissions.has(P.usersManage)) return 'forbidden';
  const name = `scim:${found.name}`.slice(0, 64);
  return { actor: { id: owner.id, username: name, ip, isSuperuser: owner.isSuperuser }, name };
}

declare module 'koa' {
  interface DefaultState {
    scimCaller?: ScimCaller;
  }
}

export function scimAuthentication(): Koa.Middleware {
  return async (ctx, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    if (!match) throw new ScimError(401, 'Send the SCIM token as "Authorization: Bearer <token>".', undefined, CHALLENGE);
    const caller = await resolveCaller(ctx.services.db, match[1], ctx.ip);
    if (caller === null) throw new ScimError(401, 'The token is unknown, revoked or expired.', undefined, { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM", error="invalid_token"' });
    if (caller === 'forbidden') throw new ScimError(403, 'This token may not provision users: it needs the "scim" scope.', undefined, { 'WWW-Authenticate': 'Bearer realm="Gatehouse SCIM", error="insufficient_scope", scope="scim"' });
    ctx.state.scimCaller = caller;
    await next();
  };
}
