/**
 * The SQL of the SCIM server: SCIM filters (parsed by scim2-parse-filter in src/scim/filter.ts) become
 * WHERE clauses over `users` and `groups`, so a directory's lookup reads only the rows it asks for.
 *
 * Case rules (RFC 7643 §2.2, §4): userName, names, emails and displayName compare without regard to case
 * (on the lower-cased indexed columns), externalId and id exactly.
 */
import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { countOf, escapeLike, isMysql } from '../db/connect';
import { toUser, type User } from '../users/repo';
import type { Filter } from 'scim2-parse-filter';
import { invalidFilter } from './errors';
import { attributeKey } from './filter';

type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'lt' | 'ge' | 'le' | 'pr';
type Value = boolean | null | number | string | undefined;
/** Adds the condition `attribute op value` to the query (or refuses the combination as invalidFilter). */
type Predicate = (db: Conn, q: Knex.QueryBuilder, op: CompareOp, value: Value, attribute: string) => void;

const never = (q: Knex.QueryBuilder) => q.whereRaw('1 = 0');
const always = (q: Knex.QueryBuilder) => q.whereRaw('1 = 1');
const refuse = (attribute: string, op: string) => invalidFilter(`The filter cannot compare ${attribute} with "${op}".`);

const SQL_OPS: Partial<Record<CompareOp, string>> = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' };

/**
 * A text column. `lowerColumn`: it holds the lower-cased value and the attribute is not caseExact.
 * Substring operators use LIKE (MySQL: the columns are binary, so LIKE is exact there) or, for a caseExact
 * column on SQLite (whose LIKE ignores ASCII case), GLOB.
 */
