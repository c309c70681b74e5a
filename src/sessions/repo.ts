import type { Conn } from '../db/connect';
import { presenceChanged } from '../users/presence';

export interface SessionRow {
  id: string;
  user_id: number | null;
  data: string;
  ip: string;
  user_agent: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  /** Bumped by every save (migration 0015). */
  version: number;
}

export async function findLive(db: Conn, id: string, now: number): Promise<SessionRow | undefined> {
  return db('sessions').where({ id }).andWhere('expires_at', '>', now).first();
}

// Writes that start or end a signed-in session tell the users list's presence (src/users/presence.ts);
// a save of a live session only moves its idle end forward, and the presence's next read sees that.
export async function insert(db: Conn, row: SessionRow): Promise<void> {
  await db('sessions').insert(row);
  if (row.user_id !== null) presenceChanged(db);
}

type Saved = Pick<SessionRow, 'id' | 'user_id' | 'data' | 'ip' | 'user_agent' | 'last_seen_at' | 'expires_at'>;
const savedColumns = (row: Saved) => ({ user_id: row.user_id, data: row.data, ip: row.ip, user_agent: row.user_agent, last_seen_at: row.last_seen_at, expires_at: row.expires_at });

/** Saves over exactly version `version`, making it `version + 1`; false when the row is gone or was saved since. */
export async function updateVersion(db: Conn, row: Saved, version: number): Promise<boolean> {
  return (await db('sessions').where({ id: row.id, version }).update({ ...savedColumns(row), version: version + 1 })) > 0;
}

/** Saves over whatever version is stored (never re-creates an ended session); false when the row is gone. */
export async function updateAnyVersion(db: Conn, row: Saved): Promise<boolean> {
  return (await db('sessions').where({ id: row.id }).update({ ...savedColumns(row), version: db.raw('version + 1') })) > 0;
}

/** The user a session belongs to (null: a sign-in under way; undefined: no such session). */
export async function ownerOf(db: Conn, id: string): Promise<number | null | undefined> {
  const row = await db('sessions').where({ id }).first('user_id');
  return row ? (row.user_id === null ? null : Number(row.user_id)) : undefined;
}

export async function remove(db: Conn, id: string): Promise<void> {
  await db('sessions').where({ id }).delete();
  presenceChanged(db);
}

export async function removeForUser(db: Conn, userId: number): Promise<number> {
  const n = await db('sessions').where({ user_id: userId }).delete();
  presenceChanged(db);
  return n;
}

export async function removeExpired(db: Conn, now: number): Promise<number> {
  return db('sessions').where('expires_at', '<=', now).delete();
}

export async function listLiveForUser(db: Conn, userId: number, now: number): Promise<SessionRow[]> {
  return db('sessions').where({ user_id: userId }).andWhere('expires_at', '>', now).orderBy('last_seen_at', 'desc');
}

/** Which of these users have a live session ("logged in now"). */
export async function onlineUserIds(db: Conn, userIds: number[], now: number): Promise<Set<number>> {
  if (!userIds.length) return new Set();
  const rows = await db('sessions').distinct('user_id').whereIn('user_id', userIds).andWhere('expires_at', '>', now);
  return new Set(rows.map((r: { user_id: number }) => r.user_id));
}

/** Removes every session of a user but `keepId` (the browser asking); returns how many went. */
export async function removeOthersOfUser(db: Conn, userId: number, keepId: string | undefined): Promise<number> {
  const q = db('sessions').where({ user_id: userId });
  if (keepId) q.whereNot({ id: keepId });
  const n = await q.delete();
  presenceChanged(db);
  return n;
}

/** Removes one session of a user; returns how many rows went (0 when it had ended already). */
export async function removeOfUser(db: Conn, userId: number, id: string): Promise<number> {
  const n = await db('sessions').where({ user_id: userId, id }).delete();
  presenceChanged(db);
  return n;
}
