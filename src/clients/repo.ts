import type { Conn } from '../db/connect';
import { inIdChunks, likeContains, whereLike } from '../db/connect';
import { tokenColumns } from '../tokens/repo';
import { SCOPES, type Scope } from './scopes';

export type ClientStatus = 'active' | 'disabled';

export interface MachineClient {
  id: number;
  name: string;
  description: string;
  ownerId: number;
  ownerUsername: string;
  scopes: Scope[];
  /** Requests per minute; null: no limit. */
  rateLimitPerMinute: number | null;
  status: ClientStatus;
  createdAt: number;
  updatedAt: number;
}

export interface ClientToken {
  id: number;
  clientId: number;
  name: string;
  prefix: string;
  createdAt: number;
  lastUsedAt: number | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));

/** Scopes are stored comma-separated, always in catalog order. */
export const scopesColumn = (scopes: readonly Scope[]) => SCOPES.filter((s) => scopes.includes(s)).join(',');
const parseScopes = (v: unknown): Scope[] => String(v ?? '').split(',').filter((s): s is Scope => (SCOPES as readonly string[]).includes(s));

function toClient(r: Record<string, unknown>): MachineClient {
  return {
    id: Number(r.id),
    name: String(r.name),
    description: String(r.description ?? ''),
    ownerId: Number(r.owner_id),
    ownerUsername: String(r.owner_username ?? ''),
    scopes: parseScopes(r.scopes),
    rateLimitPerMinute: n(r.rate_limit_per_minute),
    status: r.status === 'disabled' ? 'disabled' : 'active',
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

const toToken = (r: Record<string, unknown>): ClientToken => ({ ...tokenColumns(r), clientId: Number(r.client_id) });

const clients = (db: Conn) => db('machine_clients').join('users', 'users.id', 'machine_clients.owner_id').select('machine_clients.*', 'users.username as owner_username');

export async function findById(db: Conn, id: number): Promise<MachineClient | undefined> {
  const r = await clients(db).where('machine_clients.id', id).first();
  return r ? toClient(r) : undefined;
}

export async function findByName(db: Conn, name: string): Promise<MachineClient | undefined> {
  const r = await clients(db).where('machine_clients.name_lower', name.trim().toLowerCase()).first();
  return r ? toClient(r) : undefined;
}

export async function list(db: Conn, filter: { q?: string }, limit: number, offset: number): Promise<{ rows: MachineClient[]; total: number }> {
  const where = (q: ReturnType<Conn>) => {
    if (filter.q) whereLike(q, 'machine_clients.name_lower', likeContains(filter.q.toLowerCase()));
    return q;
  };
  const total = Number((await where(db('machine_clients')).count({ n: '*' }).first())?.n ?? 0);
  const rows = await where(clients(db)).orderBy('machine_clients.name_lower').limit(limit).offset(offset);
  return { rows: rows.map(toClient), total };
}

export interface ClientRow {
  name: string;
  description: string;
  ownerId: number;
  scopes: readonly Scope[];
  rateLimitPerMinute: number | null;
  status: ClientStatus;
}

export async function insert(db: Conn, row: ClientRow): Promise<number> {
  const now = Date.now();
  await db('machine_clients').insert({
    name: row.name,
    name_lower: row.name.toLowerCase(),
    description: row.description,
    owner_id: row.ownerId,
    scopes: scopesColumn(row.scopes),
    rate_limit_per_minute: row.rateLimitPerMinute,
    status: row.status,
    created_at: now,
    updated_at: now,
  });
  return (await db('machine_clients').where({ name_lower: row.name.toLowerCase() }).first('id')).id;
}

export async function update(db: Conn, id: number, row: Partial<ClientRow>): Promise<void> {
  await db('machine_clients')
    .where({ id })
    .update({
      ...(row.name !== undefined ? { name: row.name, name_lower: row.name.toLowerCase() } : {}),
      ...(row.description !== undefined ? { description: row.description } : {}),
      ...(row.ownerId !== undefined ? { owner_id: row.ownerId } : {}),
      ...(row.scopes !== undefined ? { scopes: scopesColumn(row.scopes) } : {}),
      ...(row.rateLimitPerMinute !== undefined ? { rate_limit_per_minute: row.rateLimitPerMinute } : {}),
      ...(row.status !== undefined ? { status: row.status } : {}),
      updated_at: Date.now(),
    });
}

/** Removes the client; its tokens go with it (ON DELETE CASCADE). */
export async function remove(db: Conn, id: number): Promise<void> {
  await db('machine_clients').where({ id }).delete();
}

export async function countByOwner(db: Conn, ownerId: number): Promise<number> {
  return Number((await db('machine_clients').where({ owner_id: ownerId }).count({ n: '*' }).first())?.n ?? 0);
}

// --------------------------------------------------------------------------------------------------- tokens

export async function insertToken(db: Conn, row: { clientId: number; name: string; hash: string; prefix: string; expiresAt: number | null }): Promise<number> {
  await db('client_tokens').insert({ client_id: row.clientId, name: row.name, token_hash: row.hash, prefix: row.prefix, created_at: Date.now(), expires_at: row.expiresAt });
  return (await db('client_tokens').where({ token_hash: row.hash }).first('id')).id;
}

export async function tokensOf(db: Conn, clientId: number): Promise<ClientToken[]> {
  return (await db('client_tokens').where({ client_id: clientId }).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }])).map(toToken);
}

