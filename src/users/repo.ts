import type { Knex } from 'knex';
import { presenceChanged } from './presence';
import type { Conn } from '../db/connect';
import { countOf, isMysql, likePrefix, numberOrNull, sqlConcat, wherePrefix } from '../db/connect';

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
  /** The provisioning directory's id for this account (SCIM `externalId`), exact and unique. */
  externalId: string | null;
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
  external_id?: string | null;
  version: number;
  created_at: number | string;
  updated_at: number | string;
  last_login_at: number | string | null;
  last_activity_at: number | string | null;
}


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
    lockedUntil: numberOrNull(r.locked_until),
    failedLogins: Number(r.failed_logins),
    source: r.source,
    ssoSubject: r.sso_subject,
    externalId: r.external_id ?? null,
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    lastLoginAt: numberOrNull(r.last_login_at),
    lastActivityAt: numberOrNull(r.last_activity_at),
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

/**
 * A user with their role's permission keys, in one statement (a row per permission): every signed-in
 * request reads this, so it costs one round trip instead of two.
 */
export async function findWithPermissions(db: Conn, id: number): Promise<{ user: User; permissions: string[] } | undefined> {
  const rows: Array<UserRow & { permission_key: string | null }> = await withRoleAndLicense(db)
    .leftJoin('role_permissions', 'role_permissions.role_id', 'users.role_id')
    .select('role_permissions.permission_key')
    .where('users.id', id);
  if (!rows.length) return undefined;
  return { user: toUser(rows[0]), permissions: rows.map((r) => r.permission_key).filter((k): k is string => !!k) };
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

export async function externalIdTaken(db: Conn, externalId: string, exceptId?: number): Promise<boolean> {
  const q = db('users').where('external_id', externalId);
  if (exceptId) q.whereNot('id', exceptId);
  return !!(await q.first('id'));
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
  externalId?: string | null;
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
    external_id: u.externalId ?? null,
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
  externalId?: string | null;
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
  if (p.externalId !== undefined) row.external_id = p.externalId;
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
  presenceChanged(db);
}

export async function recordActivity(db: Conn, id: number, now: number): Promise<void> {
  await db('users').where({ id }).update({ last_activity_at: now });
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('users').where({ id }).delete();
}

/** Whether any account exists (the first start creates the first Superuser). */
export async function anyUser(db: Conn): Promise<boolean> {
  return (await db('users').first('id')) !== undefined;
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
  role: [],
  license: [],
  status: [],
} as const;
export type UserSort = keyof typeof USER_SORTS;
export const UNIQUE_SORTS: ReadonlySet<UserSort> = new Set<UserSort>(['username', 'email']);
/** Sorts by a column with few values (shown by name): paged one value at a time, in username order within. */
const CATEGORY_SORTS: ReadonlySet<UserSort> = new Set<UserSort>(['role', 'license', 'status']);

export interface UserListFilter {
  q?: string;
  roleId?: number;
  groupId?: number;
  licenseTypeId?: number;
  status?: 'active' | 'deactivated' | 'locked';
  online?: boolean;
  source?: 'local' | 'sso';
  /** `q` looked up ahead (prepareFilter); undefined: not yet, null: searched as a predicate. */
  search?: PreparedSearch | null;
  /** The search is one word finding more than SEARCH_ID_CAP users (so it is searched as a predicate, uncounted). */
  searchBroad?: boolean;
}

const SEARCH_COLUMNS = ['username_lower', 'first_name_lower', 'last_name_lower', 'email_lower'];
/** Migration 0014's index per searched column (the username's own leads with it too), and the walk's. */
const SEARCH_INDEXES = ['users_search_username_index', 'users_search_first_name_index', 'users_search_last_name_index', 'users_search_email_index'];
const WALK_INDEX = 'users_search_username_index';

function searchWords(text: string | undefined): string[] {
  return (text ?? '')
    .toLowerCase()
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 5)
    .map((w) => w.slice(0, 100));
}

/**
 * Type-ahead search: every word must be the start of the username, first name, last name or email.
 * Prefix matches on the lower-cased indexed columns keep this an index range scan at 100,000 users on
 * both databases (see wherePrefix). A plain predicate: usable anywhere, also inside a nested where.
 */
