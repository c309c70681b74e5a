import type { Conn } from '../db/connect';

export interface ApiToken {
  id: number;
  userId: number;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

function toToken(r: Record<string, unknown>): ApiToken {
  return {
    id: Number(r.id),
    userId: Number(r.user_id),
    name: String(r.name),
    prefix: String(r.prefix),
    createdAt: Number(r.created_at),
    lastUsedAt: n(r.last_used_at),
    expiresAt: n(r.expires_at),
    revokedAt: n(r.revoked_at),
  };
}

export async function insert(db: Conn, row: { userId: number; name: string; hash: string; prefix: string; expiresAt: number | null }): Promise<number> {
  await db('api_tokens').insert({
    user_id: row.userId,
    name: row.name,
    token_hash: row.hash,
    prefix: row.prefix,
    created_at: Date.now(),
    expires_at: row.expiresAt,
  });
  return (await db('api_tokens').where({ token_hash: row.hash }).first('id')).id;
}

export async function listForUser(db: Conn, userId: number): Promise<ApiToken[]> {
  return (await db('api_tokens').where({ user_id: userId }).orderBy('created_at', 'desc')).map(toToken);
}

export async function findById(db: Conn, id: number): Promise<ApiToken | undefined> {
  const r = await db('api_tokens').where({ id }).first();
  return r ? toToken(r) : undefined;
}

export async function revoke(db: Conn, id: number, now: number): Promise<void> {
  await db('api_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: now });
}

export async function touch(db: Conn, id: number, now: number): Promise<void> {
  await db('api_tokens').where({ id }).update({ last_used_at: now });
}

/** What the decision state keeps of a token (src/access/state.ts): never the token, only its SHA-256. */
export interface TokenEntry {
  id: number;
  userId: number;
  hash: string;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** Every token not revoked, or these tokens whatever their state (a missing id was deleted). */
export async function loadEntries(db: Conn, ids?: number[]): Promise<TokenEntry[]> {
  const rows: Array<Record<string, unknown>> = [];
  if (!ids) rows.push(...(await db('api_tokens').whereNull('revoked_at').select('id', 'user_id', 'token_hash', 'expires_at', 'revoked_at')));
  else for (let i = 0; i < ids.length; i += 500) rows.push(...(await db('api_tokens').whereIn('id', ids.slice(i, i + 500)).select('id', 'user_id', 'token_hash', 'expires_at', 'revoked_at')));
  return rows.map((r) => ({ id: Number(r.id), userId: Number(r.user_id), hash: String(r.token_hash), expiresAt: n(r.expires_at), revokedAt: n(r.revoked_at) }));
}