export async function findToken(db: Conn, clientId: number, tokenId: number): Promise<ClientToken | undefined> {
  const r = await db('client_tokens').where({ id: tokenId, client_id: clientId }).first();
  return r ? toToken(r) : undefined;
}

export async function revokeToken(db: Conn, id: number, now: number): Promise<void> {
  await db('client_tokens').where({ id }).whereNull('revoked_at').update({ revoked_at: now });
}

export async function touchToken(db: Conn, id: number, now: number): Promise<void> {
  await db('client_tokens').where({ id }).update({ last_used_at: now });
}

/** A live token with its client, in one query: what authenticating a request needs. */
export interface TokenHolder {
  tokenId: number;
  client: MachineClient;
}

/** The token with this hash, unrevoked and unexpired, with its client (whatever the client's status). */
export async function findActiveTokenByHash(db: Conn, hash: string, now: number): Promise<TokenHolder | undefined> {
  const r = await clients(db)
    .join('client_tokens', 'client_tokens.client_id', 'machine_clients.id')
    .where('client_tokens.token_hash', hash)
    .whereNull('client_tokens.revoked_at')
    .andWhere((w) => w.whereNull('client_tokens.expires_at').orWhere('client_tokens.expires_at', '>', now))
    .first('client_tokens.id as token_id');
  return r ? { tokenId: Number(r.token_id), client: toClient(r) } : undefined;
}

// ------------------------------------------------------------------------------- for the decision state

/** What the decision state keeps of a client (src/access/state.ts). */
export interface ClientEntry {
  id: number;
  name: string;
  ownerId: number;
  scopes: Scope[];
  rateLimitPerMinute: number | null;
  status: ClientStatus;
}

/** What the decision state keeps of a client token: never the token, only its SHA-256. */
export interface ClientTokenEntry {
  id: number;
  clientId: number;
  hash: string;
  expiresAt: number | null;
  revokedAt: number | null;
}

/** Every client, or these (a missing id was deleted). */
export async function loadEntries(db: Conn, ids?: number[]): Promise<ClientEntry[]> {
  const rows = await inIdChunks(ids, async (chunk) => {
    const q = db('machine_clients').select('id', 'name', 'owner_id', 'scopes', 'rate_limit_per_minute', 'status');
    return chunk ? q.whereIn('id', chunk) : q;
  });
  return rows.map((r: Record<string, unknown>) => {
    const c = toClient(r);
    return { id: c.id, name: c.name, ownerId: c.ownerId, scopes: c.scopes, rateLimitPerMinute: c.rateLimitPerMinute, status: c.status };
  });
}

/** Every unrevoked client token, or these tokens whatever their state (a missing id was deleted). */
export async function loadTokenEntries(db: Conn, ids?: number[]): Promise<ClientTokenEntry[]> {
  const rows = await inIdChunks(ids, async (chunk) => {
    const q = db('client_tokens').select('id', 'client_id', 'token_hash', 'expires_at', 'revoked_at');
    return chunk ? q.whereIn('id', chunk) : q.whereNull('revoked_at');
  });
  return rows.map((r: Record<string, unknown>) => ({ id: Number(r.id), clientId: Number(r.client_id), hash: String(r.token_hash), expiresAt: n(r.expires_at), revokedAt: n(r.revoked_at) }));
}
