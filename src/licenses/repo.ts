import type { Conn } from '../db/connect';
import { isMysql } from '../db/connect';

export interface LicenseType {
  id: number;
  key: string;
  name: string;
  description: string;
  seatLimit: number | null;
  version: number;
}

interface LicenseRow {
  id: number;
  key: string;
  name: string;
  description: string;
  seat_limit: number | null;
  version: number;
}

const toLicense = (r: LicenseRow): LicenseType => ({
  id: r.id,
  key: r.key,
  name: r.name,
  description: r.description,
  seatLimit: r.seat_limit === null ? null : Number(r.seat_limit),
  version: Number(r.version),
});

export async function all(db: Conn): Promise<LicenseType[]> {
  return (await db('license_types').orderBy('position')).map(toLicense);
}

export async function findById(db: Conn, id: number): Promise<LicenseType | undefined> {
  const r = await db('license_types').where({ id }).first();
  return r ? toLicense(r) : undefined;
}

/** Reads a license type and, on MySQL, locks its row so concurrent seat checks queue behind each other. */
export async function findForUpdate(db: Conn, id: number): Promise<LicenseType | undefined> {
  const q = db('license_types').where({ id });
  if (isMysql(db)) q.forUpdate();
  const r = await q.first();
  return r ? toLicense(r) : undefined;
}

export async function seatsAssigned(db: Conn, licenseTypeId: number): Promise<number> {
  const r = await db('users').where({ license_type_id: licenseTypeId }).count({ n: '*' }).first();
  return Number(r?.n ?? 0);
}

export async function seatCounts(db: Conn): Promise<Map<number, number>> {
  const rows = await db('users').select('license_type_id').count({ n: '*' }).groupBy('license_type_id');
  return new Map(rows.map((r: Record<string, unknown>) => [Number(r.license_type_id), Number(r.n)]));
}

export async function setSeatLimit(db: Conn, id: number, seatLimit: number | null, expectedVersion: number): Promise<boolean> {
  const n = await db('license_types')
    .where({ id, version: expectedVersion })
    .update({ seat_limit: seatLimit, version: expectedVersion + 1 });
  return n === 1;
}

// ---------------------------------------------------------------------------------------------------------
// The licenses page and its API (issue 4).

export async function findByKey(db: Conn, key: string): Promise<LicenseType | undefined> {
  const r = await db('license_types').where({ key }).first();
  return r ? toLicense(r) : undefined;
}

export interface DomainRow {
  id: number;
  key: string;
  name: string;
}

export async function domains(db: Conn): Promise<DomainRow[]> {
  return (await db('domains').orderBy('position').select('id', 'key', 'name')).map((r: DomainRow) => ({ id: Number(r.id), key: r.key, name: r.name }));
}

/** Every cap: license type id → domain id → operations ("RMCD" letters). */
export async function capsTable(db: Conn): Promise<Map<number, Map<number, string>>> {
  const table = new Map<number, Map<number, string>>();
  for (const r of (await db('license_caps').select('license_type_id', 'domain_id', 'operations')) as Array<{
    license_type_id: number;
    domain_id: number;
    operations: string;
  }>) {
    const l = Number(r.license_type_id);
    if (!table.has(l)) table.set(l, new Map());
    table.get(l)!.set(Number(r.domain_id), r.operations);
  }
  return table;
}

/** Sets one cap (inserting the row when a domain was added after the license). */
export async function setCap(db: Conn, licenseTypeId: number, domainId: number, operations: string): Promise<void> {
  const n = await db('license_caps').where({ license_type_id: licenseTypeId, domain_id: domainId }).update({ operations });
  if (!n) await db('license_caps').insert({ license_type_id: licenseTypeId, domain_id: domainId, operations });
}
