import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { isMysql, likeContains, likePrefix, whereLike } from '../db/connect';

/** Knex queries over the workspace tree. Paths (`/Root/Sales/EMEA`) are computed, never stored. */


export interface Workspace {
  id: number;
  name: string;
  parentId: number | null;
  /** The suite's own id for the object this workspace stands for (unique), or null. */
  externalKey: string | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface TreeNode {
  id: number;
  name: string;
  parentId: number | null;
  childCount: number;
}

interface Row {
  id: number;
  name: string;
  parent_id: number | null;
  external_key?: string | null;
  version: number;
  created_at: number | string;
  updated_at: number | string;
}

function toWorkspace(r: Row): Workspace {
  return {
    id: Number(r.id),
    name: r.name,
    parentId: r.parent_id === null ? null : Number(r.parent_id),
    externalKey: r.external_key ?? null,
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export async function findRoot(db: Conn): Promise<Workspace> {
  const r = await db('workspaces').whereNull('parent_id').orderBy('id').first();
  if (!r) throw new Error('The root workspace is missing: run `npm run seed`.');
  return toWorkspace(r);
}

export async function findById(db: Conn, id: number): Promise<Workspace | undefined> {
  const r = await db('workspaces').where({ id }).first();
  return r ? toWorkspace(r) : undefined;
}

/** Reads a workspace and, on MySQL, locks its row until the transaction ends (SQLite serialises writers anyway). */
export async function findForUpdate(db: Conn, id: number): Promise<Workspace | undefined> {
  const q = db('workspaces').where({ id });
  if (isMysql(db)) q.forUpdate();
  const r = await q.first();
  return r ? toWorkspace(r) : undefined;
}

/** The child of `parentId` with this name (case-insensitive), if any. */
export async function findChildByName(db: Conn, parentId: number | null, name: string): Promise<Workspace | undefined> {
  const q = db('workspaces').where('name_lower', name.toLowerCase());
  if (parentId === null) q.whereNull('parent_id');
  else q.where('parent_id', parentId);
  const r = await q.first();
  return r ? toWorkspace(r) : undefined;
}

/** Workspaces with exactly this name (case-insensitive) anywhere in the tree, at most `limit`. */
export async function findByName(db: Conn, name: string, limit: number): Promise<Workspace[]> {
  return (await db('workspaces').where('name_lower', name.toLowerCase()).orderBy('id').limit(limit)).map(toWorkspace);
}

/** The workspace with this external key (exact match), if any. */
export async function findByExternalKey(db: Conn, externalKey: string): Promise<Workspace | undefined> {
  const r = await db('workspaces').where({ external_key: externalKey }).first();
  return r ? toWorkspace(r) : undefined;
}

export async function insert(db: Conn, name: string, parentId: number, now = Date.now(), externalKey: string | null = null): Promise<number> {
  await db('workspaces').insert({ name, name_lower: name.toLowerCase(), parent_id: parentId, external_key: externalKey, version: 1, created_at: now, updated_at: now });
  // Ids differ by dialect: read the row back by its unique key.
  const r = await db('workspaces').where({ parent_id: parentId, name_lower: name.toLowerCase() }).first('id');
  return Number(r.id);
}

/** Updates name and/or parent if the row still has `expectedVersion`; false when someone changed it meanwhile. */
export async function update(
  db: Conn,
  id: number,
  patch: { name?: string; parentId?: number; externalKey?: string | null },
  expectedVersion: number,
  now = Date.now(),
): Promise<boolean> {
  const row: Record<string, unknown> = { version: expectedVersion + 1, updated_at: now };
  if (patch.name !== undefined) {
    row.name = patch.name;
    row.name_lower = patch.name.toLowerCase();
  }
  if (patch.parentId !== undefined) row.parent_id = patch.parentId;
  if (patch.externalKey !== undefined) row.external_key = patch.externalKey;
  return (await db('workspaces').where({ id, version: expectedVersion }).update(row)) === 1;
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('workspaces').where({ id }).delete();
}

export async function countChildren(db: Conn, id: number): Promise<number> {
  const r = await db('workspaces').where({ parent_id: id }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

export async function countAssets(db: Conn, id: number): Promise<number> {
  const r = await db('assets').where({ workspace_id: id }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

export async function countAll(db: Conn): Promise<number> {
  const r = await db('workspaces').count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

/** Number of children of each of these workspaces (absent from the map: none). */
export async function childCounts(db: Conn, ids: number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await db('workspaces').whereIn('parent_id', ids.slice(i, i + 500)).select('parent_id').count({ n: '*' }).groupBy('parent_id');
    for (const r of rows as Array<{ parent_id: number; n: number | string }>) out.set(Number(r.parent_id), Number(r.n));
  }
  return out;
}

/** Children of one workspace, by name, one page at a time, each with its own child count. */
export async function childrenPage(db: Conn, parentId: number, limit: number, offset: number): Promise<TreeNode[]> {
  const rows = (await db('workspaces').where({ parent_id: parentId }).orderBy(['name_lower', 'id']).limit(limit).offset(offset).select('id', 'name', 'parent_id')) as Row[];
  const counts = await childCounts(db, rows.map((r) => Number(r.id)));
  return rows.map((r) => ({ id: Number(r.id), name: r.name, parentId: Number(r.parent_id), childCount: counts.get(Number(r.id)) ?? 0 }));
}

/** The first `perParent` children (by name) of each of these workspaces, in one query. */
export async function firstChildrenOf(db: Conn, parentIds: number[], perParent: number): Promise<Map<number, TreeNode[]>> {
  const out = new Map<number, TreeNode[]>();
  if (!parentIds.length) return out;
  const rows: Row[] = [];
  for (let i = 0; i < parentIds.length; i += 500) {
    const inner = db('workspaces')
      .whereIn('parent_id', parentIds.slice(i, i + 500))
      .select('id', 'name', 'parent_id', 'name_lower', db.raw('ROW_NUMBER() OVER (PARTITION BY parent_id ORDER BY name_lower, id) AS rn'));
    rows.push(...((await db.select('id', 'name', 'parent_id').from(inner.as('c')).where('rn', '<=', perParent).orderBy(['parent_id', 'rn'])) as Row[]));
  }
  const counts = await childCounts(db, rows.map((r) => Number(r.id)));
  for (const r of rows) {
    const parent = Number(r.parent_id);
    if (!out.has(parent)) out.set(parent, []);
    out.get(parent)!.push({ id: Number(r.id), name: r.name, parentId: parent, childCount: counts.get(Number(r.id)) ?? 0 });
  }
  return out;
}

/**
 * Ancestors of each workspace, from the root down to the workspace itself, in one recursive query
 * (SQLite and MariaDB both have WITH RECURSIVE). A workspace that does not exist is absent from the map.
 */
export async function chainsOf(db: Conn, ids: number[]): Promise<Map<number, Array<{ id: number; name: string }>>> {
  const out = new Map<number, Array<{ id: number; name: string }>>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const part = unique.slice(i, i + 500);
    const placeholders = part.map(() => '?').join(', ');
    const result = await db.raw(
      `WITH RECURSIVE chain (start_id, id, parent_id, name, depth) AS (
         SELECT id, id, parent_id, name, 0 FROM workspaces WHERE id IN (${placeholders})
         UNION ALL
         SELECT chain.start_id, w.id, w.parent_id, w.name, chain.depth + 1
           FROM workspaces w JOIN chain ON w.id = chain.parent_id
          WHERE chain.depth < 1000
       )
       SELECT start_id, id, name, depth FROM chain`,
      part,
    );
    const rows = (isMysql(db) ? result[0] : result) as Array<{ start_id: number; id: number; name: string; depth: number }>;
    const grouped = new Map<number, Array<{ id: number; name: string; depth: number }>>();
    for (const r of rows) {
      const s = Number(r.start_id);
      if (!grouped.has(s)) grouped.set(s, []);
      grouped.get(s)!.push({ id: Number(r.id), name: r.name, depth: Number(r.depth) });
    }
    for (const [s, list] of grouped) out.set(s, list.sort((a, b) => b.depth - a.depth).map(({ id, name }) => ({ id, name })));
  }
  return out;
}

export function pathOfChain(chain: Array<{ name: string }>): string {
  return '/' + chain.map((c) => c.name).join('/');
}

/** Paths of these workspaces, e.g. 1 → `/Root`, 7 → `/Root/Sales/EMEA`. */
export async function pathsOf(db: Conn, ids: number[]): Promise<Map<number, string>> {
  const chains = await chainsOf(db, ids);
  return new Map([...chains].map(([id, chain]) => [id, pathOfChain(chain)]));
}

export async function pathOf(db: Conn, id: number): Promise<string | undefined> {
  return (await pathsOf(db, [id])).get(id);
}

/** Workspaces whose name starts with (then contains) the text, for type-ahead; each with its path. */
export async function searchByName(db: Conn, text: string, limit: number, parentId?: number): Promise<Workspace[]> {
  const t = text.trim().toLowerCase().slice(0, 100);
  const scope = () => {
    const q = db('workspaces');
    if (parentId !== undefined) q.where('parent_id', parentId);
    return q;
  };
  const prefixQuery = scope();
  whereLike(prefixQuery, 'name_lower', likePrefix(t));
  const rows = [...((await prefixQuery.orderBy(['name_lower', 'id']).limit(limit)) as Row[])];
  if (rows.length < limit && t) {
    const containsQuery = scope();
    whereLike(containsQuery, 'name_lower', likeContains(t));
    whereLike(containsQuery, 'name_lower', likePrefix(t), { not: true });
    rows.push(...((await containsQuery.orderBy(['name_lower', 'id']).limit(limit - rows.length)) as Row[]));
  }
  return rows.map(toWorkspace);
}

/** A page of workspaces, flat, by name then id; optionally only names containing `q` or children of `parentId`. */
export async function listFlat(
  db: Conn,
  f: { q?: string; parentId?: number },
  limit: number,
  offset: number,
): Promise<{ rows: Workspace[]; total: number }> {
  const base = () => {
    const q = db('workspaces');
    if (f.q) whereLike(q, 'name_lower', likeContains(f.q.toLowerCase()));
    if (f.parentId !== undefined) q.where('parent_id', f.parentId);
    return q;
  };
  const total = Number((await base().count({ n: '*' }).first())?.n ?? 0);
  const rows = (await base().orderBy(['name_lower', 'id']).limit(limit).offset(offset)) as Row[];
  return { rows: rows.map(toWorkspace), total };
}

/** The domain permissions granted on a workspace, with their groups and domains (for the panel and the audit trail). */
export async function permissionsOn(db: Conn, workspaceId: number, limit?: number) {
  const q = db('domain_permissions as p')
    .join('groups as g', 'g.id', 'p.group_id')
    .join('domains as d', 'd.id', 'p.domain_id')
    .where('p.workspace_id', workspaceId)
    .orderBy(['g.name_lower', 'd.position', 'p.id'])
    .select('p.id', 'p.group_id as groupId', 'g.name as groupName', 'd.name as domainName', 'p.effect', 'p.priority');
  if (limit) q.limit(limit);
  return (await q) as Array<{ id: number; groupId: number; groupName: string; domainName: string; effect: string; priority: string }>;
}

export async function countPermissionsOn(db: Conn, workspaceId: number): Promise<number> {
  const r = await db('domain_permissions').where({ workspace_id: workspaceId }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

export async function removePermissionsOn(db: Conn, workspaceId: number): Promise<number> {
  return db('domain_permissions').where({ workspace_id: workspaceId }).delete();
}
