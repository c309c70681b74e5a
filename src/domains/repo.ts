import type { Conn } from '../db/connect';
import { bool, isMysql } from '../db/connect';

/** The domain catalog: the seeded domains (src/access/catalog.ts) and those a Superuser added. */
export interface Domain {
  id: number;
  key: string;
  name: string;
  usesLevels: boolean;
  position: number;
}

export interface DomainWithUse extends Domain {
  /** Domain permissions granted in this domain. */
  permissions: number;
}

function toDomain(r: Record<string, unknown>): Domain {
  return { id: Number(r.id), key: String(r.key), name: String(r.name), usesLevels: bool(r.uses_levels), position: Number(r.position) };
}

export async function all(db: Conn): Promise<DomainWithUse[]> {
  const counts = new Map<number, number>(
    (await db('domain_permissions').groupBy('domain_id').select('domain_id').count({ n: '*' })).map((r: Record<string, unknown>) => [Number(r.domain_id), Number(r.n)]),
  );
  return (await db('domains').orderBy('position').orderBy('id')).map((r: Record<string, unknown>) => {
    const d = toDomain(r);
    return { ...d, permissions: counts.get(d.id) ?? 0 };
  });
}

export async function findByKey(db: Conn, key: string): Promise<Domain | undefined> {
  const r = await db('domains').where({ key }).first();
  return r ? toDomain(r) : undefined;
}

export async function findById(db: Conn, id: number): Promise<Domain | undefined> {
  const r = await db('domains').where({ id }).first();
  return r ? toDomain(r) : undefined;
}

/** Reads a domain and, on MySQL, locks its row until the transaction ends. */
export async function findForUpdate(db: Conn, id: number): Promise<Domain | undefined> {
  const q = db('domains').where({ id });
  if (isMysql(db)) q.forUpdate();
  const r = await q.first();
  return r ? toDomain(r) : undefined;
}

/** Every key and name (lower-cased) with the domain they belong to: a domain is found by either. */
export async function identifiers(db: Conn): Promise<Array<{ id: number; key: string; name: string }>> {
  return (await db('domains').select('id', 'key', 'name')).map((r: { id: number; key: string; name: string }) => ({ id: Number(r.id), key: r.key.toLowerCase(), name: r.name.toLowerCase() }));
}

export async function insert(db: Conn, d: { key: string; name: string; usesLevels: boolean }): Promise<number> {
  const max = (await db('domains').max({ p: 'position' }).first()) as { p: number | null } | undefined;
  await db('domains').insert({ key: d.key, name: d.name, uses_levels: d.usesLevels, position: Number(max?.p ?? 0) + 1 });
  return Number((await db('domains').where({ key: d.key }).first('id')).id);
}

export async function update(db: Conn, id: number, patch: { key?: string; name?: string; usesLevels?: boolean }): Promise<void> {
  const row: Record<string, unknown> = {};
  if (patch.key !== undefined) row.key = patch.key;
  if (patch.name !== undefined) row.name = patch.name;
  if (patch.usesLevels !== undefined) row.uses_levels = patch.usesLevels;
  if (Object.keys(row).length) await db('domains').where({ id }).update(row);
}

export async function remove(db: Conn, id: number): Promise<void> {
  await db('license_caps').where({ domain_id: id }).delete();
  await db('domains').where({ id }).delete();
}

export async function countPermissions(db: Conn, id: number): Promise<number> {
  const r = (await db('domain_permissions').where({ domain_id: id }).count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(r?.n ?? 0);
}

/** The license types, for the caps a new domain starts with. */
export async function licenseTypes(db: Conn): Promise<Array<{ id: number; key: string }>> {
  return (await db('license_types').select('id', 'key')).map((r: { id: number; key: string }) => ({ id: Number(r.id), key: r.key }));
}

export async function insertCaps(db: Conn, domainId: number, caps: Array<{ licenseTypeId: number; operations: string }>): Promise<void> {
  if (caps.length) await db('license_caps').insert(caps.map((c) => ({ license_type_id: c.licenseTypeId, domain_id: domainId, operations: c.operations })));
}

/** The keys of the domains stored: the start-up check compares them with the seeded catalog. */
export async function storedKeys(db: Conn): Promise<string[]> {
  return (await db('domains').select('key')).map((r: { key: string }) => r.key);
}
