import type { Conn } from '../db/connect';
import { bool, isMysql, likeContains, likePrefix, whereLike } from '../db/connect';
import type { AppPermission } from '../permissions/catalog';
import { applySearch as applyUserSearch } from '../users/repo';

export interface Role {
  id: number;
  name: string;
  description: string;
  builtinKey: string | null;
  templateRoleId: number | null;
  licenseTypeId: number;
  licenseName: string;
  licenseKey: string;
  isDefault: boolean;
  version: number;
  createdAt: number;
  updatedAt: number;
}

interface RoleRow {
  id: number;
  name: string;
  description: string;
  builtin_key: string | null;
  template_role_id: number | null;
  license_type_id: number;
  license_name: string;
  license_key: string;
  is_default: number | boolean;
  version: number;
  created_at: number;
  updated_at: number;
}

function toRole(r: RoleRow): Role {
  return {
    id: r.id,
    name: r.name,
    description: r.description,
    builtinKey: r.builtin_key,
    templateRoleId: r.template_role_id,
    licenseTypeId: r.license_type_id,
    licenseName: r.license_name,
    licenseKey: r.license_key,
    isDefault: bool(r.is_default),
    version: Number(r.version),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function base(db: Conn) {
  return db('roles')
    .join('license_types', 'license_types.id', 'roles.license_type_id')
    .select('roles.*', 'license_types.name as license_name', 'license_types.key as license_key');
}

export async function all(db: Conn): Promise<Role[]> {
  return (await base(db).orderBy('roles.name_lower')).map(toRole);
}

export async function search(db: Conn, q: string): Promise<Role[]> {
  const query = base(db).orderBy('roles.name_lower');
  if (q) whereLike(query, 'roles.name_lower', likeContains(q.toLowerCase()));
  return (await query).map(toRole);
}

export async function findById(db: Conn, id: number): Promise<Role | undefined> {
  const r = await base(db).where('roles.id', id).first();
  return r ? toRole(r) : undefined;
}

export async function findByNameLower(db: Conn, nameLower: string): Promise<Role | undefined> {
  const r = await base(db).where('roles.name_lower', nameLower).first();
  return r ? toRole(r) : undefined;
}

export async function findByBuiltinKey(db: Conn, key: string): Promise<Role | undefined> {
  const r = await base(db).where('roles.builtin_key', key).first();
  return r ? toRole(r) : undefined;
}

export async function findDefault(db: Conn): Promise<Role | undefined> {
  const r = await base(db).where('roles.is_default', true).first();
  return r ? toRole(r) : undefined;
}

export async function permissionsOf(db: Conn, roleId: number): Promise<AppPermission[]> {
  return (await db('role_permissions').where({ role_id: roleId }).select('permission_key')).map(
    (r: { permission_key: AppPermission }) => r.permission_key,
  );
}

export async function userCounts(db: Conn): Promise<Map<number, number>> {
  const rows = await db('users').select('role_id').count({ n: '*' }).groupBy('role_id');
  return new Map(rows.map((r: Record<string, unknown>) => [Number(r.role_id), Number(r.n)]));
}

// ---------------------------------------------------------------------------------------------------------
// Writes and the queries of the roles pages (issue 4).

/** Rows per statement when a list of ids goes into `IN (…)`: well under SQLite's and MySQL's placeholder limits. */
export const ID_CHUNK = 500;

export function chunks<T>(list: T[], size = ID_CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Reads a role and, on MySQL, locks its row until the transaction ends (concurrent saves queue up). */
export async function findForUpdate(db: Conn, id: number): Promise<Role | undefined> {
  const q = base(db).where('roles.id', id);
  if (isMysql(db)) q.forUpdate();
  const r = await q.first();
  return r ? toRole(r) : undefined;
}

export async function builtIns(db: Conn): Promise<Role[]> {
  return (await base(db).whereNotNull('roles.builtin_key').orderBy('roles.id')).map(toRole);
}

export interface NewRole {
  name: string;
  description: string;
  templateRoleId: number | null;
  licenseTypeId: number;
}

/** Inserts a role and returns its id, read back by the unique lower-cased name (ids differ by dialect). */
export async function insert(db: Conn, r: NewRole, now = Date.now()): Promise<number> {
  await db('roles').insert({
    name: r.name,
    name_lower: r.name.toLowerCase(),
    description: r.description,
    builtin_key: null,
    template_role_id: r.templateRoleId,
    license_type_id: r.licenseTypeId,
    is_default: false,
    version: 1,
    created_at: now,
    updated_at: now,
  });
  const row = await db('roles').where('name_lower', r.name.toLowerCase()).first('id');
  return row.id;
}

/** The name of another role spelled like this one (ignoring case), as it is stored; null when free. */
export async function takenName(db: Conn, name: string, exceptId?: number): Promise<string | null> {
  const q = db('roles').where('name_lower', name.toLowerCase());
  if (exceptId) q.whereNot('id', exceptId);
  const row = await q.first('name');
  return row ? String(row.name) : null;
}

export async function nameTaken(db: Conn, name: string, exceptId?: number): Promise<boolean> {
  return (await takenName(db, name, exceptId)) !== null;
}

/** Lower-cased names starting with this prefix (for "X (copy 2)"). */
export async function namesStartingWith(db: Conn, prefix: string): Promise<string[]> {
  return (await whereLike(db('roles'), 'name_lower', likePrefix(prefix.toLowerCase())).select('name_lower')).map(
    (r: { name_lower: string }) => r.name_lower,
  );
}

/**
 * Renames / redescribes a role and bumps its version. With `expectedVersion` it only applies when nobody
 * changed the role meanwhile; returns false otherwise.
 */
export async function update(db: Conn, id: number, patch: { name?: string; description?: string }, expectedVersion?: number): Promise<boolean> {
  const row: Record<string, unknown> = { updated_at: Date.now(), version: db.raw('version + 1') };
  if (patch.name !== undefined) Object.assign(row, { name: patch.name, name_lower: patch.name.toLowerCase() });
  if (patch.description !== undefined) row.description = patch.description;
  const q = db('roles').where({ id });
  if (expectedVersion !== undefined) q.andWhere({ version: expectedVersion });
  return (await q.update(row)) === 1;
}

/** Marks a change that is not a rename (permissions, assignments) so open edit forms notice it. */
export async function bumpVersion(db: Conn, id: number): Promise<void> {
  await db('roles').where({ id }).update({ version: db.raw('version + 1'), updated_at: Date.now() });
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('roles').where({ id }).delete();
}

/** Adds permissions a role does not hold yet; returns those actually added. */
export async function grant(db: Conn, roleId: number, keys: AppPermission[]): Promise<AppPermission[]> {
  if (!keys.length) return [];
  const have = new Set(await permissionsOf(db, roleId));
  const add = [...new Set(keys)].filter((k) => !have.has(k));
  if (add.length) await db('role_permissions').insert(add.map((k) => ({ role_id: roleId, permission_key: k })));
  return add;
}

/** Removes permissions a role holds; returns those actually removed. */
export async function revoke(db: Conn, roleId: number, keys: AppPermission[]): Promise<AppPermission[]> {
  if (!keys.length) return [];
  const have = new Set(await permissionsOf(db, roleId));
  const gone = [...new Set(keys)].filter((k) => have.has(k));
  if (gone.length) await db('role_permissions').where({ role_id: roleId }).whereIn('permission_key', gone).delete();
  return gone;
}

/** Every role's permissions, for the matrix. */
export async function permissionMap(db: Conn): Promise<Map<number, Set<AppPermission>>> {
  const map = new Map<number, Set<AppPermission>>();
  for (const r of (await db('role_permissions').select('role_id', 'permission_key')) as Array<{ role_id: number; permission_key: AppPermission }>) {
    const id = Number(r.role_id);
    if (!map.has(id)) map.set(id, new Set());
    map.get(id)!.add(r.permission_key);
  }
  return map;
}

/** What the decision state keeps of a role: enough to authenticate an API caller from memory. */
export interface RoleEntry {
  id: number;
  name: string;
  builtinKey: string | null;
  permissions: ReadonlySet<AppPermission>;
}

/** Every role, or these roles (a missing id was deleted), with their application permissions. */
export async function loadEntries(db: Conn, ids?: number[]): Promise<RoleEntry[]> {
  const rows: Array<{ id: number; name: string; builtin_key: string | null }> = [];
  const perms: Array<{ role_id: number; permission_key: AppPermission }> = [];
  for (let i = 0; i < (ids ? ids.length : 1); i += 500) {
    const chunk = ids?.slice(i, i + 500);
    const roleQuery = db('roles').select('id', 'name', 'builtin_key');
    const permQuery = db('role_permissions').select('role_id', 'permission_key');
    rows.push(...(await (chunk ? roleQuery.whereIn('id', chunk) : roleQuery)));
    perms.push(...(await (chunk ? permQuery.whereIn('role_id', chunk) : permQuery)));
  }
  const byRole = new Map<number, Set<AppPermission>>();
  for (const p of perms) {
    const id = Number(p.role_id);
    if (!byRole.has(id)) byRole.set(id, new Set());
    byRole.get(id)!.add(p.permission_key);
  }
  return rows.map((r) => ({ id: Number(r.id), name: r.name, builtinKey: r.builtin_key, permissions: byRole.get(Number(r.id)) ?? new Set() }));
}

export async function userCount(db: Conn, roleId: number): Promise<number> {
  const r = await db('users').where({ role_id: roleId }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

/** Makes this role the only default one (run inside a transaction). */
export async function setDefault(db: Conn, id: number): Promise<void> {
  const now = Date.now();
  await db('roles').where('is_default', true).whereNot('id', id).update({ is_default: false, version: db.raw('version + 1'), updated_at: now });
  await db('roles').where({ id }).update({ is_default: true, version: db.raw('version + 1'), updated_at: now });
}

/** The users behind some ids with what the role rules need to know (chunked for long lists). */
export interface RoleHolder {
  id: number;
  username: string;
  roleId: number | null;
  roleName: string | null;
  roleBuiltinKey: string | null;
  status: string;
}

export async function holders(db: Conn, userIds: number[]): Promise<RoleHolder[]> {
  const out: RoleHolder[] = [];
  for (const part of chunks(userIds)) {
    const rows = await db('users')
      .leftJoin('roles', 'roles.id', 'users.role_id')
      .whereIn('users.id', part)
      .select('users.id', 'users.username', 'users.role_id', 'users.status', 'roles.name as role_name', 'roles.builtin_key as role_builtin_key');
    for (const r of rows as Array<Record<string, unknown>>) {
      out.push({
        id: Number(r.id),
        username: String(r.username),
        roleId: r.role_id === null ? null : Number(r.role_id),
        roleName: (r.role_name as string) ?? null,
        roleBuiltinKey: (r.role_builtin_key as string) ?? null,
        status: String(r.status),
      });
    }
  }
  return out;
}

/**
 * Gives these users a role, in chunked bulk UPDATEs that bump each user's version (so an open user form
 * notices). With `onlyFrom`, only users who still hold that role move. Returns how many rows changed.
 */
export async function setRoleOfUsers(db: Conn, userIds: number[], roleId: number, onlyFrom?: number): Promise<number> {
  const now = Date.now();
  let changed = 0;
  for (const part of chunks(userIds)) {
    const q = db('users').whereIn('id', part);
    if (onlyFrom !== undefined) q.andWhere('role_id', onlyFrom);
    else q.andWhere((b) => b.whereNot('role_id', roleId).orWhereNull('role_id'));
    changed += await q.update({ role_id: roleId, version: db.raw('version + 1'), updated_at: now });
  }
  return changed;
}

/** Moves every holder of one role to another (role removal). Returns how many moved. */
export async function moveAllUsers(db: Conn, fromRoleId: number, toRoleId: number): Promise<number> {
  return db('users').where({ role_id: fromRoleId }).update({ role_id: toRoleId, version: db.raw('version + 1'), updated_at: Date.now() });
}

export async function usernamesOfRole(db: Conn, roleId: number, limit: number): Promise<string[]> {
  return (await db('users').where({ role_id: roleId }).orderBy('username_lower').limit(limit).select('username')).map((r: { username: string }) => r.username);
}

/** A page of a role's users, searched like the user list. */
export async function usersOfRole(db: Conn, roleId: number, q: string, limit: number, offset: number) {
  const scoped = () => {
    const query = db('users').where('users.role_id', roleId);
    applyUserSearch(query, q);
    return query;
  };
  const total = Number((await scoped().count({ n: '*' }).first())?.n ?? 0);
  const rows = await scoped()
    .leftJoin('license_types', 'license_types.id', 'users.license_type_id')
    .select('users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email', 'users.status', 'license_types.key as license_key')
    .orderBy('users.username_lower')
    .limit(limit)
    .offset(offset);
  return { rows: rows as Array<Record<string, unknown>>, total };
}

/** Which of these usernames exist, with their ids (case-insensitive). */
export async function idsOfUsernames(db: Conn, usernames: string[]): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  for (const part of chunks([...new Set(usernames.map((u) => u.toLowerCase()))])) {
    for (const r of (await db('users').whereIn('username_lower', part).select('id', 'username_lower')) as Array<{ id: number; username_lower: string }>) {
      map.set(r.username_lower, Number(r.id));
    }
  }
  return map;
}

/** The application permission keys the database holds (the seeded catalog). */
export async function storedPermissionKeys(db: Conn): Promise<string[]> {
  return (await db('app_permissions').select('key')).map((r: { key: string }) => r.key);
}
