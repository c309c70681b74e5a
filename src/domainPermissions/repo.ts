import type { Conn } from '../db/connect';
import { bool, isMysql } from '../db/connect';
import type { Operation } from '../access/catalog';

/** Knex queries over `domain_permissions` (a group's Allow/Deny rules on a domain and a workspace). */

export type Effect = 'allow' | 'deny';
export type Priority = 'high' | 'low';
export type Ops = Record<Operation, boolean>;

export interface DomainPermission {
  id: number;
  groupId: number;
  groupName: string;
  effect: Effect;
  domainId: number;
  domainKey: string;
  domainName: string;
  usesLevels: boolean;
  workspaceId: number;
  transitive: boolean;
  ops: Ops;
  level: number;
  priority: Priority;
  version: number;
  createdAt: number;
  updatedAt: number;
}

export interface PermissionRow {
  groupId: number;
  effect: Effect;
  domainId: number;
  workspaceId: number;
  transitive: boolean;
  ops: Ops;
  level: number;
  priority: Priority;
}

export interface Domain {
  id: number;
  key: string;
  name: string;
  usesLevels: boolean;
}

function base(db: Conn) {
  return db('domain_permissions as p')
    .join('groups as g', 'g.id', 'p.group_id')
    .join('domains as d', 'd.id', 'p.domain_id')
    .select(
      'p.*',
      'g.name as group_name',
      'd.key as domain_key',
      'd.name as domain_name',
      'd.uses_levels as uses_levels',
      'd.position as domain_position',
    );
}

function toPermission(r: Record<string, unknown>): DomainPermission {
  return {
    id: Number(r.id),
    groupId: Number(r.group_id),
    groupName: String(r.group_name),
    effect: r.effect === 'deny' ? 'deny' : 'allow',
    domainId: Number(r.domain_id),
    domainKey: String(r.domain_key),
    domainName: String(r.domain_name),
    usesLevels: bool(r.uses_levels),
    workspaceId: Number(r.workspace_id),
    transitive: bool(r.transitive),
    ops: { R: bool(r.can_read), M: bool(r.can_modify), C: bool(r.can_create), D: bool(r.can_delete) },
    level: Number(r.level),
    priority: r.priority === 'high' ? 'high' : 'low',
    version: Number(r.version ?? 1),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function columns(p: PermissionRow) {
  return {
    group_id: p.groupId,
    effect: p.effect,
    domain_id: p.domainId,
    workspace_id: p.workspaceId,
    transitive: p.transitive,
    can_read: p.ops.R,
    can_modify: p.ops.M,
    can_create: p.ops.C,
    can_delete: p.ops.D,
    level: p.level,
    priority: p.priority,
  };
}

export async function findById(db: Conn, id: number): Promise<DomainPermission | undefined> {
  const r = await base(db).where('p.id', id).first();
  return r ? toPermission(r) : undefined;
}

/** Reads the permission and, on MySQL, locks its row until the transaction ends. */
export async function findForUpdate(db: Conn, id: number): Promise<DomainPermission | undefined> {
  const q = db('domain_permissions').where({ id });
  if (isMysql(db)) q.forUpdate();
  if (!(await q.first('id'))) return undefined;
  return findById(db, id);
}

/** A group's permissions, by domain (catalog order), strongest class first, then oldest first. */
export async function listForGroup(db: Conn, groupId: number, limit: number, offset: number): Promise<{ rows: DomainPermission[]; total: number }> {
  const total = Number((await db('domain_permissions').where({ group_id: groupId }).count({ n: '*' }).first())?.n ?? 0);
  const rows = await base(db)
    .where('p.group_id', groupId)
    .orderBy([
      { column: 'd.position', order: 'asc' },
      { column: 'p.priority', order: 'asc' },
      { column: 'p.effect', order: 'desc' },
      { column: 'p.id', order: 'asc' },
    ])
    .limit(limit)
    .offset(offset);
  return { rows: rows.map(toPermission), total };
}

/** The group's permission identical to this one in every attribute, if any (except the one being edited). */
export async function findIdentical(db: Conn, p: PermissionRow, exceptId?: number): Promise<number | undefined> {
  const q = db('domain_permissions').where(columns(p)).first('id');
  if (exceptId !== undefined) q.whereNot('id', exceptId);
  const r = await q;
  return r ? Number(r.id) : undefined;
}

export async function insert(db: Conn, p: PermissionRow, now = Date.now()): Promise<number> {
  // A single-row insert answers its own id on both dialects (MySQL: this connection's LAST_INSERT_ID, so
  // inserts on other Galera nodes cannot interfere). Never "the highest id": ids jump by the node count and
  // a concurrent identical permission may hold a higher one.
  const [id] = await db('domain_permissions').insert({ ...columns(p), version: 1, created_at: now, updated_at: now });
  return Number(id);
}

export async function update(db: Conn, id: number, p: PermissionRow, expectedVersion: number, now = Date.now()): Promise<boolean> {
  const n = await db('domain_permissions')
    .where({ id, version: expectedVersion })
    .update({ ...columns(p), version: expectedVersion + 1, updated_at: now });
  return n === 1;
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('domain_permissions').where({ id }).delete();
}

export async function domains(db: Conn): Promise<Domain[]> {
  return (await db('domains').orderBy('position').select('id', 'key', 'name', 'uses_levels')).map((r: Record<string, unknown>) => ({
    id: Number(r.id),
    key: String(r.key),
    name: String(r.name),
    usesLevels: bool(r.uses_levels),
  }));
}

export interface GroupRef {
  id: number;
  name: string;
}

export async function findGroup(db: Conn, id: number): Promise<GroupRef | undefined> {
  const r = await db('groups').where({ id }).first('id', 'name');
  return r ? { id: Number(r.id), name: String(r.name) } : undefined;
}

export async function findGroupByName(db: Conn, name: string): Promise<GroupRef | undefined> {
  const r = await db('groups').where({ name_lower: name.trim().toLowerCase() }).first('id', 'name');
  return r ? { id: Number(r.id), name: String(r.name) } : undefined;
}

/** Locks the group's row (MySQL) so it cannot be removed while one of its permissions is written. */
export async function lockGroup(db: Conn, id: number): Promise<GroupRef | undefined> {
  const q = db('groups').where({ id });
  if (isMysql(db)) q.forUpdate();
  const r = await q.first('id', 'name');
  return r ? { id: Number(r.id), name: String(r.name) } : undefined;
}
