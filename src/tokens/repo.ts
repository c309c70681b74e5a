import { numberOrNull, type Conn } from '../db/connect';

/** The columns every kind of token row has (personal tokens here, machine clients' in src/clients). */
export interface TokenColumns {
  id: number;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface ApiToken extends TokenColumns {
  userId: number;
}

export function tokenColumns(r: Record<string, unknown>): TokenColumns {
  return {
    id: Number(r.id),
    name: String(r.name),
    prefix: String(r.prefix),
    createdAt: Number(r.created_at),
    lastUsedAt: numberOrNull(r.last_used_at),
    expiresAt: numberOrNull(r.expires_at),
    revokedAt: numberOrNull(r.revoked_at),
  };
}

const toToken = (r: Record<string, unknown>): ApiToken => ({ ...tokenColumns(r), userId: Number(r.user_id) });

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

export async function findActiveByHash(db: Conn, hash: string, now: number): Promise<ApiToken | undefined> {
  const r = await db('api_tokens')
    .where({ token_hash: hash })
    .whereNull('revoked_at')
    .andWhere((w) => w.whereNull('expires_at').orWhere('expires_at', '>', now))
    .first();
  return r ? toToken(r) : undefined;
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