export function applySearch(q: Knex.QueryBuilder, text: string | undefined): void {
  for (const word of searchWords(text)) {
    q.where((b) => {
      wherePrefix(b, 'users.username_lower', word);
      for (const column of ['users.first_name_lower', 'users.last_name_lower', 'users.email_lower']) wherePrefix(b, column, word, { or: true });
    });
  }
}

/** Searches matching more users than this are left to the index walk of the page (see prepareSearch). */
const SEARCH_ID_CAP = 10_000;

export interface PreparedSearch {
  /** The users whose username, names or email start with the longest word… */
  ids: number[];
  /** …to be narrowed by the other words. */
  rest: string;
}

/** `column LIKE 'word%'` (MySQL) or `column GLOB 'word*'` (SQLite, where LIKE would not use the index), raw. */
function prefixCondition(db: Conn, column: string, word: string): { sql: string; binding: string } {
  return isMysql(db)
    ? { sql: `${column} LIKE ? ESCAPE '!'`, binding: likePrefix(word) }
    : { sql: `${column} GLOB ?`, binding: `${word.replace(/[*?[]/g, (c) => `[${c}]`)}*` };
}

/** One of the four disjoint parts of a word's search (searchBranches): a condition on `users`, raw. */
interface SearchBranch {
  where: string;
  bindings: string[];
}

/**
 * A word's search as four disjoint prefix lookups, one per column: the username starts with the word; or
 * else the first name does; or else the last name; or else the email. Each lookup ranges over its column's
 * index, which carries the other searched columns and the username (migration 0014), so the "or else" is
 * tested on the index entry, the parts never overlap (their counts add up, no ids are collected to remove
 * duplicates), and each part's matches come with the username they sort by, without reading a row.
 */
function searchBranches(db: Conn, word: string): SearchBranch[] {
  const conditions = SEARCH_COLUMNS.map((c) => prefixCondition(db, c, word));
  return conditions.map((c, i) => ({
    where: [c.sql, ...conditions.slice(0, i).map((p) => `NOT (${p.sql})`)].join(' AND '),
    bindings: [c.binding, ...conditions.slice(0, i).map((p) => p.binding)],
  }));
}

function rawRows<T>(db: Conn, raw: unknown): T[] {
  return (isMysql(db) ? (raw as [T[]])[0] : raw) as T[];
}

/** Where a search's counts may come from instead of the database (src/users/searchCounts.ts). */
export interface SearchCountSource {
  of(word: string, count: () => Promise<number[]>): Promise<number[]>;
}

/** How many users a word finds through each of its four lookups, counting at most `cap + 1` each. */
async function countBranches(db: Conn, word: string, cap = SEARCH_ID_CAP): Promise<number[]> {
  const branches = searchBranches(db, word);
  const sql = branches.map((b, i) => `(SELECT COUNT(*) FROM (SELECT 1 AS one FROM users WHERE ${b.where} LIMIT ${cap + 1}) AS c${i}) AS n${i}`).join(', ');
  const row = rawRows<Record<string, number | string>>(db, await db.raw(`SELECT ${sql}`, branches.flatMap((b) => b.bindings)))[0];
  return branches.map((_, i) => Number(row[`n${i}`]));
}

/** The users a word finds, as a derived table of `id`, raw: at most `cap + 1` per column when bounded. */
function wordIds(db: Conn, word: string, cap?: number): { sql: string; bindings: string[] } {
  const branches = searchBranches(db, word);
  return {
    sql: branches.map((b, i) => (cap === undefined ? `SELECT id FROM users WHERE ${b.where}` : `SELECT id FROM (SELECT id FROM users WHERE ${b.where} LIMIT ${cap + 1}) AS b${i}`)).join(' UNION ALL '),
    bindings: branches.flatMap((b) => b.bindings),
  };
}

/**
 * Looks the search up before the page's query. One word: its four lookups (wordIds), at most
 * SEARCH_ID_CAP + 1 entries each. Several words: each word of two letters or more is looked up in full and
 * the results intersected in the database ("anna ber" among a million users reads the Annas and the Ber…s,
 * from index entries, not the directory); one-letter words are too broad for that and narrow the result as a
 * predicate. Then the page reads those ids by primary key and the count is exact without scanning the
 * table. A search finding more than SEARCH_ID_CAP users (a single letter among a million) stays a
 * predicate: walking the username index (migration 0014's, which holds every searched column) fills a page
 * after a few hundred entries. Null when there is no search or it is that broad.
 */