function text(column: string, options: { lowerColumn: boolean; nullable?: boolean }): Predicate {
  return (db, q, op, value, attribute) => {
    if (op === 'pr') {
      q.whereNotNull(column).andWhere(column, '<>', '');
      return;
    }
    if (value === null) {
      if (op === 'eq') q.where((b) => b.whereNull(column).orWhere(column, ''));
      else if (op === 'ne') q.whereNotNull(column).andWhere(column, '<>', '');
      else throw refuse(attribute, op);
      return;
    }
    if (typeof value !== 'string') throw invalidFilter(`${attribute} is text: compare it with a quoted string.`);
    const v = options.lowerColumn ? value.toLowerCase() : value;
    const sqlOp = SQL_OPS[op];
    if (op === 'ne' && options.nullable) {
      q.where((b) => b.whereNull(column).orWhere(column, '<>', v));
      return;
    }
    if (options.nullable) q.whereNotNull(column);
    if (sqlOp) {
      q.where(column, sqlOp, v);
      return;
    }
    const exactOnSqlite = !options.lowerColumn && !isMysql(db);
    if (exactOnSqlite) {
      const g = v.replace(/[*?[]/g, (c) => `[${c}]`);
      q.whereRaw('?? GLOB ?', [column, op === 'sw' ? `${g}*` : op === 'ew' ? `*${g}` : `*${g}*`]);
      return;
    }
    const l = escapeLike(v);
    q.whereRaw(`?? LIKE ? ESCAPE '!'`, [column, op === 'sw' ? `${l}%` : op === 'ew' ? `%${l}` : `%${l}%`]);
  };
}

/** The numeric primary key, given as a string ("42"); anything else matches nothing. */
function id(column: string): Predicate {
  return (_db, q, op, value, attribute) => {
    if (op === 'pr') return void always(q);
    const sqlOp = SQL_OPS[op];
    if (!sqlOp) throw refuse(attribute, op);
    const n = typeof value === 'number' ? value : typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
    if (!Number.isSafeInteger(n)) return void (op === 'ne' ? always(q) : never(q));
    q.where(column, sqlOp, n);
  };
}

/** A timestamp column (epoch ms) compared with an RFC 3339 date-time. */
function time(column: string): Predicate {
  return (_db, q, op, value, attribute) => {
    if (op === 'pr') return void always(q);
    const sqlOp = SQL_OPS[op];
    const ms = typeof value === 'string' ? Date.parse(value) : NaN;
    if (!sqlOp || Number.isNaN(ms)) throw invalidFilter(`${attribute} is a date-time: compare it (eq, ne, gt, ge, lt, le) with a quoted date such as "2026-12-01T00:00:00Z".`);
    q.where(column, sqlOp, ms);
  };
}

export function booleanValue(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  // Entra ID sends "True" / "False".
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  return undefined;
}

/** `active`: the account's status. */
const active: Predicate = (_db, q, op, value, attribute) => {
  if (op === 'pr') return void always(q);
  const b = booleanValue(value);
  if ((op !== 'eq' && op !== 'ne') || b === undefined) throw invalidFilter(`${attribute} is true or false: compare it with eq or ne.`);
  q.where('users.status', b === (op === 'eq') ? '=' : '<>', 'active');
};

/** An attribute that has one value for every resource (emails.type is "work", emails.primary is true). */
function constant(fixed: string | boolean): Predicate {
  return (_db, q, op, value, attribute) => {
    if (op === 'pr') return void always(q);
    const given = typeof fixed === 'boolean' ? booleanValue(value) : typeof value === 'string' ? value.toLowerCase() : undefined;
    if (given === undefined || (op !== 'eq' && op !== 'ne')) throw refuse(attribute, op);
    (given === fixed) === (op === 'eq') ? always(q) : never(q);
  };
}

/** Membership, from either side: users.groups.value (a group id) or groups.members.value (a user id). */
function membership(side: 'user' | 'group'): Predicate {
  const [own, other, ownColumn] = side === 'user' ? ['user_id', 'group_id', 'users.id'] : ['group_id', 'user_id', 'groups.id'];
  return (db, q, op, value, attribute) => {
    const rows = () => db('group_members').select(db.raw('1')).whereRaw(`group_members.${own} = ${ownColumn}`);
    if (op === 'pr') return void q.whereExists(rows());
    if (op !== 'eq' && op !== 'ne') throw refuse(attribute, op);
    const n = typeof value === 'string' && /^[0-9]{1,10}$/.test(value) ? Number(value) : typeof value === 'number' ? value : NaN;
    if (!Number.isSafeInteger(n)) return void (op === 'ne' ? always(q) : never(q));
    const match = rows().andWhere(`group_members.${other}`, n);
    if (op === 'eq') q.whereExists(match);
    else q.whereNotExists(match);
  };
}

/** A name looked up in a small table (the role or license of a user): eq / ne without regard to case. */
function lookup(table: string, columns: string[], foreignKey: string): Predicate {
  return (db, q, op, value, attribute) => {
    if (op === 'pr') return void q.whereNotNull(foreignKey);
    if ((op !== 'eq' && op !== 'ne') || typeof value !== 'string') throw refuse(attribute, op);
    const sub = db(table).select(`${table}.id`).where((b) => {
      for (const c of columns) b.orWhereRaw('LOWER(??) = ?', [`${table}.${c}`, value.toLowerCase()]);
    });
    if (op === 'ne') q.where((b) => b.whereNull(foreignKey).orWhereNotIn(foreignKey, sub));
    else q.whereIn(foreignKey, sub);
  };
}

const GATEHOUSE = 'urn:ietf:params:scim:schemas:extension:gatehouse:2.0:user:';

const USER_ATTRIBUTES: Record<string, Predicate> = {
  id: id('users.id'),
  username: text('users.username_lower', { lowerColumn: true }),
  'name.givenname': text('users.first_name_lower', { lowerColumn: true }),
  'name.familyname': text('users.last_name_lower', { lowerColumn: true }),
  emails: text('users.email_lower', { lowerColumn: true }),
  'emails.value': text('users.email_lower', { lowerColumn: true }),
  'emails.type': constant('work'),
  'emails.primary': constant(true),
  active,
  externalid: text('users.external_id', { lowerColumn: false, nullable: true }),
  'meta.created': time('users.created_at'),
  'meta.lastmodified': time('users.updated_at'),
  groups: membership('user'),
  'groups.value': membership('user'),
  [`${GATEHOUSE}role`]: lookup('roles', ['name'], 'users.role_id'),
  [`${GATEHOUSE}license`]: lookup('license_types', ['key', 'name'], 'users.license_type_id'),
};

const GROUP_ATTRIBUTES: Record<string, Predicate> = {
  id: id('groups.id'),
  displayname: text('groups.name_lower', { lowerColumn: true }),
  externalid: text('groups.external_id', { lowerColumn: false, nullable: true }),
  'meta.created': time('groups.created_at'),
  'meta.lastmodified': time('groups.updated_at'),
  members: membership('group'),
  'members.value': membership('group'),
};

export type ResourceKind = 'User' | 'Group';
const ATTRIBUTES: Record<ResourceKind, Record<string, Predicate>> = { User: USER_ATTRIBUTES, Group: GROUP_ATTRIBUTES };

/** Adds a parsed filter to a query over the resource's table; `prefix` is the attribute of a value path ("emails"). */
function applyFilter(db: Conn, q: Knex.QueryBuilder, kind: ResourceKind, f: Filter, prefix = ''): void {
  switch (f.op) {
    case 'and':
      for (const part of f.filters) q.where((b) => applyFilter(db, b, kind, part, prefix));
      return;
    case 'or':
      q.where((b) => {
        for (const part of f.filters) b.orWhere((w) => applyFilter(db, w, kind, part, prefix));
      });
      return;
    case 'not':
      q.whereNot((b) => applyFilter(db, b, kind, f.filter, prefix));
      return;
    case '[]':
      if (prefix) throw invalidFilter('Value paths do not nest.');
      q.where((b) => applyFilter(db, b, kind, f.valFilter, `${attributeKey(f.attrPath, kind)}.`));
      return;
    default: {
      const key = prefix + attributeKey(f.attrPath, kind);
      const predicate = ATTRIBUTES[kind][key];
      if (!predicate) throw invalidFilter(`Filtering on "${prefix}${f.attrPath}" is not supported (see /Schemas).`);
      predicate(db, q, f.op, f.op === 'pr' ? undefined : f.compValue, prefix + f.attrPath);
    }
  }
}

const SORT_COLUMNS: Record<ResourceKind, Record<string, string>> = {
  User: {
    id: 'users.id',
    username: 'users.username_lower',
    'name.givenname': 'users.first_name_lower',
    'name.familyname': 'users.last_name_lower',
    emails: 'users.email_lower',
    'emails.value': 'users.email_lower',
    externalid: 'users.external_id',
    active: 'users.status',
    'meta.created': 'users.created_at',
    'meta.lastmodified': 'users.updated_at',
  },
  Group: {
    id: 'groups.id',
    displayname: 'groups.name_lower',
    externalid: 'groups.external_id',
    'meta.created': 'groups.created_at',
    'meta.lastmodified': 'groups.updated_at',
  },
};

export function sortColumn(kind: ResourceKind, attribute: string): string | undefined {
  return SORT_COLUMNS[kind][attributeKey(attribute, kind)];
}

export interface ListQuery {
  filter?: Filter;
  /** A column from sortColumn. */
  sortBy?: string;
  descending: boolean;
  /** 1-based. */
  startIndex: number;
  count: number;
}

/** The ids of one page of matches, in order, and the number of matches. */
export async function findPage(db: Conn, kind: ResourceKind, query: ListQuery): Promise<{ ids: number[]; total: number }> {
  const table = kind === 'User' ? 'users' : 'groups';
  const matching = () => {
    const q = db(table);
    if (query.filter) {
      const filter = query.filter;
      q.where((b) => applyFilter(db, b, kind, filter));
    }
    return q;
  };
  const total = await countOf(matching());
  if (query.count === 0 || query.startIndex > total) return { ids: [], total };
  const dir = query.descending ? 'desc' : 'asc';
  const q = matching().select(`${table}.id`).limit(query.count).offset(query.startIndex - 1);
  if (query.sortBy) q.orderBy(query.sortBy, dir);
  q.orderBy(`${table}.id`, query.sortBy ? dir : 'asc');
  return { ids: (await q).map((r: { id: number }) => Number(r.id)), total };
}

/** Users with their role and license, in the order of `ids`. */
export async function usersByIds(db: Conn, ids: number[]): Promise<User[]> {
  if (!ids.length) return [];
  const rows = await db('users')
    .leftJoin('roles', 'roles.id', 'users.role_id')
    .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
    .whereIn('users.id', ids)
    .select('users.*', 'roles.name as role_name', 'roles.builtin_key as role_builtin_key', 'license_types.name as license_name', 'license_types.key as license_key');
  const byId = new Map(rows.map((r: { id: number }) => [Number(r.id), toUser(r as never)]));
  return ids.map((i) => byId.get(i)).filter((u): u is User => !!u);
}

export interface GroupRow {
  id: number;
  name: string;
  externalId: string | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export async function groupsByIds(db: Conn, ids: number[]): Promise<GroupRow[]> {
  if (!ids.length) return [];
  const rows = await db('groups').whereIn('id', ids).select('id', 'name', 'external_id', 'version', 'created_at', 'updated_at');
  const byId = new Map(
    rows.map((r: Record<string, unknown>) => [
      Number(r.id),
      { id: Number(r.id), name: String(r.name), externalId: (r.external_id as string | null) ?? null, version: Number(r.version), createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) },
    ]),
  );
  return ids.map((i) => byId.get(i)).filter((g): g is GroupRow => !!g);
}

/** For each user: the groups they are in (id, name). */
export async function groupsOfUsers(db: Conn, userIds: number[]): Promise<Map<number, Array<{ id: number; name: string }>>> {
  const out = new Map<number, Array<{ id: number; name: string }>>(userIds.map((u) => [u, []]));
  if (!userIds.length) return out;
  const rows = await db('group_members')
    .join('groups', 'groups.id', 'group_members.group_id')
    .whereIn('group_members.user_id', userIds)
    .orderBy('groups.name_lower')
    .select('group_members.user_id', 'groups.id', 'groups.name');
  for (const r of rows) out.get(Number(r.user_id))?.push({ id: Number(r.id), name: String(r.name) });
  return out;
}

/** For each group: its members (id, username), in username order. */
export async function membersOfGroups(db: Conn, groupIds: number[]): Promise<Map<number, Array<{ id: number; username: string }>>> {
  const out = new Map<number, Array<{ id: number; username: string }>>(groupIds.map((g) => [g, []]));
  if (!groupIds.length) return out;
  const rows = await db('group_members')
    .join('users', 'users.id', 'group_members.user_id')
    .whereIn('group_members.group_id', groupIds)
    .orderBy('users.username_lower')
    .select('group_members.group_id', 'users.id', 'users.username');
  for (const r of rows) out.get(Number(r.group_id))?.push({ id: Number(r.id), username: String(r.username) });
  return out;
}

/** The current member ids of a group (a replace of all members needs them; adds and removes do not). */
export async function memberIds(db: Conn, groupId: number): Promise<number[]> {
  return (await db('group_members').where({ group_id: groupId }).select('user_id')).map((r: { user_id: number }) => Number(r.user_id));
}

/** Which of these ids are users. */
export async function existingUserIds(db: Conn, ids: number[]): Promise<Set<number>> {
  const out = new Set<number>();
  for (let i = 0; i < ids.length; i += 5000) {
    const part = ids.slice(i, i + 5000);
    for (const r of await db('users').whereIn('id', part).select('id')) out.add(Number(r.id));
  }
  return out;
}

export async function findUserId(db: Conn, id: number): Promise<number | undefined> {
  const r = await db('users').where({ id }).first('id');
  return r ? Number(r.id) : undefined;
}

/** The role with this name or built-in key (without regard to case). */
export async function findRoleId(db: Conn, nameOrKey: string): Promise<number | undefined> {
  const lower = nameOrKey.trim().toLowerCase();
  const r = await db('roles').where('name_lower', lower).orWhere('builtin_key', lower).first('id');
  return r ? Number(r.id) : undefined;
}

/** The license type with this key or name (without regard to case). */
export async function findLicenseId(db: Conn, keyOrName: string): Promise<number | undefined> {
  const lower = keyOrName.trim().toLowerCase();
  const rows: Array<{ id: number; key: string; name: string }> = await db('license_types').select('id', 'key', 'name');
  const hit = rows.find((r) => r.key.toLowerCase() === lower || r.name.toLowerCase() === lower);
  return hit ? Number(hit.id) : undefined;
}

/** The user who receives the assets of users deleted through SCIM (a username), set by a Superuser. */
export const ASSET_RECEIVER_SETTING = 'scim.asset_receiver';

export async function readSetting(db: Conn, key: string): Promise<string | undefined> {
  const row = await db('settings').where({ key }).first('value');
  return row?.value || undefined;
}

export async function writeSetting(db: Conn, key: string, value: string | undefined): Promise<void> {
  if (value === undefined) {
    await db('settings').where({ key }).delete();
    return;
  }
  const updated = await db('settings').where({ key }).update({ value });
  if (!updated) await db('settings').insert({ key, value });
}
