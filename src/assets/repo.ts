import type { Conn } from '../db/connect';
import { likeContains, whereLike } from '../db/connect';

export type AssetKind = 'folder' | 'log' | 'model' | 'dashboard';
export const ASSET_KINDS: AssetKind[] = ['folder', 'log', 'model', 'dashboard'];

export interface AssetSummary {
  id: number;
  kind: AssetKind;
  name: string;
  workspaceId: number;
  workspaceName: string;
}

export async function ownedBy(db: Conn, userId: number, limit?: number): Promise<AssetSummary[]> {
  const q = db('assets')
    .join('workspaces', 'workspaces.id', 'assets.workspace_id')
    .where('assets.owner_id', userId)
    .orderBy(['assets.kind', 'assets.name'])
    .select('assets.id', 'assets.kind', 'assets.name', 'assets.workspace_id as workspaceId', 'workspaces.name as workspaceName');
  if (limit) q.limit(limit);
  return q;
}

export async function countOwnedBy(db: Conn, userId: number): Promise<number> {
  const r = await db('assets').where({ owner_id: userId }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

export async function transferOwnership(db: Conn, fromUserId: number, toUserId: number): Promise<number> {
  return db('assets').where({ owner_id: fromUserId }).update({ owner_id: toUserId, updated_at: Date.now() });
}

/** Deletes every asset the user owns; their shares go with them (ON DELETE CASCADE). */
export async function deleteOwnedBy(db: Conn, userId: number): Promise<number> {
  return db('assets').where({ owner_id: userId }).delete();
}

export type ShareAccess = 'viewer' | 'editor' | 'owner';
export const SHARE_ACCESS: ShareAccess[] = ['viewer', 'editor', 'owner'];

export interface Asset {
  id: number;
  kind: AssetKind;
  name: string;
  workspaceId: number;
  ownerId: number;
  ownerUsername: string;
  createdAt: number;
  updatedAt: number;
}

export interface AssetFilter {
  q?: string;
  kind?: AssetKind;
  ownerId?: number;
  workspaceId?: number;
  groupId?: number;
}

function toAsset(r: Record<string, unknown>): Asset {
  return {
    id: Number(r.id),
    kind: r.kind as AssetKind,
    name: String(r.name),
    workspaceId: Number(r.workspace_id),
    ownerId: Number(r.owner_id),
    ownerUsername: String(r.owner_username),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function withOwner(db: Conn) {
  return db('assets').join('users', 'users.id', 'assets.owner_id').select('assets.*', 'users.username as owner_username');
}

function filtered(db: Conn, f: AssetFilter) {
  const q = db('assets');
  if (f.q?.trim()) whereLike(q, 'assets.name', likeContains(f.q.trim().toLowerCase()));
  if (f.kind) q.where('assets.kind', f.kind);
  if (f.ownerId) q.where('assets.owner_id', f.ownerId);
  if (f.workspaceId) q.where('assets.workspace_id', f.workspaceId);
  if (f.groupId) q.whereExists(db('asset_shares').select(db.raw('1')).whereRaw('asset_shares.asset_id = assets.id').andWhere('asset_shares.group_id', f.groupId));
  return q;
}

export async function list(db: Conn, f: AssetFilter, limit: number, offset: number): Promise<{ rows: Asset[]; total: number }> {
  const total = await filtered(db, f).count({ n: '*' }).first();
  const ids = (await filtered(db, f).select('assets.id').orderBy('assets.name').orderBy('assets.id').limit(limit).offset(offset)).map((r: { id: number }) => Number(r.id));
  const rows = ids.length ? (await withOwner(db).whereIn('assets.id', ids)).map(toAsset) : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return { rows: ids.map((id) => byId.get(id)!).filter(Boolean), total: Number(total?.n ?? 0) };
}

export async function findById(db: Conn, id: number): Promise<Asset | undefined> {
  const r = await withOwner(db).where('assets.id', id).first();
  return r ? toAsset(r) : undefined;
}

export async function insert(db: Conn, a: { kind: AssetKind; name: string; workspaceId: number; ownerId: number }): Promise<number> {
  const now = Date.now();
  const [id] = await db('assets').insert({ kind: a.kind, name: a.name, workspace_id: a.workspaceId, owner_id: a.ownerId, created_at: now, updated_at: now });
  // Single-row insert: both dialects return the new id here (multi-row inserts are where they differ).
  return Number(id);
}

export async function update(db: Conn, id: number, patch: { name?: string; workspaceId?: number; ownerId?: number }): Promise<void> {
  const row: Record<string, unknown> = { updated_at: Date.now() };
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.workspaceId !== undefined) row.workspace_id = patch.workspaceId;
  if (patch.ownerId !== undefined) row.owner_id = patch.ownerId;
  await db('assets').where({ id }).update(row);
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('assets').where({ id }).delete();
}

export interface Share {
  groupId: number;
  groupName: string;
  access: ShareAccess;
}

export async function sharesOf(db: Conn, assetId: number): Promise<Share[]> {
  return (
    await db('asset_shares').join('groups', 'groups.id', 'asset_shares.group_id').where('asset_shares.asset_id', assetId).orderBy('groups.name_lower').select('groups.id', 'groups.name', 'asset_shares.access')
  ).map((r: { id: number; name: string; access: ShareAccess }) => ({ groupId: Number(r.id), groupName: r.name, access: r.access }));
}

export async function setShare(db: Conn, assetId: number, groupId: number, access: ShareAccess): Promise<ShareAccess | null> {
  const existing = await db('asset_shares').where({ asset_id: assetId, group_id: groupId }).first('access');
  if (existing) await db('asset_shares').where({ asset_id: assetId, group_id: groupId }).update({ access });
  else await db('asset_shares').insert({ asset_id: assetId, group_id: groupId, access });
  return existing ? (existing.access as ShareAccess) : null;
}

export async function removeShare(db: Conn, assetId: number, groupId: number): Promise<number> {
  return db('asset_shares').where({ asset_id: assetId, group_id: groupId }).delete();
}