export async function prepareSearch(db: Conn, text: string | undefined): Promise<PreparedSearch | null> {
  const words = [...new Set(searchWords(text))];
  if (!words.length) return null;
  const longest = words.reduce((a, b) => (b.length > a.length ? b : a));
  const looked = words.length > 1 ? words.filter((w) => w.length > 1) : [longest];
  if (!looked.length) looked.push(longest);
  const sets = looked.map((w) => wordIds(db, w, looked.length === 1 ? SEARCH_ID_CAP : undefined));
  const sql = `SELECT w0.id FROM (${sets[0].sql}) AS w0 ${sets
    .slice(1)
    .map((set, i) => `JOIN (${set.sql}) AS w${i + 1} ON w${i + 1}.id = w0.id`)
    .join(' ')} LIMIT ${SEARCH_ID_CAP + 1}`;
  const rows = rawRows<{ id: number }>(db, await db.raw(sql, sets.flatMap((set) => set.bindings)));
  if (rows.length > SEARCH_ID_CAP) return null;
  return { ids: rows.map((r) => Number(r.id)), rest: words.filter((w) => !looked.includes(w)).join(' ') };
}

/** The filter with its search looked up (prepareSearch), ready for the queries of one request. */
export async function prepareFilter(db: Conn, f: UserListFilter): Promise<UserListFilter> {
  if (!f.q?.trim() || f.search !== undefined) return f;
  const search = await prepareSearch(db, f.q);
  // Known to find more than SEARCH_ID_CAP users only for a single word (counted); several words may narrow
  // each other below it, and are counted (bounded) with the page.
  return { ...f, search, searchBroad: search === null && new Set(searchWords(f.q)).size === 1 };
}

/** The search of `f` on a query over `users` (its ids when prepared, else the prefix predicate). */
export function whereSearch(q: Knex.QueryBuilder, f: Pick<UserListFilter, 'q' | 'search'>): void {
  if (f.search) {
    if (!f.search.ids.length) q.whereRaw('1 = 0');
    else q.whereRaw(`users.id IN (${f.search.ids.map((n) => String(Math.trunc(n))).join(',')})`);
    applySearch(q, f.search.rest);
  } else applySearch(q, f.q);
}

/**
 * Failed sign-ins pause an account's password sign-in (src/auth/throttle.ts) without locking its sessions,
 * tokens or decisions: the list shows such accounts as "locked" until the pause ends or an administrator
 * lifts it. The throttle's row for `users` (a correlated lookup on its primary key).
 */
function throttleOf(db: Conn, now: number) {
  return db('sign_in_throttles')
    .select(db.raw('1'))
    .whereRaw(`?? = ${sqlConcat(db, ["'account:'", 'users.id'])}`, ['sign_in_throttles.key'])
    .andWhere('sign_in_throttles.next_attempt_at', '>', now);
}

/** Locked now: by an administrator's lock (`locked_until`) or by the sign-in throttle. */
function whereLocked(db: Conn, q: Knex.QueryBuilder, now: number, locked: boolean): void {
  if (locked) {
    // The few locked accounts, looked up from their two sources (the lock's index, the throttle table) and
    // joined by id: a condition per row would walk the whole directory to find them.
    const idOfKey = isMysql(db) ? 'CAST(SUBSTRING(sign_in_throttles.`key`, 9) AS UNSIGNED)' : 'CAST(SUBSTR(sign_in_throttles."key", 9) AS INTEGER)';
    const lockedIds = db.raw(
      `(SELECT users.id AS id FROM users WHERE users.locked_until > ? UNION SELECT ${idOfKey} AS id FROM sign_in_throttles WHERE sign_in_throttles.${isMysql(db) ? '`key`' : '"key"'} LIKE 'account:%' AND sign_in_throttles.next_attempt_at > ?) AS locked_ids`,
      [now, now],
    );
    q.join(lockedIds, 'locked_ids.id', 'users.id');
  } else q.where((b) => b.whereNull('users.locked_until').orWhere('users.locked_until', '<=', now)).whereNotExists(throttleOf(db, now));
}

