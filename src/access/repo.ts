import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { bool, countOf, inIdChunks } from '../db/connect';
import { applySearch } from '../users/repo';
import type { CapInput, DomainInput, LicenseInput, WorkspaceInput } from './accessIndex';
import type { DomainKey, Rule } from './engine';

// ---- what the decision state is built from (all at start-up, then the entities a change names) ---------

export async function loadWorkspaces(db: Conn, ids?: number[]): Promise<WorkspaceInput[]> {
  const rows = await inIdChunks(ids, async (chunk) => {
    const q = db('workspaces').select('id', 'name', 'parent_id', 'external_key');
    return chunk ? q.whereIn('id', chunk) : q;
  });
  return rows.map((r: { id: number; name: string; parent_id: number | null; external_key: string | null }) => ({
    id: Number(r.id),
    name: r.name,
    parentId: r.parent_id === null ? null : Number(r.parent_id),
    externalKey: r.external_key ?? null,
  }));
}

/** Every rule, or those with these ids, or those of these groups. */
export async function loadRules(db: Conn, only?: { ids: number[] } | { groupIds: number[] }): Promise<Rule[]> {
  const column = only && 'ids' in only ? 'p.id' : 'p.group_id';
  const rows = await inIdChunks(only ? ('ids' in only ? only.ids : only.groupIds) : undefined, async (chunk) => {
    const q = db('domain_permissions as p')
      .join('groups as g', 'g.id', 'p.group_id')
      .join('domains as d', 'd.id', 'p.domain_id')
      .select('p.id', 'p.group_id', 'g.name as group_name', 'p.effect', 'd.key as domain_key', 'p.workspace_id', 'p.transitive')
      .select('p.can_read', 'p.can_modify', 'p.can_create', 'p.can_delete', 'p.level', 'p.priority');
    return chunk ? q.whereIn(column, chunk) : q;
  });
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    groupId: Number(r.group_id),
    groupName: String(r.group_name),
    effect: r.effect === 'deny' ? 'deny' : 'allow',
    domainKey: String(r.domain_key) as DomainKey,
    workspaceId: Number(r.workspace_id),
    transitive: bool(r.transitive),
    ops: { R: bool(r.can_read), M: bool(r.can_modify), C: bool(r.can_create), D: bool(r.can_delete) },
    level: Number(r.level),
    priority: r.priority === 'high' ? 'high' : 'low',
  }));
}

export async function loadCaps(db: Conn): Promise<CapInput[]> {
  return (
    await db('license_caps as c')
      .join('license_types as l', 'l.id', 'c.license_type_id')
      .join('domains as d', 'd.id', 'c.domain_id')
      .select('l.key as license_key', 'd.key as domain_key', 'c.operations')
  ).map((r: { license_key: string; domain_key: string; operations: string }) => ({ licenseKey: r.license_key, domainKey: r.domain_key, ops: r.operations }));
}

export async function loadDomains(db: Conn): Promise<DomainInput[]> {
  return (await db('domains').orderBy('position').select('key', 'name', 'uses_levels')).map((r: { key: string; name: string; uses_levels: unknown }) => ({
    key: r.key,
    name: r.name,
    usesLevels: bool(r.uses_levels),
  }));
}

/** License types in their order (`position`), with their ids for the console's filters. */
export async function loadLicenses(db: Conn): Promise<Array<LicenseInput & { id: number }>> {
  return (await db('license_types').orderBy('position').select('id', 'key', 'name')).map((r: { id: number; key: string; name: string }) => ({ id: Number(r.id), key: r.key, name: r.name }));
}

// ---- accounts (the subjects of decisions and the callers of the API) ----------------------------------

export interface AccountRow {
  id: number;
  username: string;
  firstName: string;
  lastName: string;
  email: string;
  status: string;
  lockedUntil: number | null;
  licenseTypeId: number | null;
  licenseKey: string | null;
  roleId: number | null;
  source: 'local' | 'sso';
  createdAt: number;
  /** As read with the account: later sign-ins are known to src/users/presence.ts. */
  lastLoginAt: number | null;
}

/** Every account, or those with these ids (an id missing from the answer was deleted). */
export async function loadAccounts(db: Conn, ids?: number[]): Promise<AccountRow[]> {
  const rows = await inIdChunks(ids, async (chunk) => {
    const q = db('users')
      .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
      .select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email', 'users.status', 'users.locked_until')
      .select('users.license_type_id', 'license_types.key as license_key', 'users.role_id', 'users.source', 'users.created_at', 'users.last_login_at');
    return chunk ? q.whereIn('users.id', chunk) : q;
  });
  return rows.map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    username: String(r.username),
    firstName: String(r.first_name),
    lastName: String(r.last_name),
    email: String(r.email),
    status: String(r.status),
    lockedUntil: r.locked_until === null ? null : Number(r.locked_until),
    licenseTypeId: r.license_type_id === null ? null : Number(r.license_type_id),
    licenseKey: r.license_key === null || r.license_key === undefined ? null : String(r.license_key),
    roleId: r.role_id === null ? null : Number(r.role_id),
    source: r.source === 'sso' ? 'sso' : 'local',
    createdAt: Number(r.created_at),
    lastLoginAt: r.last_login_at === null ? null : Number(r.last_login_at),
  }));
}

