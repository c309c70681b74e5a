import type { Conn } from '../db/connect';

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