/** The time until which an account's sign-in is paused by the throttle, as a column of `users` queries. */
export function throttledUntilColumn(db: Conn, now: number) {
  return db('sign_in_throttles')
    .max('next_attempt_at')
    .whereRaw(`?? = ${sqlConcat(db, ["'account:'", 'users.id'])}`, ['sign_in_throttles.key'])
    .andWhere('next_attempt_at', '>', now)
    .as('throttled_until');
}

/** The users a filter matches (a query over `users`, nothing selected yet). */
export function filteredUsers(db: Conn, f: UserListFilter, now: number): Knex.QueryBuilder {
  const q = db('users');
  whereSearch(q, f);
  if (f.roleId) q.where('users.role_id', f.roleId);
  if (f.licenseTypeId) q.where('users.license_type_id', f.licenseTypeId);
  if (f.source) q.where('users.source', f.source);
  if (f.status === 'active') whereLocked(db, q.where('users.status', 'active'), now, false);
  if (f.status === 'deactivated') q.where('users.status', 'deactivated');
  if (f.status === 'locked') whereLocked(db, q, now, true);
  if (f.groupId) {
    q.whereExists(db('group_members').select(db.raw('1')).whereRaw('group_members.user_id = users.id').andWhere('group_members.group_id', f.groupId));
  }
  if (f.online) {
    q.whereExists(db('sessions').select(db.raw('1')).whereRaw('sessions.user_id = users.id').andWhere('sessions.expires_at', '>', now));
  }
  return q;
}

export function isFiltered(f: UserListFilter): boolean {
  return !!(f.q?.trim() || f.roleId || f.licenseTypeId || f.source || f.status || f.groupId || f.online);
}

/** Counts are exact up to this many; beyond, a list says "more than 10,000" (or, unfiltered, about how many). */
export const COUNT_CAP = 10_000;

export interface ListCount {
  /** Exact when `exact`; otherwise a lower bound (COUNT_CAP + 1) or the table's estimate (`estimated`). */
  n: number;
  exact: boolean;
  estimated?: boolean;
}

/** Counts the rows of a query, stopping after `cap + 1` of them. */
export async function countUpTo(db: Conn, query: Knex.QueryBuilder, cap = COUNT_CAP): Promise<ListCount> {
  const inner = query.clone().clearSelect().clearOrder().select(db.raw('1 AS one')).limit(cap + 1);
  const row = (await db.count({ n: '*' }).from(inner.as('bounded')).first()) as { n: number | string } | undefined;
  const n = Number(row?.n ?? 0);
  return n > cap ? { n, exact: false } : { n, exact: true };
}

/** The table statistics' estimate, read at most every ESTIMATE_TTL_MS per database (it is only "about" anyway). */
const ESTIMATE_TTL_MS = 10_000;
const estimates = new WeakMap<object, { at: number; n: number }>();

/** The number of users: exact on SQLite (a quick index count), the table statistics' estimate on MySQL. */
export async function userTotal(db: Conn): Promise<ListCount> {
  if (db.client.config.client === 'mysql2') {
    let cached = estimates.get(db.client);
    if (!cached || Date.now() - cached.at > ESTIMATE_TTL_MS) {
      const [rows] = (await db.raw("SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'")) as [Array<{ n: number | string | null }>];
      cached = { at: Date.now(), n: Number(rows[0]?.n ?? 0) };
      estimates.set(db.client, cached);
    }
    if (cached.n > COUNT_CAP) return { n: cached.n, exact: false, estimated: true };
  }
  const row = (await db('users').count({ n: '*' }).first()) as { n: number | string } | undefined;
  return { n: Number(row?.n ?? 0), exact: true };
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
  /** Has a live session now. */
  online: boolean;
}

