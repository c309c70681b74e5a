import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { isMysql, wherePrefix } from '../db/connect';
import { applySearch } from '../users/repo';
import { sqlDualListSource, type DualListSource } from '../db/dualListSource';

export interface Group {
  id: number;
  name: string;
  description: string;
  /** The provisioning directory's id for this group (SCIM `externalId`), exact and unique. */
  externalId: string | null;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface GroupWithCount extends Group {
  memberCount: number;
}

interface GroupRow {
  id: number;
  name: string;
  description: string;
  external_id?: string | null;
  version: number;
  created_at: number | string;
  updated_at: number | string;
  member_count?: number | string;
}

function toGroup(r: GroupRow): Group {
  return {
    id: Number(r.id),
    name: r.name,
    description: r.description ?? '',
    externalId: r.external_id ?? null,
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toGroupWithCount(r: GroupRow): GroupWithCount {
  return { ...toGroup(r), memberCount: Number(r.member_count ?? 0) };
}

/** Member count as a correlated count on the (group_id, user_id) primary key: an index range per group. */
function memberCountColumn(db: Conn, groupIdColumn = 'groups.id') {
  return db('group_members').count('*').whereRaw(`group_members.group_id = ${groupIdColumn}`).as('member_count');
}

/**
 * Ids are validated integers, written into the SQL text: a list of thousands stays one short statement on
 * both dialects, far from SQLite's bound-variable limit.
 */
function idList(ids: number[]): string {
  return ids
    .map((n) => {
      if (!Number.isInteger(n) || n < 1 || n > 2147483647) throw new Error(`Not an id: ${n}`);
      return String(n);
    })
    .join(',');
}

function chunks<T>(list: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Name starts with the text (literally; an index range on both dialects). */
function startsWith(b: Knex.QueryBuilder, column: string, text: string): void {
  wherePrefix(b, column, text.toLowerCase());
}

/** Ids per statement for IN lists (about 40 KB of SQL). */
const ID_CHUNK = 5000;
/** Rows per multi-row INSERT. */
const INSERT_CHUNK = 1000;

// ------------------------------------------------------------------------------------------------- groups

export async function findById(db: Conn, id: number): Promise<Group | undefined> {
  const r = await db('groups').where({ id }).first();
  return r ? toGroup(r) : undefined;
}

export async function findByIdWithCount(db: Conn, id: number): Promise<GroupWithCount | undefined> {
  const r = await db('groups').select('groups.*', memberCountColumn(db)).where('groups.id', id).first();
  return r ? toGroupWithCount(r) : undefined;
}

export async function findByName(db: Conn, name: string): Promise<Group | undefined> {
  const r = await db('groups').where({ name_lower: name.trim().toLowerCase() }).first();
  return r ? toGroup(r) : undefined;
}

/** The groups with these names (case-insensitive), by lower-cased name. */
export async function findByNames(db: Conn, names: string[]): Promise<Map<string, Group>> {
  const out = new Map<string, Group>();
  for (const part of chunks([...new Set(names.map((n) => n.trim().toLowerCase()))], ID_CHUNK)) {
    for (const r of await db('groups').whereIn('name_lower', part)) out.set(r.name_lower, toGroup(r));
  }
  return out;
}

/** Reads the group and, on MySQL/MariaDB, locks its row until the transaction ends (SQLite serialises writers). */
export async function lockById(db: Conn, id: number): Promise<Group | undefined> {
  const q = db('groups').where({ id });
  if (isMysql(db)) q.forUpdate();
  const r = await q.first();
  return r ? toGroup(r) : undefined;
}

export async function externalIdTaken(db: Conn, externalId: string, exceptId?: number): Promise<boolean> {
  const q = db('groups').where('external_id', externalId);
  if (exceptId) q.whereNot('id', exceptId);
  return !!(await q.first('id'));
}

export async function nameTaken(db: Conn, name: string, exceptId?: number): Promise<boolean> {
  const q = db('groups').where({ name_lower: name.toLowerCase() });
  if (exceptId) q.whereNot({ id: exceptId });
  return !!(await q.first('id'));
}

export const GROUP_SORTS = ['name', 'members'] as const;
export type GroupSort = (typeof GROUP_SORTS)[number];

export async function list(
  db: Conn,
  q: string,
  limit: number,
  offset: number,
  order: { sort: GroupSort; dir: 'asc' | 'desc' } = { sort: 'name', dir: 'asc' },
): Promise<{ rows: GroupWithCount[]; total: number }> {
  const filtered = () => {
    const b = db('groups');
    const t = q.trim().toLowerCase();
    if (t) startsWith(b, 'groups.name_lower', t.slice(0, 100));
    return b;
  };
  const totalRow = await filtered().count({ n: '*' }).first();
  const query = filtered().select('groups.*', memberCountColumn(db)).limit(limit).offset(offset);
  // By members: each group's count is an index range on the membership key; a few thousand groups stay quick.
  if (order.sort === 'members') query.orderBy([{ column: 'member_count', order: order.dir }, { column: 'groups.name_lower', order: 'asc' }]);
  else query.orderBy('groups.name_lower', order.dir);
  const rows = await query;
  return { rows: rows.map(toGroupWithCount), total: Number(totalRow?.n ?? 0) };
}

/** A few group names starting with the text, for type-ahead pickers. */
export async function suggest(db: Conn, text: string, limit: number): Promise<Array<{ id: number; name: string; description: string }>> {
  const t = text.trim().toLowerCase().slice(0, 100);
  if (!t) return [];
  const b = db('groups');
  startsWith(b, 'name_lower', t);
  const rows = await b.orderBy('name_lower').limit(limit).select('id', 'name', 'description');
  return rows.map((r: { id: number; name: string; description: string }) => ({ id: Number(r.id), name: r.name, description: r.description ?? '' }));
}

export async function insert(db: Conn, g: { name: string; description: string; externalId?: string | null }, now = Date.now()): Promise<number> {
  await db('groups').insert({ name: g.name, name_lower: g.name.toLowerCase(), description: g.description, external_id: g.externalId ?? null, version: 1, created_at: now, updated_at: now });
  const row = await db('groups').where({ name_lower: g.name.toLowerCase() }).first('id');
  return Number(row.id);
}

/** Updates name/description and bumps the version; with `expectedVersion`, only if nobody saved meanwhile. */
export async function update(db: Conn, id: number, patch: { name?: string; description?: string; externalId?: string | null }, expectedVersion?: number): Promise<boolean> {
  const row: Record<string, unknown> = { updated_at: Date.now(), version: db.raw('version + 1') };
  if (patch.name !== undefined) Object.assign(row, { name: patch.name, name_lower: patch.name.toLowerCase() });
  if (patch.description !== undefined) row.description = patch.description;
  if (patch.externalId !== undefined) row.external_id = patch.externalId;
  const q = db('groups').where({ id });
  if (expectedVersion !== undefined) q.andWhere({ version: expectedVersion });
  return (await q.update(row)) === 1;
}

export async function bumpVersion(db: Conn, id: number): Promise<void> {
  await db('groups').where({ id }).update({ version: db.raw('version + 1'), updated_at: Date.now() });
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('groups').where({ id }).delete();
}

export interface RemovalImpact {
  memberships: number;
  permissions: number;
  shares: number;
  relations: number;
}

/** What goes with a group when it is removed (all by ON DELETE CASCADE). */
export async function removalImpact(db: Conn, id: number): Promise<RemovalImpact> {
  const n = async (q: ReturnType<Conn>) => Number((await q.count({ n: '*' }).first())?.n ?? 0);
  return {
    memberships: await n(db('group_members').where({ group_id: id })),
    permissions: await n(db('domain_permissions').where({ group_id: id })),
    shares: await n(db('asset_shares').where({ group_id: id })),
    relations: await n(db('group_relations').where((w) => w.where({ requester_group_id: id }).orWhere({ approver_group_id: id }))),
  };
}

/** How many of these ids are groups (that still exist). */
export async function countExisting(db: Conn, groupIds: number[]): Promise<number> {
  let n = 0;
  for (const part of chunks([...new Set(groupIds)], ID_CHUNK)) n += Number((await db('groups').whereRaw(`id IN (${idList(part)})`).count({ n: '*' }).first())?.n ?? 0);
  return n;
}

/** For each of these groups: its name and how many domain permissions it carries (deciding who may change its members). */
export async function permissionCounts(db: Conn, groupIds: number[]): Promise<Array<{ id: number; name: string; permissionCount: number }>> {
  const out: Array<{ id: number; name: string; permissionCount: number }> = [];
  for (const part of chunks([...new Set(groupIds)], ID_CHUNK)) {
    const rows = await db('groups')
      .whereRaw(`groups.id IN (${idList(part)})`)
      .select('groups.id', 'groups.name', db('domain_permissions').count('*').whereRaw('domain_permissions.group_id = groups.id').as('permission_count'));
    for (const r of rows) out.push({ id: Number(r.id), name: r.name, permissionCount: Number(r.permission_count) });
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ members

export async function memberCount(db: Conn, groupId: number): Promise<number> {
  return Number((await db('group_members').where({ group_id: groupId }).count({ n: '*' }).first())?.n ?? 0);
}

export interface Classified {
  id: number;
  username: string;
  member: boolean;
  roleId: number | null;
  roleBuiltinKey: string | null;
}

/** For each id that is a user: its username and whether it is a member of the group now. Unknown ids are left out. */
export async function classifyUsers(db: Conn, groupId: number, userIds: number[]): Promise<Classified[]> {
  const out: Classified[] = [];
  for (const part of chunks([...new Set(userIds)], ID_CHUNK)) {
    const rows = await db('users')
      .leftJoin('group_members', (j) => j.on('group_members.user_id', '=', 'users.id').andOn('group_members.group_id', '=', db.raw('?', [groupId])))
      .leftJoin('roles', 'roles.id', 'users.role_id')
      .whereRaw(`users.id IN (${idList(part)})`)
      .select('users.id', 'users.username', 'users.role_id', 'roles.builtin_key', 'group_members.user_id as member_id');
    for (const r of rows) {
      out.push({
        id: Number(r.id),
        username: r.username,
        member: r.member_id !== null && r.member_id !== undefined,
        roleId: r.role_id === null ? null : Number(r.role_id),
        roleBuiltinKey: r.builtin_key ?? null,
      });
    }
  }
  return out;
}

/** Adds memberships in multi-row inserts; rows that already exist are skipped. */
export async function insertMembers(db: Conn, groupId: number, userIds: number[], now = Date.now()): Promise<void> {
  const verb = isMysql(db) ? 'INSERT IGNORE INTO' : 'INSERT OR IGNORE INTO';
  const g = idList([groupId]);
  const t = String(Math.trunc(now));
  for (const part of chunks(userIds, INSERT_CHUNK)) {
    const values = idList(part)
      .split(',')
      .map((u) => `(${g},${u},${t})`)
      .join(',');
    await db.raw(`${verb} group_members (group_id, user_id, added_at) VALUES ${values}`);
  }
}

export async function deleteMembers(db: Conn, groupId: number, userIds: number[]): Promise<void> {
  for (const part of chunks(userIds, ID_CHUNK)) {
    await db('group_members').where({ group_id: groupId }).whereRaw(`user_id IN (${idList(part)})`).delete();
  }
}

export interface MemberRow {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  addedAt: number;
}

/** The group's members, searched like the user list (prefix of username, names or email) and paged. */
export async function listMembers(db: Conn, groupId: number, q: string, limit: number, offset: number): Promise<{ rows: MemberRow[]; total: number }> {
  const filtered = () => {
    const b = db('users').join('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', groupId);
    applySearch(b, q);
    return b;
  };
  const totalRow = await filtered().count({ n: '*' }).first();
  const rows = await filtered()
    .select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email', 'group_members.added_at')
    .orderBy('users.username_lower')
    .limit(limit)
    .offset(offset);
  return {
    rows: rows.map((r: Record<string, unknown>) => ({
      id: Number(r.id),
      username: String(r.username),
      firstName: String(r.first_name),
      lastName: String(r.last_name),
      email: String(r.email),
      addedAt: Number(r.added_at),
    })),
    total: Number(totalRow?.n ?? 0),
  };
}

/** Users not in the group whose username, name or email starts with the text: the "+ Add member" type-ahead. */
/** Members in username order after `afterLower` (keyset pages for exports). */
export async function membersAfter(db: Conn, groupId: number, afterLower: string, limit: number) {
  const rows = await db('users')
    .join('group_members', 'group_members.user_id', 'users.id')
    .where('group_members.group_id', groupId)
    .andWhere('users.username_lower', '>', afterLower)
    .orderBy('users.username_lower')
    .limit(limit)
    .select('users.username', 'users.first_name', 'users.last_name', 'users.email', 'group_members.added_at');
  return rows.map((r: { username: string; first_name: string; last_name: string; email: string; added_at: number }) => ({
    username: r.username,
    firstName: r.first_name,
    lastName: r.last_name,
    email: r.email,
    addedAt: Number(r.added_at),
  }));
}

export async function candidates(db: Conn, groupId: number, text: string, limit: number) {
  const q = db('users')
    .whereNotExists(db('group_members').select(db.raw('1')).whereRaw('group_members.user_id = users.id').andWhere('group_members.group_id', groupId))
    .select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email', 'users.status')
    .orderBy('users.username_lower')
    .limit(limit);
  applySearch(q, text);
  return (await q).map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    username: String(r.username),
    name: [r.first_name, r.last_name].filter(Boolean).join(' '),
    email: String(r.email),
    deactivated: r.status === 'deactivated',
  }));
}

export async function findUsersByNames(db: Conn, usernames: string[]): Promise<Map<string, { id: number; username: string }>> {
  const out = new Map<string, { id: number; username: string }>();
  for (const part of chunks([...new Set(usernames.map((u) => u.toLowerCase()))], 1000)) {
    const rows = await db('users').whereIn('username_lower', part).select('id', 'username', 'username_lower');
    for (const r of rows) out.set(r.username_lower, { id: Number(r.id), username: r.username });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------- relations

export interface Relation {
  requesterId: number;
  requesterName: string;
  approverId: number;
  approverName: string;
  createdAt: number;
}

function relationQuery(db: Conn) {
  return db('group_relations')
    .join('groups as r', 'r.id', 'group_relations.requester_group_id')
    .join('groups as a', 'a.id', 'group_relations.approver_group_id');
}

function toRelation(r: Record<string, unknown>): Relation {
  return {
    requesterId: Number(r.requester_id),
    requesterName: String(r.requester_name),
    approverId: Number(r.approver_id),
    approverName: String(r.approver_name),
    createdAt: Number(r.created_at),
  };
}

const RELATION_COLUMNS = ['r.id as requester_id', 'r.name as requester_name', 'a.id as approver_id', 'a.name as approver_name', 'group_relations.created_at'];

/** All pairs, searched by the start of either group's name, ordered by requester then approver. */
export async function listRelations(db: Conn, q: string, limit: number, offset: number): Promise<{ rows: Relation[]; total: number }> {
  const filtered = () => {
    const b = relationQuery(db);
    const t = q.trim().toLowerCase().slice(0, 100);
    if (t) {
      b.where((w) => {
        w.where((x) => startsWith(x, 'r.name_lower', t)).orWhere((x) => startsWith(x, 'a.name_lower', t));
      });
    }
    return b;
  };
  const totalRow = await filtered().count({ n: '*' }).first();
  const rows = await filtered().select(RELATION_COLUMNS).orderBy('r.name_lower').orderBy('a.name_lower').limit(limit).offset(offset);
  return { rows: rows.map(toRelation), total: Number(totalRow?.n ?? 0) };
}

export async function relationExists(db: Conn, requesterId: number, approverId: number): Promise<boolean> {
  return !!(await db('group_relations').where({ requester_group_id: requesterId, approver_group_id: approverId }).first('created_at'));
}

export async function insertRelation(db: Conn, requesterId: number, approverId: number, now = Date.now()): Promise<void> {
  await db('group_relations').insert({ requester_group_id: requesterId, approver_group_id: approverId, created_at: now });
}

export async function deleteRelation(db: Conn, requesterId: number, approverId: number): Promise<number> {
  return db('group_relations').where({ requester_group_id: requesterId, approver_group_id: approverId }).delete();
}

export interface RelatedGroup {
  id: number;
  name: string;
  memberCount: number;
  createdAt: number;
}

/** The groups that approve for this group (it is their requester), or that request from it (it approves). */
export async function relatedGroups(db: Conn, groupId: number, as: 'requester' | 'approver'): Promise<RelatedGroup[]> {
  const [mine, other] = as === 'requester' ? ['requester_group_id', 'approver_group_id'] : ['approver_group_id', 'requester_group_id'];
  const rows = await db('group_relations')
    .join('groups', 'groups.id', `group_relations.${other}`)
    .where(`group_relations.${mine}`, groupId)
    .select('groups.id', 'groups.name', 'group_relations.created_at', memberCountColumn(db))
    .orderBy('groups.name_lower');
  return rows.map((r: Record<string, unknown>) => ({ id: Number(r.id), name: String(r.name), memberCount: Number(r.member_count ?? 0), createdAt: Number(r.created_at) }));
}

export interface ApproverPath {
  requesterId: number;
  requesterName: string;
  approverId: number;
  approverName: string;
  approverMemberCount: number;
}

/** Every (requester group the user is in → its approver group) pair. */
export async function approverPathsForUser(db: Conn, userId: number): Promise<ApproverPath[]> {
  const rows = await db('group_members')
    .join('group_relations', 'group_relations.requester_group_id', 'group_members.group_id')
    .join('groups as r', 'r.id', 'group_relations.requester_group_id')
    .join('groups as a', 'a.id', 'group_relations.approver_group_id')
    .where('group_members.user_id', userId)
    .select('r.id as requester_id', 'r.name as requester_name', 'a.id as approver_id', 'a.name as approver_name', memberCountColumn(db, 'a.id'))
    .orderBy('a.name_lower')
    .orderBy('r.name_lower');
  return rows.map((r: Record<string, unknown>) => ({
    requesterId: Number(r.requester_id),
    requesterName: String(r.requester_name),
    approverId: Number(r.approver_id),
    approverName: String(r.approver_name),
    approverMemberCount: Number(r.member_count ?? 0),
  }));
}

/** Is the user a member of any of these groups? (Used to note approvers who approve their own models.) */
/** The names of the groups of each of these users, in name order (the CSV export's column). */
export async function groupNamesByMember(db: Conn, userIds: number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  if (!userIds.length) return out;
  const rows = await db('group_members')
    .join('groups', 'groups.id', 'group_members.group_id')
    .whereIn('group_members.user_id', userIds)
    .orderBy('groups.name_lower')
    .select('group_members.user_id', 'groups.name');
  for (const r of rows) {
    const list = out.get(Number(r.user_id)) ?? [];
    list.push(r.name);
    out.set(Number(r.user_id), list);
  }
  return out;
}

export async function memberOfAny(db: Conn, userId: number, groupIds: number[]): Promise<Set<number>> {
  if (!groupIds.length) return new Set();
  const rows = await db('group_members').where('user_id', userId).whereIn('group_id', groupIds.slice(0, 1000)).select('group_id');
  return new Set(rows.map((r: { group_id: number }) => Number(r.group_id)));
}

/** A user's groups: groups on one side, the user's memberships on the other (none yet for a new user). */
export function groupsOfUserSource(db: Conn, userId: number | null): DualListSource {
  return sqlDualListSource({
    db,
    from: (d) => d('groups'),
    idColumn: 'groups.id',
    assignedInDb: (q, assigned) => {
      if (userId === null) {
        if (assigned) q.whereRaw('1 = 0');
        return;
      }
      const member = db('group_members').select(db.raw('1')).whereRaw('group_members.group_id = groups.id').andWhere('group_members.user_id', userId);
      if (assigned) q.whereExists(member);
      else q.whereNotExists(member);
    },
    search: (q, text) => {
      const t = text.trim().toLowerCase();
      if (t) wherePrefix(q, 'groups.name_lower', t);
    },
    orderBy: ['groups.name_lower', 'groups.id'],
    select: ['groups.id', 'groups.name', 'groups.description'],
    toItem: (r) => ({ id: Number(r.id), label: String(r.name), detail: String(r.description ?? '') }),
  });
}
