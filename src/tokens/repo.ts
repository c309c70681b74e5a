import { inIdChunks, type Conn } from '../db/connect';

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

/** The columns every kind of token row has (personal tokens here, machine clients' in src/clients). */
export function tokenColumns(r: Record<string, unknown>) {
  return {
    id: Number(r.id),
    name: String(r.name),
    prefix: String(r.prefix),
    createdAt: Number(r.created_at),
    lastUsedAt: n(r.last_used_at),
    expiresAt: n(r.expires_at),
    revokedAt: n(r.revoked_at),
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
  const rows = await inIdChunks(ids, async (chunk) => {
    const q = db('api_tokens').select('id', 'user_id', 'token_hash', 'expires_at', 'revoked_at');
    return chunk ? q.whereIn('id', chunk) : q.whereNull('revoked_at');
  });
  return rows.map((r: Record<string, unknown>) => ({ id: Number(r.id), userId: Number(r.user_id), hash: String(r.token_hash), expiresAt: n(r.expires_at), revokedAt: n(r.revoked_at) }));
}