/** The values of a category sort, in the order their names sort, each as a condition on `users`. */
async function categories(db: Conn, sort: UserSort, now: number): Promise<Array<(q: Knex.QueryBuilder) => void>> {
  if (sort === 'status') {
    return [
      (q) => whereLocked(db, q.where('users.status', 'active'), now, false),
      (q) => q.where('users.status', 'deactivated'),
      (q) => whereLocked(db, q.where('users.status', 'active'), now, true),
    ];
  }
  const table = sort === 'role' ? 'roles' : 'license_types';
  const column = sort === 'role' ? 'users.role_id' : 'users.license_type_id';
  const rows: Array<{ id: number; name: string }> = await db(table).select('id', 'name');
  rows.sort((a, b) => a.name.localeCompare(b.name, 'en', { sensitivity: 'base' }) || a.id - b.id);
  return [...rows.map((r) => (q: Knex.QueryBuilder) => q.where(column, r.id)), (q: Knex.QueryBuilder) => q.whereNull(column)];
}

/**
 * A page of ids sorted by role, license or status name, then username: each value in turn, walking the
 * (value, username) index, so the first pages read about one page of rows whatever the directory's size.
 */
async function categoryPage(db: Conn, f: UserListFilter, sort: UserSort, dir: 'asc' | 'desc', limit: number, offset: number, now: number): Promise<number[]> {
  const cats = await categories(db, sort, now);
  if (dir === 'desc') cats.reverse();
  const ids: number[] = [];
  let skip = offset;
  for (const where of cats) {
    if (ids.length >= limit) break;
    const scoped = () => {
      const q = filteredUsers(db, f, now);
      where(q);
      return q;
    };
    const page: number[] = (await scoped().select('users.id').orderBy('users.username_lower', dir).limit(limit - ids.length).offset(skip)).map((r: { id: number }) => Number(r.id));
    if (page.length) {
      ids.push(...page);
      skip = 0;
    } else if (skip > 0) {
      // This value holds no more than `skip` rows: skip all of them.
      skip -= (await countUpTo(db, scoped(), skip)).n;
      if (skip < 0) skip = 0;
    }
  }
  return ids;
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
  /**
   * The console's list counts up to COUNT_CAP (see ListCount); by default the count is exact. With
   * `searchCounts`, a one-word search's counts may be remembered ones (src/users/searchCounts.ts).
   */
  options: { boundedCount?: boolean; searchCounts?: SearchCountSource; names?: KnownNames } = {},
): Promise<{ rows: UserListRow[]; total: number; count: ListCount }> {
  const columns = new ListColumns(db, now, options.names);
  const words = searchWords(f.q);
  if (words.length === 1 && f.search === undefined && sort === 'username' && after === undefined && options.boundedCount && !isFiltered({ ...f, q: undefined })) {
    // A one-word search alone, in username order: the page and its count in one statement (searchPage).
    const found = await searchPage(db, words[0], dir, limit, offset, columns, options.searchCounts);
    return { rows: found.rows, total: found.count.n, count: found.count };
  }
  f = await prepareFilter(db, f);
  // A search alone (one word, no other filter) has its count already: the ids it looked up.
  const searchOnly = !!f.search && !f.search.rest.trim() && !isFiltered({ ...f, q: undefined });
  // …and a search too broad to look up (more than 10,000 users) is "more than 10,000" without counting them.
  const broadOnly = !!f.searchBroad && !isFiltered({ ...f, q: undefined });
  const count = searchOnly
    ? { n: f.search!.ids.length, exact: true }
    : broadOnly && options.boundedCount
      ? { n: COUNT_CAP + 1, exact: false }
      : !options.boundedCount
      ? { n: await countOf(filteredUsers(db, f, now)), exact: true }
      : isFiltered(f)
        ? await countUpTo(db, filteredUsers(db, f, now))
        : await userTotal(db);
  let ids: number[];
  if (CATEGORY_SORTS.has(sort)) {
    if (after !== undefined) throw new Error(`Keyset pagination needs a unique sort key, not ${sort}`);
    ids = await categoryPage(db, f, sort, dir, limit, offset, now);
  } else {
    // Deferred join: page through ids on the sort index alone, then read the 50 full rows. Deep pages stay
    // cheap because the offset walks a covering index instead of whole rows.
    const idQuery = filteredUsers(db, f, now).select('users.id').limit(limit).offset(offset);
    if (after !== undefined) {
      if (!UNIQUE_SORTS.has(sort)) throw new Error(`Keyset pagination needs a unique sort key, not ${sort}`);
      idQuery.where((USER_SORTS[sort] as readonly string[])[0], dir === 'asc' ? '>' : '<', after);
    }
    for (const col of USER_SORTS[sort]) idQuery.orderBy(col, dir);
    // The id tie-break makes the order total. On a unique sort key without a search it is left out: there the
    // planner walks the sort index and stops after one page, where the extra column would sort the whole
    // table. With a search, the matches come from the prefix indexes and sorting those few is the fast plan.
    if (!UNIQUE_SORTS.has(sort) || f.search) idQuery.orderBy('users.id', dir);
    if (offset === 0) {
      // The first page reads its rows in the same statement: the deferred join pays off only deeper down.
      const rows = await columns.rows(await columns.on(idQuery.clearSelect()));
      return { rows, total: count.n, count };
    }
    ids = (await idQuery).map((r: { id: number }) => Number(r.id));
  }
  const rows = await listRows(db, ids, columns);
  return { rows, total: count.n, count };
}

