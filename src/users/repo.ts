import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { wherePrefix } from '../db/connect';

export type UserStatus = 'active' | 'deactivated';

export interface User {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  passwordHash: string | null;
  roleId: number | null;
  roleName: string | null;
  roleBuiltinKey: string | null;
  licenseTypeId: number | null;
  licenseName: string | null;
  licenseKey: string | null;
  status: UserStatus;
  lockedUntil: number | null;
  failedLogins: number;
  source: 'local' | 'sso';
  ssoSubject: string | null;
  version: number;
  createdAt: number;
  updatedAt: number;
  lastLoginAt: number | null;
  lastActivityAt: number | null;
}

interface UserRow {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string;
  password_hash: string | null;
  role_id: number | null;
  role_name: string | null;
  role_builtin_key: string | null;
  license_type_id: number | null;
  license_name: string | null;
  license_key: string | null;
  status: UserStatus;
  locked_until: number | string | null;
  failed_logins: number;
  source: 'local' | 'sso';
  sso_subject: string | null;
  version: number;
  created_at: number | string;
  updated_at: number | string;
  last_login_at: number | string | null;
  last_activity_at: number | string | null;
}

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

export function toUser(r: UserRow): User {
  return {
    id: r.id,
    username: r.username,
    firstName: r.first_name,
    lastName: r.last_name,
    email: r.email,
    passwordHash: r.password_hash,
    roleId: r.role_id,
    roleName: r.role_name,
    roleBuiltinKey: r.role_builtin_key,
    licenseTypeId: r.license_type_id,
    licenseName: r.license_name,
    licenseKey: r.license_key,
    status: r.status,
    lockedUntil: num(r.locked_until),
    failedLogins: Number(r.failed_logins),
    source: r.source,
    ssoSubject: r.sso_subject,
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastLoginAt: num(r.last_login_at),
    lastActivityAt: num(r.last_activity_at),
  };
}

function withRoleAndLicense(db: Conn) {
  return db('users')
    .leftJoin('roles', 'roles.id', 'users.role_id')
    .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
    .select(
      'users.*',
      'roles.name as role_name',
      'roles.builtin_key as role_builtin_key',
      'license_types.name as license_name',
      'license_types.key as license_key',
    );
}

export async function findById(db: Conn, id: number): Promise<User | undefined> {
  const r = await withRoleAndLicense(db).where('users.id', id).first();
  return r ? toUser(r) : undefined;
}

export async function findByUsername(db: Conn, username: string): Promise<User | undefined> {
  const r = await withRoleAndLicense(db).where('users.username_lower', username.toLowerCase()).first();
  return r ? toUser(r) : undefined;
}

export async function findByEmail(db: Conn, email: string): Promise<User | undefined> {
  const r = await withRoleAndLicense(db).where('users.email_lower', email.toLowerCase()).first();
  return r ? toUser(r) : undefined;
}

export async function findBySsoSubject(db: Conn, subject: string): Promise<User | undefined> {
  const r = await withRoleAndLicense(db).where('users.sso_subject', subject).first();
  return r ? toUser(r) : undefined;
}

export async function usernameTaken(db: Conn, username: string): Promise<boolean> {
  return !!(await db('users').where('username_lower', username.toLowerCase()).first('id'));
}

export async function emailTaken(db: Conn, email: string, exceptId?: number): Promise<boolean> {
  const q = db('users').where('email_lower', email.toLowerCase());
  if (exceptId) q.whereNot('id', exceptId);
  return !!(await q.first('id'));
}

export interface NewUserRow {
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  passwordHash: string | null;
  roleId: number;
  licenseTypeId: number;
  status?: UserStatus;
  source?: 'local' | 'sso';
  ssoSubject?: string | null;
}

export function userRow(u: NewUserRow, now: number) {
  return {
    username: u.username,
    username_lower: u.username.toLowerCase(),
    first_name: u.firstName,
    last_name: u.lastName,
    first_name_lower: u.firstName.toLowerCase(),
    last_name_lower: u.lastName.toLowerCase(),
    email: u.email,
    email_lower: u.email.toLowerCase(),
    password_hash: u.passwordHash,
    role_id: u.roleId,
    license_type_id: u.licenseTypeId,
    status: u.status ?? 'active',
    source: u.source ?? 'local',
    sso_subject: u.ssoSubject ?? null,
    failed_logins: 0,
    version: 1,
    created_at: now,
    updated_at: now,
  };
}

/** Inserts a user and returns its id, read back by the unique username (ids differ by dialect). */
export async function insert(db: Conn, u: NewUserRow, now = Date.now()): Promise<number> {
  await db('users').insert(userRow(u, now));
  const row = await db('users').where('username_lower', u.username.toLowerCase()).first('id');
  return row.id;
}

export interface UserPatch {
  firstName?: string;
  lastName?: string;
  email?: string;
  passwordHash?: string;
  roleId?: number;
  licenseTypeId?: number;
  status?: UserStatus;
  lockedUntil?: number | null;
  failedLogins?: number;
  ssoSubject?: string | null;
  source?: 'local' | 'sso';
}

