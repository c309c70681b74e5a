import type { Conn } from '../db/connect';
import { bool, likePrefix } from '../db/connect';
import type { AppPermission } from '../permissions/catalog';

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
  if (q) query.where('roles.name_lower', 'like', `%${likePrefix(q.toLowerCase())}`);
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