/**
 * A one-word search alone, in username order: its count from the index entries of its four disjoint
 * lookups (countBranches, bounded), then its page, merged from each lookup's first `offset + limit` users in
 * username order. The username's lookup reads them in order off its index; a lookup finding at most
 * SEARCH_ID_CAP users sorts its matches (that many index entries at most); one finding more walks the
 * username index testing its condition on each entry, where its matches are dense (one in a hundred users
 * or more among a million), so the page fills after a few thousand entries at most. Only the page's rows
 * are read.
 */
async function searchPage(
  db: Conn,
  word: string,
  dir: 'asc' | 'desc',
  limit: number,
  offset: number,
  columns: ListColumns,
  counts?: SearchCountSource,
): Promise<{ rows: UserListRow[]; count: ListCount }> {
  const perBranch = counts ? await counts.of(word, () => countBranches(db, word)) : await countBranches(db, word);
  const n = perBranch.reduce((a, b) => a + b, 0);
  const count: ListCount = n > SEARCH_ID_CAP ? { n: COUNT_CAP + 1, exact: false } : { n, exact: true };
  if (n === 0 || offset >= n) return { rows: [], count };
  const d = dir === 'desc' ? 'DESC' : 'ASC';
  const want = Math.trunc(limit) + Math.trunc(offset);
  // Each lookup on the index it is planned for: left to itself, the planner walks the username index in
  // order for a lookup that finds one user in a million, reading all of them.
  const using = (index: string) => (isMysql(db) ? `users FORCE INDEX (${index})` : `users INDEXED BY ${index}`);
  const branches = searchBranches(db, word)
    .map((b, i) => {
      const walksInOrder = i === 0 || perBranch[i] > SEARCH_ID_CAP;
      return { ...b, walksInOrder, from: using(walksInOrder ? WALK_INDEX : SEARCH_INDEXES[i]) };
    })
    .filter((_, i) => perBranch[i] > 0);
  if (branches.length === 1 && branches[0].walksInOrder) {
    // One lookup finds them all, walking the username index in order: its page read straight off the index
    // with the rows' columns in the same statement (no derived tables to merge: a third of the statement's
    // cost in the database).
    const [only] = branches;
    const found: Array<Record<string, unknown>> = await columns
      .on(db.from(db.raw(only.from)).whereRaw(only.where, only.bindings))
      .orderBy('users.username_lower', dir)
      .limit(Math.trunc(limit))
      .offset(Math.trunc(offset));
    return { rows: await columns.rows(found), count };
  }
  const page = db.raw(
    `(SELECT id, username_lower FROM (${branches
      .map((b, i) => `SELECT * FROM (SELECT id, username_lower FROM ${b.from} WHERE ${b.where} ORDER BY username_lower ${d} LIMIT ${want}) AS p${i}`)
      .join(' UNION ALL ')}) AS parts ORDER BY username_lower ${d} LIMIT ${Math.trunc(limit)} OFFSET ${Math.trunc(offset)}) AS page`,
    branches.flatMap((b) => b.bindings),
  );
  const found: Array<Record<string, unknown>> = await columns.on(db.from(page).join('users', 'users.id', 'page.id')).orderBy('page.username_lower', dir);
  return { rows: await columns.rows(found), count };
}