function patchRow(p: UserPatch): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  if (p.firstName !== undefined) Object.assign(row, { first_name: p.firstName, first_name_lower: p.firstName.toLowerCase() });
  if (p.lastName !== undefined) Object.assign(row, { last_name: p.lastName, last_name_lower: p.lastName.toLowerCase() });
  if (p.email !== undefined) Object.assign(row, { email: p.email, email_lower: p.email.toLowerCase() });
  if (p.passwordHash !== undefined) row.password_hash = p.passwordHash;
  if (p.roleId !== undefined) row.role_id = p.roleId;
  if (p.licenseTypeId !== undefined) row.license_type_id = p.licenseTypeId;
  if (p.status !== undefined) row.status = p.status;
  if (p.lockedUntil !== undefined) row.locked_until = p.lockedUntil;
  if (p.failedLogins !== undefined) row.failed_logins = p.failedLogins;
  if (p.ssoSubject !== undefined) row.sso_subject = p.ssoSubject;
  if (p.source !== undefined) row.source = p.source;
  return row;
}

/**
 * Updates a user and bumps its version. With `expectedVersion`, the update only applies when nobody
 * changed the user meanwhile; returns false otherwise.
 */
export async function update(db: Conn, id: number, patch: UserPatch, expectedVersion?: number): Promise<boolean> {
  const q = db('users').where({ id });
  if (expectedVersion !== undefined) q.andWhere({ version: expectedVersion });
  const n = await q.update({ ...patchRow(patch), updated_at: Date.now(), version: db.raw('version + 1') });
  return n === 1;
}

/** Sign-in bookkeeping; does not bump the version (it is not an edit). */
export async function recordLogin(db: Conn, id: number, now: number): Promise<void> {
  await db('users').where({ id }).update({ last_login_at: now, last_activity_at: now, failed_logins: 0, locked_until: null });
}

export async function recordFailedLogin(db: Conn, id: number, failedLogins: number, lockedUntil: number | null): Promise<void> {
  await db('users').where({ id }).update({ failed_logins: failedLogins, locked_until: lockedUntil });
}

export async function recordActivity(db: Conn, id: number, now: number): Promise<void> {
  await db('users').where({ id }).update({ last_activity_at: now });
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('users').where({ id }).delete();
}

