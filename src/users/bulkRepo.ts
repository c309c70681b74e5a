/**
 * The SQL of bulk actions (src/users/bulk.ts): statements over many users at once, in chunks of ids so
 * that a change of 100,000 users stays a few dozen statements on both dialects. Ids are validated integers
 * inlined into `IN (…)`, which keeps each statement clear of placeholder limits.
 */
import type { Conn } from '../db/connect';
import { isMysql } from '../db/connect';
import { throttledUntilColumn, type UserStatus } from './repo';
import { presenceChanged } from './presence';

export const ID_CHUNK = 1000;

export function chunks<T>(list: T[], size = ID_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function idList(ids: number[]): string {
  return ids
    .filter((n) => Number.isInteger(n) && n > 0 && n <= 2147483647)
    .map(String)
    .join(',');
}

/** What a bulk action needs to know of each target. */
export interface BulkTarget {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  roleId: number | null;
  roleName: string | null;
  roleBuiltinKey: string | null;
  licenseTypeId: number | null;
  status: UserStatus;
  lockedUntil: number | null;
}

/** The users among these ids (unknown ids are left out), in username order. */
export async function targets(db: Conn, ids: number[]): Promise<BulkTarget[]> {
  const out: BulkTarget[] = [];
  for (const part of chunks([...new Set(ids)])) {
    const list = idList(part);
    if (!list) continue;
    const rows = await db('users')
      .leftJoin('roles', 'roles.id', 'users.role_id')
      .whereRaw(`users.id IN (${list})`)
      .select(
        'users.id',
        'users.username',
        'users.username_lower',
        'users.first_name',
        'users.last_name',
        'users.role_id',
        'roles.name as role_name',
        'roles.builtin_key as role_builtin_key',
        'users.license_type_id',
        'users.status',
        'users.locked_until',
        throttledUntilColumn(db, Date.now()),
      );
    for (const r of rows) {
      out.push({
        id: Number(r.id),
        username: r.username,
        firstName: r.first_name,
        lastName: r.last_name,
        roleId: r.role_id === null ? null : Number(r.role_id),
        roleName: r.role_name ?? null,
        roleBuiltinKey: r.role_builtin_key ?? null,
        licenseTypeId: r.license_type_id === null ? null : Number(r.license_type_id),
        status: r.status,
        // Locked: by an administrator's lock or, more often, paused by the sign-in throttle.
        lockedUntil: Math.max(r.locked_until === null ? 0 : Number(r.locked_until), r.throttled_until === null ? 0 : Number(r.throttled_until)) || null,
      });
    }
  }
  return out.sort((a, b) => (a.username.toLowerCase() < b.username.toLowerCase() ? -1 : a.username.toLowerCase() > b.username.toLowerCase() ? 1 : 0));
}

/** Which of these users are members of the group. */
export async function membersAmong(db: Conn, groupId: number, ids: number[]): Promise<Set<number>> {
  const out = new Set<number>();
  for (const part of chunks(ids)) {
    const list = idList(part);
    if (!list) continue;
    for (const r of await db('group_members').where('group_id', groupId).whereRaw(`user_id IN (${list})`).select('user_id')) out.add(Number(r.user_id));
  }
  return out;
}

/** Which of these users have a live session. */
export async function signedInAmong(db: Conn, ids: number[], now: number): Promise<Set<number>> {
  const out = new Set<number>();
  for (const part of chunks(ids)) {
    const list = idList(part);
    if (!list) continue;
    for (const r of await db('sessions').distinct('user_id').whereRaw(`user_id IN (${list})`).andWhere('expires_at', '>', now)) out.add(Number(r.user_id));
  }
  return out;
}

/** Active users in the Superuser role, all of them (a handful). */
export async function activeSuperuserIds(db: Conn): Promise<Set<number>> {
  const rows = await db('users').join('roles', 'roles.id', 'users.role_id').where('roles.builtin_key', 'superuser').andWhere('users.status', 'active').select('users.id');
  return new Set(rows.map((r: { id: number }) => Number(r.id)));
}

export interface UserColumns {
  status?: UserStatus;
  roleId?: number;
  licenseTypeId?: number;
  unlock?: boolean;
}

/** Sets columns of many users and bumps each one's version (open edit forms then see the change). */
export async function updateUsers(db: Conn, ids: number[], set: UserColumns, now: number, onChunk?: (n: number) => void): Promise<number> {
  const row: Record<string, unknown> = { updated_at: now, version: db.raw('version + 1') };
  if (set.status !== undefined) row.status = set.status;
  if (set.roleId !== undefined) row.role_id = set.roleId;
  if (set.licenseTypeId !== undefined) row.license_type_id = set.licenseTypeId;
  if (set.unlock) Object.assign(row, { locked_until: null, failed_logins: 0 });
  let n = 0;
  for (const part of chunks(ids)) {
    n += await db('users').whereRaw(`id IN (${idList(part)})`).update(row);
    // Unlocking also lifts the sign-in throttle's pause (as the single-user unlock does).
    if (set.unlock) await db('sign_in_throttles').whereIn('key', part.map((id) => `account:${id}`)).delete();
    onChunk?.(part.length);
  }
  if (set.unlock) presenceChanged(db);
  return n;
}

export async function endSessions(db: Conn, ids: number[], onChunk?: (n: number) => void): Promise<number> {
  let n = 0;
  for (const part of chunks(ids)) {
    n += await db('sessions').whereRaw(`user_id IN (${idList(part)})`).delete();
    onChunk?.(part.length);
  }
  presenceChanged(db);
  return n;
}

export async function addMemberships(db: Conn, groupId: number, ids: number[], now: number, onChunk?: (n: number) => void): Promise<void> {
  const verb = isMysql(db) ? 'INSERT IGNORE INTO' : 'INSERT OR IGNORE INTO';
  const g = idList([groupId]);
  for (const part of chunks(ids)) {
    const values = idList(part)
      .split(',')
      .map((u) => `(${g},${u},${Math.trunc(now)})`)
      .join(',');
    await db.raw(`${verb} group_members (group_id, user_id, added_at) VALUES ${values}`);
    onChunk?.(part.length);
  }
}

export async function removeMemberships(db: Conn, groupId: number, ids: number[], onChunk?: (n: number) => void): Promise<number> {
  let n = 0;
  for (const part of chunks(ids)) {
    n += await db('group_members').where('group_id', groupId).whereRaw(`user_id IN (${idList(part)})`).delete();
    onChunk?.(part.length);
  }
  return n;
}

export async function assetsOwnedBy(db: Conn, ids: number[]): Promise<number> {
  let n = 0;
  for (const part of chunks(ids)) {
    const r = await db('assets').whereRaw(`owner_id IN (${idList(part)})`).count({ n: '*' }).first();
    n += Number(r?.n ?? 0);
  }
  return n;
}

/**
 * Removes users: their assets go to `receiverId` or are deleted (shares with them), then the accounts
 * (memberships, sessions and tokens go with them: ON DELETE CASCADE).
 */
export async function removeUsers(db: Conn, ids: number[], assets: { receiverId: number } | 'delete', now: number, onChunk?: (n: number) => void): Promise<{ users: number; assets: number }> {
  let users = 0;
  let moved = 0;
  for (const part of chunks(ids)) {
    const list = idList(part);
    moved +=
      assets === 'delete'
        ? await db('assets').whereRaw(`owner_id IN (${list})`).delete()
        : await db('assets').whereRaw(`owner_id IN (${list})`).update({ owner_id: assets.receiverId, updated_at: now });
    await db('sessions').whereRaw(`user_id IN (${list})`).delete();
    users += await db('users').whereRaw(`id IN (${list})`).delete();
    onChunk?.(part.length);
  }
  return { users, assets: moved };
}

export async function domainPermissionCount(db: Conn, groupId: number): Promise<number> {
  const r = await db('domain_permissions').where('group_id', groupId).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------- jobs

export interface BulkJobRow {
  id: string;
  actorId: number | null;
  action: string;
  total: number;
  state: 'running' | 'done' | 'failed';
  result: unknown;
  createdAt: number;
  finishedAt: number | null;
}

export async function insertJob(db: Conn, job: { id: string; actorId: number | null; action: string; total: number; now: number }): Promise<void> {
  await db('bulk_jobs').insert({ id: job.id, actor_id: job.actorId, action: job.action, total: job.total, state: 'running', created_at: job.now });
}

export async function finishJob(db: Conn, id: string, state: 'done' | 'failed', result: unknown, now: number): Promise<void> {
  await db('bulk_jobs').where({ id }).update({ state, result_json: JSON.stringify(result), finished_at: now });
}

export async function findJob(db: Conn, id: string): Promise<BulkJobRow | undefined> {
  const r = await db('bulk_jobs').where({ id }).first();
  if (!r) return undefined;
  return {
    id: r.id,
    actorId: r.actor_id === null ? null : Number(r.actor_id),
    action: r.action,
    total: Number(r.total),
    state: r.state,
    result: r.result_json ? JSON.parse(r.result_json) : null,
    createdAt: Number(r.created_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
  };
}

/** Forgets jobs older than `before` (their changes are in the audit log). */
export async function removeJobsBefore(db: Conn, before: number): Promise<void> {
  await db('bulk_jobs').where('created_at', '<', before).delete();
}