/** The one word of a search, or null when it has none or several (those are looked up by prepareSearch). */
export function singleSearchWord(text: string | undefined): string | null {
  const words = [...new Set(searchWords(text))];
  return words.length === 1 ? words[0] : null;
}

/**
 * A one-word search among some users (a dual list's side): `scoped(index)` is a query over `users` read on
 * that index, with the caller's conditions and nothing selected. The same four disjoint lookups as the
 * users list (searchPage), each counted (bounded) and paged within the caller's conditions: no ids are
 * collected and nothing is sorted beyond the lookups' first `offset + limit` users. Ids of the page, in
 * username order, and the count ("more than SEARCH_ID_CAP" beyond).
 */
export async function searchAmong(
  db: Conn,
  word: string,
  scoped: (index: string | null) => Knex.QueryBuilder,
  dir: 'asc' | 'desc',
  limit: number,
  offset: number,
): Promise<{ ids: number[]; count: ListCount }> {
  const branches = searchBranches(db, word);
  const perBranch = await Promise.all(branches.map(async (b) => (await countUpTo(db, scoped(null).whereRaw(b.where, b.bindings), SEARCH_ID_CAP)).n));
  const n = perBranch.reduce((a, b) => a + b, 0);
  const count: ListCount = n > SEARCH_ID_CAP ? { n: COUNT_CAP + 1, exact: false } : { n, exact: true };
  if (n === 0 || offset >= n) return { ids: [], count };
  const want = Math.trunc(limit) + Math.trunc(offset);
  const parts = await Promise.all(
    branches.map((b, i) =>
      perBranch[i] === 0
        ? []
        : scoped(i === 0 || perBranch[i] > SEARCH_ID_CAP ? WALK_INDEX : SEARCH_INDEXES[i])
            .whereRaw(b.where, b.bindings)
            .select('users.id', 'users.username_lower')
            .orderBy('users.username_lower', dir)
            .limit(want),
    ),
  );
  // Merged as the database orders the column (binary, by UTF-8 bytes).
  const rows = (parts.flat() as Array<{ id: number; username_lower: string }>).map((r) => ({ id: Number(r.id), key: Buffer.from(r.username_lower) }));
  rows.sort((a, b) => (dir === 'asc' ? Buffer.compare(a.key, b.key) : Buffer.compare(b.key, a.key)));
  return { ids: rows.slice(offset, offset + limit).map((r) => r.id), count };
}

/** Role and license names by id, when the caller holds them (the console: its decision state). */
export interface KnownNames {
  role(id: number): string | undefined;
  license(id: number): string | undefined;
}

/**
 * The list's columns (role and license names, lock and online state) over `users`. The names come from
 * `names` when given (an id it does not know yet — created on another server a moment ago — is read in one
 * small query), else from joins in the same statement.
 */
class ListColumns {
  constructor(
    private readonly db: Conn,
    private readonly now: number,
    private readonly names?: KnownNames,
  ) {}

  on(q: Knex.QueryBuilder): Knex.QueryBuilder {
    const { db, now } = this;
    if (!this.names) q.leftJoin('roles', 'roles.id', 'users.role_id').leftJoin('license_types', 'license_types.id', 'users.license_type_id');
    // The sign-in throttle's pause on the account: a join on its key (at most one row per account), cheaper in
    // the database than a subquery per row.
    q.leftJoin('sign_in_throttles', (on) =>
      on.on('sign_in_throttles.key', '=', db.raw(sqlConcat(db, ["'account:'", 'users.id']))).andOn('sign_in_throttles.next_attempt_at', '>', db.raw('?', [now])),
    );
    return q.select(
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
      ...(this.names ? ['users.role_id', 'users.license_type_id'] : ['roles.name as role_name', 'license_types.name as license_name']),
      'sign_in_throttles.next_attempt_at as throttled_until',
      // Whether the user has a live session, in the same statement (one round trip fewer per page).
      db.raw('EXISTS (SELECT 1 FROM sessions WHERE sessions.user_id = users.id AND sessions.expires_at > ?) AS online', [now]),
    );
  }