/** Group ids by user: of every user, or of these users (each of them gets an entry, possibly empty). */
export async function loadMemberships(db: Conn, userIds?: number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const u of userIds ?? []) out.set(u, []);
  const rows = await inIdChunks(userIds, async (chunk) => {
    const q = db('group_members').select('user_id', 'group_id');
    return chunk ? q.whereIn('user_id', chunk) : q;
  });
  for (const m of rows as Array<{ user_id: number; group_id: number }>) {
    const u = Number(m.user_id);
    let list = out.get(u);
    if (!list) out.set(u, (list = []));
    list.push(Number(m.group_id));
  }
  return out;
}

/** The members of one group. */
export async function memberIdsOf(db: Conn, groupId: number): Promise<number[]> {
  return (await db('group_members').where('group_id', groupId).select('user_id')).map((r: { user_id: number }) => Number(r.user_id));
}

/** Which of these groups exist. */
export async function existingGroupIds(db: Conn, groupIds: number[]): Promise<Set<number>> {
  const rows = await inIdChunks(groupIds, async (chunk) => db('groups').whereIn('id', chunk!).select('id'));
  return new Set(rows.map((r: { id: number }) => Number(r.id)));
}

// ---- the reverse view ----------------------------------------------------------------------------------

export interface WhoMayFilter {
  /** Groups with a matching rule, by class. */
  highDeny: number[];
  highAllow: number[];
  lowDeny: number[];
  lowAllow: number[];
  /** License type keys whose cap includes the operation in the domain. */
  licensesAllowing: string[];
  now: number;
  allowed: boolean;
  q?: string;
}

/** The members of any of these groups, as a subquery (evaluated once, not per user). */
function membersOf(db: Conn, groupIds: number[]): Knex.QueryBuilder {
  return db('group_members').select('group_members.user_id').whereIn('group_members.group_id', groupIds);
}

/**
 * The users whose rules allow, as one subquery over memberships: (High Allow ∪ (Low Allow − Low Deny)),
 * High Deny members being taken out by the caller. Null when no group allows.
 */
function ruleAllowed(db: Conn, f: WhoMayFilter): Knex.QueryBuilder | null {
  const lowAllow = f.lowAllow.length
    ? f.lowDeny.length
      ? membersOf(db, f.lowAllow).whereNotIn('group_members.user_id', membersOf(db, f.lowDeny))
      : membersOf(db, f.lowAllow)
    : null;
  if (f.highAllow.length && lowAllow) return membersOf(db, f.highAllow).union(lowAllow);
  return f.highAllow.length ? membersOf(db, f.highAllow) : lowAllow;
}

/**
 * The users the decision allows, in SQL — the same logic as decide(), lifted to sets of groups:
 * account ok ∧ license allows ∧ ¬(in a High Deny group) ∧ (in a High Allow group ∨ (¬ in a Low Deny group ∧ in a Low Allow group)).
 * The membership sets are non-correlated subqueries: the database computes each once and then drives from
 * them (allowed) or probes them while walking the username index (denied).
 */
function allowedCondition(db: Conn, f: WhoMayFilter, allowedByRules: Knex.QueryBuilder) {
  return (b: Knex.QueryBuilder) => {
    b.where('users.status', 'active')
      .andWhere((w) => w.whereNull('users.locked_until').orWhere('users.locked_until', '<=', f.now))
      // NOT NULL first: under NOT (…) a NULL license must make the whole condition false, not unknown.
      .whereNotNull('users.license_type_id')
      .whereIn('users.license_type_id', db('license_types').whereIn('key', f.licensesAllowing).select('id'))
      .whereIn('users.id', allowedByRules);
    if (f.highDeny.length) b.whereNotIn('users.id', membersOf(db, f.highDeny));
  };
}

function searched(db: Conn, q?: string): Knex.QueryBuilder {
  const query = db('users');
  applySearch(query, q);
  return query;
}

/** One page (by username) of the users allowed (or, with allowed: false, not allowed) and how many there are. */
export async function whoMay(db: Conn, f: WhoMayFilter, limit: number, offset: number, after?: string): Promise<{ ids: number[]; total: number }> {
  const byRules = f.licensesAllowing.length ? ruleAllowed(db, f) : null;
  const cond = byRules ? allowedCondition(db, f, byRules) : null;
  const allowedCount = cond ? await countOf(searched(db, f.q).where(cond)) : 0;
  const total = f.allowed ? allowedCount : (await countOf(searched(db, f.q))) - allowedCount;
  if (!total || offset >= total) return { ids: [], total };
  const page = searched(db, f.q).select('users.id').orderBy('users.username_lower').orderBy('users.id').limit(limit).offset(offset);
  // Keyset paging (cursors): usernames are unique ignoring case, so the lower-cased one orders completely.
  if (after !== undefined) page.where('users.username_lower', '>', after);
  if (f.allowed) page.where(cond!);
  else if (cond) page.whereNot(cond);
  return { ids: (await page).map((r: { id: number }) => Number(r.id)), total };
}