/** Active, role = Superuser, not counting `exceptId`. */
export async function countActiveSuperusers(db: Conn, exceptId?: number): Promise<number> {
  const q = db('users')
    .join('roles', 'roles.id', 'users.role_id')
    .where('roles.builtin_key', 'superuser')
    .andWhere('users.status', 'active');
  if (exceptId) q.whereNot('users.id', exceptId);
  const r = await q.count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------------------
// The user list

export const USER_SORTS = {
  username: ['users.username_lower'],
  name: ['users.last_name_lower', 'users.first_name_lower'],
  email: ['users.email_lower'],
  created: ['users.created_at'],
  last_login: ['users.last_login_at'],
} as const;
export type UserSort = keyof typeof USER_SORTS;
export const UNIQUE_SORTS: ReadonlySet<UserSort> = new Set<UserSort>(['username', 'email']);

export interface UserListFilter {
  q?: string;
  roleId?: number;
  groupId?: number;
  licenseTypeId?: number;
  status?: 'active' | 'deactivated' | 'locked';
  online?: boolean;
  source?: 'local' | 'sso';
}

/**
 * Type-ahead search: every word must be the start of the username, first name, last name or email.
 * Prefix matches on the lower-cased indexed columns keep this an index range scan at 100,000 users on
 * both databases (see wherePrefix).
 */
export function applySearch(q: Knex.QueryBuilder, text: string | undefined): void {
  const words = (text ?? '').toLowerCase().trim().split(/\s+/).filter(Boolean).slice(0, 5);
  for (const w of words) {
    const word = w.slice(0, 100);
    q.where((b) => {
      wherePrefix(b, 'users.username_lower', word);
      for (const column of ['users.first_name_lower', 'users.last_name_lower', 'users.email_lower']) wherePrefix(b, column, word, { or: true });
    });
  }
}

function filteredUsers(db: Conn, f: UserListFilter, now: number) {
  const q = db('users');
  applySearch(q, f.q);
  if (f.roleId) q.where('users.role_id', f.roleId);
  if (f.licenseTypeId) q.where('users.license_type_id', f.licenseTypeId);
  if (f.source) q.where('users.source', f.source);
  if (f.status === 'active') q.where('users.status', 'active').andWhere((b) => b.whereNull('users.locked_until').orWhere('users.locked_until', '<=', now));
  if (f.status === 'deactivated') q.where('users.status', 'deactivated');
  if (f.status === 'locked') q.where('users.locked_until', '>', now);
  if (f.groupId) {
    q.whereExists(db('group_members').select(db.raw('1')).whereRaw('group_members.user_id = users.id').andWhere('group_members.group_id', f.groupId));
  }
  if (f.online) {
    q.whereExists(db('sessions').select(db.raw('1')).whereRaw('sessions.user_id = users.id').andWhere('sessions.expires_at', '>', now));
  }
  return q;
}

export interface UserListRow {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  roleName: string | null;
  licenseName: string | null;
  status: UserStatus;
  locked: boolean;
  source: 'local' | 'sso';
  lastLoginAt: number | null;
  createdAt: number;
}

export async function list(
  db: Conn,
  f: UserListFilter,
  sort: UserSort,
  dir: 'asc' | 'desc',
  limit: number,
  offset: number,
  now = Date.now(),
  /** Keyset pagination on a unique sort key (username or email): the last key of the previous page. */
  after?: string,
): Promise<{ rows: UserListRow[]; total: number }> {
  const totalRow = await filteredUsers(db, f, now).count({ n: '*' }).first();
  // Deferred join: page through ids on the sort index alone, then read the 50 full rows. Deep pages stay
  // cheap because the offset walks a covering index instead of whole rows.
  const idQuery = filteredUsers(db, f, now).select('users.id').limit(limit).offset(offset);
  if (after !== undefined) {
    if (!UNIQUE_SORTS.has(sort)) throw new Error(`Keyset pagination needs a unique sort key, not ${sort}`);
    idQuery.where(USER_SORTS[sort][0], dir === 'asc' ? '>' : '<', after);
  }
  for (const col of USER_SORTS[sort]) idQuery.orderBy(col, dir);
  // The id tie-break makes the order total. On a unique sort key without a search it is left out: there the
  // planner walks the sort index and stops after one page, where the extra column would sort the whole
  // table. With a search, the matches come from the prefix indexes and sorting those few is the fast plan.
  if (!UNIQUE_SORTS.has(sort) || f.q?.trim()) idQuery.orderBy('users.id', dir);
  const ids: number[] = (await idQuery).map((r: { id: number }) => Number(r.id));
  const found = ids.length
    ? await db('users')
        .leftJoin('roles', 'roles.id', 'users.role_id')
        .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
        .whereIn('users.id', ids)
        .select(
          'users.id',
          'users.username',
          'users.first_name',
          'users.last_name',
          'users.email',
          'users.status',
          'users.locked_until',
          'users.source',
          'users.last_login_at',
          'users.created_at',
          'roles.name as role_name',
          'license_types.name as license_name',
        )
    : [];
  const byId = new Map(found.map((r: Record<string, unknown>) => [Number(r.id), r]));
  const rows = ids.map((id) => byId.get(id)!).filter(Boolean).map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    username: String(r.username),
    firstName: String(r.first_name),
    lastName: String(r.last_name),
    email: String(r.email),
    roleName: (r.role_name as string) ?? null,
    licenseName: (r.license_name as string) ?? null,
    status: r.status as UserStatus,
    locked: r.locked_until !== null && Number(r.locked_until) > now,
    source: r.source as 'local' | 'sso',
    lastLoginAt: num(r.last_login_at as number | null),
    createdAt: Number(r.created_at),
  }));
  return { rows, total: Number(totalRow?.n ?? 0) };
}

/** A short list for type-ahead pickers: id, username, name, email. */
export async function suggest(db: Conn, text: string, limit: number, excludeIds: number[] = []) {
  const q = db('users').select('id', 'username', 'first_name', 'last_name', 'email').orderBy('username_lower').limit(limit);
  applySearch(q, text);
  if (excludeIds.length) q.whereNotIn('id', excludeIds);
  return (await q).map((r: { id: number; username: string; first_name: string; last_name: string; email: string }) => ({
    id: r.id,
    username: r.username,
    name: [r.first_name, r.last_name].filter(Boolean).join(' '),
    email: r.email,
  }));
}

export async function groupIdsOf(db: Conn, userId: number): Promise<number[]> {
  return (await db('group_members').where({ user_id: userId }).select('group_id')).map((r: { group_id: number }) => r.group_id);
}

export async function groupsOf(db: Conn, userId: number): Promise<Array<{ id: number; name: string }>> {
  return db('groups')
    .join('group_members', 'group_members.group_id', 'groups.id')
    .where('group_members.user_id', userId)
    .orderBy('groups.name_lower')
    .select('groups.id', 'groups.name');
}

export async function addToGroups(db: Conn, userId: number, groupIds: number[], now = Date.now()): Promise<void> {
  if (!groupIds.length) return;
  await db('group_members').insert(groupIds.map((g) => ({ group_id: g, user_id: userId, added_at: now })));
}

export async function removeFromGroups(db: Conn, userId: number, groupIds: number[]): Promise<void> {
  if (!groupIds.length) return;
  await db('group_members').where({ user_id: userId }).whereIn('group_id', groupIds).delete();
}