  async rows(found: Array<Record<string, unknown>>): Promise<UserListRow[]> {
    const rows = found.map((r) => toListRow(r, this.now));
    const names = this.names;
    if (!names) return rows;
    const idOf = (v: unknown) => (v === null || v === undefined ? null : Number(v));
    // Ids the names do not know yet, read from the database in one small query each.
    const unknownRoles = new Set<number>();
    const unknownLicenses = new Set<number>();
    for (const r of found) {
      const role = idOf(r.role_id);
      const license = idOf(r.license_type_id);
      if (role !== null && names.role(role) === undefined) unknownRoles.add(role);
      if (license !== null && names.license(license) === undefined) unknownLicenses.add(license);
    }
    const [roles, licenses] = await Promise.all([
      unknownRoles.size ? this.db('roles').whereIn('id', [...unknownRoles]).select('id', 'name') : [],
      unknownLicenses.size ? this.db('license_types').whereIn('id', [...unknownLicenses]).select('id', 'name') : [],
    ]);
    const read = (list: Array<{ id: number; name: string }>) => new Map(list.map((x) => [Number(x.id), x.name]));
    const roleNames = read(roles);
    const licenseNames = read(licenses);
    found.forEach((r, i) => {
      const role = idOf(r.role_id);
      const license = idOf(r.license_type_id);
      rows[i].roleName = role === null ? null : (names.role(role) ?? roleNames.get(role) ?? null);
      rows[i].licenseName = license === null ? null : (names.license(license) ?? licenseNames.get(license) ?? null);
    });
    return rows;
  }
}

function toListRow(r: Record<string, unknown>, now: number): UserListRow {
  return {
    id: Number(r.id),
    username: String(r.username),
    firstName: String(r.first_name),
    lastName: String(r.last_name),
    email: String(r.email),
    roleName: (r.role_name as string) ?? null,
    licenseName: (r.license_name as string) ?? null,
    status: r.status as UserStatus,
    locked: (r.locked_until !== null && Number(r.locked_until) > now) || (r.throttled_until !== null && Number(r.throttled_until) > now),
    source: r.source as 'local' | 'sso',
    lastLoginAt: numberOrNull(r.last_login_at as number | null),
    createdAt: Number(r.created_at),
    online: Number(r.online) === 1 || r.online === true,
  };
}

/** The list's columns for these users, in the order of `ids`. */
async function listRows(db: Conn, ids: number[], columns: ListColumns): Promise<UserListRow[]> {
  const found: Array<Record<string, unknown>> = ids.length ? await columns.on(db('users').whereIn('users.id', ids)) : [];
  const byId = new Map(found.map((r) => [Number(r.id), r]));
  return columns.rows(ids.map((id) => byId.get(id)).filter((r): r is Record<string, unknown> => !!r));
}

/** Ids of the users a filter matches, in username order, at most `cap` (bulk actions resolve "all matching"). */
export async function idsMatching(db: Conn, f: UserListFilter, now: number, cap: number): Promise<number[]> {
  f = await prepareFilter(db, f);
  const rows = await filteredUsers(db, f, now).select('users.id').orderBy('users.username_lower').limit(cap);
  return rows.map((r: { id: number }) => Number(r.id));
}

/**
 * Every user a filter matches, in username order, read in keyset pages of `chunk` (exports stream these
 * without holding the list).
 */
export async function* eachMatching(db: Conn, f: UserListFilter, now: number, chunk = 1000): AsyncGenerator<UserListRow[]> {
  f = await prepareFilter(db, f);
  const columns = new ListColumns(db, now);
  let after: string | undefined;
  for (;;) {
    const q = filteredUsers(db, f, now).select('users.id', 'users.username_lower').orderBy('users.username_lower').limit(chunk);
    if (after !== undefined) q.where('users.username_lower', '>', after);
    const page: Array<{ id: number; username_lower: string }> = await q;
    if (!page.length) return;
    yield await listRows(db, page.map((r) => Number(r.id)), columns);
    if (page.length < chunk) return;
    after = page[page.length - 1].username_lower;
  }
}

/** A short list for type-ahead pickers: id, username, name, email. */
export async function suggest(db: Conn, text: string, limit: number, excludeIds: number[] = []) {
  const q = db('users').select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email').orderBy('users.username_lower').limit(limit);
  whereSearch(q, await prepareFilter(db, { q: text }));
  if (excludeIds.length) q.whereNotIn('users.id', excludeIds);
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

