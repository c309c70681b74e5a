import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { bool } from '../db/connect';
import { applySearch } from '../users/repo';
import type { CapInput, DomainInput, LicenseInput, WorkspaceInput } from './accessIndex';
import type { DomainKey, Rule, Subject } from './engine';

// ---- what the index is built from (read once per `access_version`) -------------------------------------

export async function loadWorkspaces(db: Conn): Promise<WorkspaceInput[]> {
  return (await db('workspaces').select('id', 'name', 'parent_id', 'external_key')).map(
    (r: { id: number; name: string; parent_id: number | null; external_key: string | null }) => ({
      id: Number(r.id),
      name: r.name,
      parentId: r.parent_id === null ? null : Number(r.parent_id),
      externalKey: r.external_key ?? null,
    }),
  );
}

export async function loadRules(db: Conn): Promise<Rule[]> {
  const rows = await db('domain_permissions as p')
    .join('groups as g', 'g.id', 'p.group_id')
    .join('domains as d', 'd.id', 'p.domain_id')
    .select(
      'p.id',
      'p.group_id',
      'g.name as group_name',
      'p.effect',
      'd.key as domain_key',
      'p.workspace_id',
      'p.transitive',
      'p.can_read',
      'p.can_modify',
      'p.can_create',
      'p.can_delete',
      'p.level',
      'p.priority',
    );
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

export async function loadLicenses(db: Conn): Promise<LicenseInput[]> {
  return (await db('license_types').orderBy('position').select('key', 'name')).map((r: { key: string; name: string }) => ({ key: r.key, name: r.name }));
}

// ---- subjects (read per check: never cached) -----------------------------------------------------------

interface SubjectRow {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  status: string;
  locked_until: number | string | null;
  license_key: string | null;
}

export interface SubjectWithName extends Subject {
  firstName: string;
  lastName: string;
}

function subjectQuery(db: Conn) {
  return db('users')
    .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
    .select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.status', 'users.locked_until', 'license_types.key as license_key');
}

function toSubject(r: SubjectRow, groupIds: number[]): SubjectWithName {
  return {
    userId: Number(r.id),
    username: r.username,
    firstName: r.first_name,
    lastName: r.last_name,
    active: r.status === 'active',
    lockedUntil: r.locked_until === null ? null : Number(r.locked_until),
    licenseKey: r.license_key ?? null,
    groupIds,
  };
}

/** Two indexed queries: the user (by id or case-insensitive username) and the user's group ids. */
export async function findSubject(db: Conn, ref: { id: number } | { username: string }): Promise<SubjectWithName | undefined> {
  const q = subjectQuery(db);
  if ('id' in ref) q.where('users.id', ref.id);
  else q.where('users.username_lower', ref.username.toLowerCase());
  const r = (await q.first()) as SubjectRow | undefined;
  if (!r) return undefined;
  const groups = (await db('group_members').where('user_id', r.id).select('group_id')).map((g: { group_id: number }) => Number(g.group_id));
  return toSubject(r, groups);
}

/** Several subjects by username (lower-cased keys in the answer); two queries per chunk of 500. */
export async function findSubjectsByUsername(db: Conn, usernames: string[]): Promise<Map<string, SubjectWithName>> {
  const out = new Map<string, SubjectWithName>();
  const lower = [...new Set(usernames.map((u) => u.toLowerCase()))];
  for (let i = 0; i < lower.length; i += 500) {
    const chunk = lower.slice(i, i + 500);
    const rows = (await subjectQuery(db).whereIn('users.username_lower', chunk)) as SubjectRow[];
    const groups = await groupIdsByUser(db, rows.map((r) => Number(r.id)));
    for (const r of rows) out.set(r.username.toLowerCase(), toSubject(r, groups.get(Number(r.id)) ?? []));
  }
  return out;
}

async function groupIdsByUser(db: Conn, userIds: number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  if (!userIds.length) return out;
  for (const m of await db('group_members').whereIn('user_id', userIds).select('user_id', 'group_id')) {
    const u = Number(m.user_id);
    let list = out.get(u);
    if (!list) out.set(u, (list = []));
    list.push(Number(m.group_id));
  }
  return out;
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

async function count(q: Knex.QueryBuilder): Promise<number> {
  const row = (await q.count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/** One page (by username) of the users allowed (or, with allowed: false, not allowed) and how many there are. */
export async function whoMay(db: Conn, f: WhoMayFilter, limit: number, offset: number, after?: string): Promise<{ ids: number[]; total: number }> {
  const byRules = f.licensesAllowing.length ? ruleAllowed(db, f) : null;
  const cond = byRules ? allowedCondition(db, f, byRules) : null;
  const allowedCount = cond ? await count(searched(db, f.q).where(cond)) : 0;
  const total = f.allowed ? allowedCount : (await count(searched(db, f.q))) - allowedCount;
  if (!total || offset >= total) return { ids: [], total };
  const page = searched(db, f.q).select('users.id').orderBy('users.username_lower').orderBy('users.id').limit(limit).offset(offset);
  // Keyset paging (cursors): usernames are unique ignoring case, so the lower-cased one orders completely.
  if (after !== undefined) page.where('users.username_lower', '>', after);
  if (f.allowed) page.where(cond!);
  else if (cond) page.whereNot(cond);
  return { ids: (await page).map((r: { id: number }) => Number(r.id)), total };
}

export async function findSubjectsById(db: Conn, ids: number[]): Promise<Map<number, SubjectWithName>> {
  const out = new Map<number, SubjectWithName>();
  if (!ids.length) return out;
  const rows = (await subjectQuery(db).whereIn('users.id', ids)) as SubjectRow[];
  const groups = await groupIdsByUser(db, ids);
  for (const r of rows) out.set(Number(r.id), toSubject(r, groups.get(Number(r.id)) ?? []));
  return out;
}
