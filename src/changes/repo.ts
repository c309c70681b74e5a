/** The change log's SQL (table `change_log`, migration 0009). */
import type { Conn } from '../db/connect';
import { getSetting } from '../db/settings';

export interface ChangeRow {
  position: number;
  at: number;
  kind: string;
  entityId: number | null;
  entityKey: string | null;
}

export interface NewChange {
  kind: string;
  id?: number | null;
  key?: string | null;
}

const TRIMMED_THROUGH_KEY = 'change_log_trimmed_through';

function toRow(r: Record<string, unknown>): ChangeRow {
  return {
    position: Number(r.position),
    at: Number(r.at),
    kind: String(r.kind),
    entityId: r.entity_id === null || r.entity_id === undefined ? null : Number(r.entity_id),
    entityKey: r.entity_key === null || r.entity_key === undefined ? null : String(r.entity_key),
  };
}

const columns = (c: NewChange, at: number) => ({ at, kind: c.kind, entity_id: c.id ?? null, entity_key: c.key ?? null });

/** Appends one entry; returns its position (the auto-increment id both dialects report for a one-row insert). */
export async function append(db: Conn, change: NewChange, at: number): Promise<number> {
  const [position] = await db('change_log').insert(columns(change, at));
  return Number(position);
}

/** Appends many entries in chunks (the caller takes the position of one more, single-row, entry). */
export async function appendMany(db: Conn, changes: NewChange[], at: number): Promise<void> {
  for (let i = 0; i < changes.length; i += 500) await db('change_log').insert(changes.slice(i, i + 500).map((c) => columns(c, at)));
}

/** The highest position committed (as this connection sees it); 0 for an empty log. */
export async function head(db: Conn): Promise<number> {
  const row = (await db('change_log').max({ p: 'position' }).first()) as { p: number | string | null } | undefined;
  return Number(row?.p ?? 0);
}

/** Entries above `after`, oldest first, at most `limit`. */
export async function readAfter(db: Conn, after: number, limit: number): Promise<ChangeRow[]> {
  return (await db('change_log').where('position', '>', after).orderBy('position').limit(limit)).map(toRow);
}

/** The entries among these positions that exist (commit order may fill holes below the high-water mark). */
export async function readPositions(db: Conn, positions: number[]): Promise<ChangeRow[]> {
  const out: ChangeRow[] = [];
  for (let i = 0; i < positions.length; i += 500) out.push(...(await db('change_log').whereIn('position', positions.slice(i, i + 500)).orderBy('position')).map(toRow));
  return out;
}

/** Which positions exist in (from, to]: used at start-up to know the holes just below the head. */
export async function positionsBetween(db: Conn, from: number, to: number): Promise<number[]> {
  return (await db('change_log').where('position', '>', from).andWhere('position', '<=', to).select('position')).map((r: { position: number | string }) => Number(r.position));
}

/** The position through which entries were deleted by trimming (0: never trimmed). */
export async function trimmedThrough(db: Conn): Promise<number> {
  return Number((await getSetting(db, TRIMMED_THROUGH_KEY)) ?? 0);
}

/**
 * Deletes entries older than `before` (epoch ms), always keeping the newest `keep`, and records the highest
 * position deleted so servers that had not reached it rebuild instead of missing changes.
 */
export async function trim(db: Conn, before: number, keep: number): Promise<number> {
  const newest = await db('change_log').orderBy('position', 'desc').offset(keep).limit(1).first('position');
  if (!newest) return 0;
  const oldest = await db('change_log').where('at', '<', before).andWhere('position', '<=', Number(newest.position)).max({ p: 'position' }).first();
  const through = Number((oldest as { p: number | string | null } | undefined)?.p ?? 0);
  if (!through) return 0;
  const deleted = await db('change_log').where('position', '<=', through).delete();
  // Two servers' housekeeping may trim at once: an upsert, never a duplicate key.
  await db('settings').insert({ key: TRIMMED_THROUGH_KEY, value: String(through) }).onConflict('key').merge();
  return deleted;
}
