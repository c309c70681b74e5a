import type { Knex } from 'knex';
import { APP_PERMISSIONS, BUILT_IN_ROLES } from '../src/permissions/catalog';
import { LICENSE_TYPES, defaultLicenseCaps } from '../src/licenses/catalog';
import { DOMAINS, ROOT_WORKSPACE_NAME } from '../src/access/catalog';
import { recordChange } from '../src/changes/service';
import { transaction } from '../src/db/transaction';

/**
 * Inserts the rows that are missing and updates only those whose values differ. Re-writing unchanged rows
 * would lock them: on Galera a replicated insert that checks a foreign key into one of them (a new user's
 * license type, a permission's domain) then aborts this transaction, again and again while others write.
 */
async function upsertChanged(trx: Knex.Transaction, table: string, key: string, rows: Array<Record<string, unknown>>, onInsert: Record<string, unknown> = {}): Promise<void> {
  const existing = new Map<string, Record<string, unknown>>((await trx(table).select(...Object.keys(rows[0]))).map((r: Record<string, unknown>) => [String(r[key]), r]));
  for (const row of rows) {
    const current = existing.get(String(row[key]));
    if (!current) {
      await trx(table).insert({ ...row, ...onInsert });
      continue;
    }
    const differs = Object.keys(row).some((column) => (typeof row[column] === 'boolean' ? Boolean(current[column]) !== row[column] : current[column] !== row[column]));
    if (differs) await trx(table).where({ [key]: row[key] }).update(row);
  }
}

/**
 * The reference data every installation needs. Idempotent: running it again changes nothing that an
 * administrator may have edited (seat limits, caps, the default role), and re-asserts what is read-only
 * (the catalog of permissions and the built-in roles' permission sets).
 */
export async function seedBase(db: Knex): Promise<void> {
  const now = Date.now();
  // Every server runs this at start-up, possibly while others serve writes on other Galera nodes: a
  // certification conflict must rerun it, not stop the server.
  await transaction(db, async (trx) => {
    await upsertChanged(trx, 'app_permissions', 'key', APP_PERMISSIONS.map((p, i) => ({ key: p.key, label: p.label, area: p.area, description: p.description, position: i + 1 })));
    await upsertChanged(trx, 'license_types', 'key', LICENSE_TYPES.map((l, i) => ({ key: l.key, name: l.name, description: l.description, position: i + 1 })), { seat_limit: null });
    const licenseIds = new Map<string, number>(
      (await trx('license_types').select('id', 'key')).map((r: { id: number; key: string }) => [r.key, r.id]),
    );
    await upsertChanged(trx, 'domains', 'key', DOMAINS.map((d, i) => ({ key: d.key, name: d.name, uses_levels: d.usesLevels, position: i + 1 })));
    const domainIds = new Map<string, number>(
      (await trx('domains').select('id', 'key')).map((r: { id: number; key: string }) => [r.key, r.id]),
    );

    // Caps are editable by a superuser: only fill the ones that are missing.
    const existingCaps = new Set(
      (await trx('license_caps').select('license_type_id', 'domain_id')).map(
        (r: { license_type_id: number; domain_id: number }) => `${r.license_type_id}:${r.domain_id}`,
      ),
    );
    const missingCaps = [];
    for (const l of LICENSE_TYPES) {
      const caps = defaultLicenseCaps(l.key);
      for (const d of DOMAINS) {
        const lid = licenseIds.get(l.key)!;
        const did = domainIds.get(d.key)!;
        if (!existingCaps.has(`${lid}:${did}`)) missingCaps.push({ license_type_id: lid, domain_id: did, operations: caps[d.key].join('') });
      }
    }
    if (missingCaps.length) await trx('license_caps').insert(missingCaps);

    const anyDefault = await trx('roles').where({ is_default: true }).first('id');
    for (const r of BUILT_IN_ROLES) {
      let role = await trx('roles').where({ builtin_key: r.key }).first('id');
      if (!role) {
        await trx('roles').insert({
          name: r.name,
          name_lower: r.name.toLowerCase(),
          description: r.description,
          builtin_key: r.key,
          template_role_id: null,
          license_type_id: licenseIds.get(r.license)!,
          is_default: !anyDefault && r.isDefault,
          created_at: now,
          updated_at: now,
        });
        role = await trx('roles').where({ builtin_key: r.key }).first('id');
      }
      const have = new Set(
        (await trx('role_permissions').where({ role_id: role.id }).select('permission_key')).map(
          (x: { permission_key: string }) => x.permission_key,
        ),
      );
      const want = new Set<string>(r.permissions);
      const add = [...want].filter((k) => !have.has(k));
      const remove = [...have].filter((k) => !want.has(k));
      if (add.length) await trx('role_permissions').insert(add.map((k) => ({ role_id: role.id, permission_key: k })));
      if (remove.length) await trx('role_permissions').where({ role_id: role.id }).whereIn('permission_key', remove).delete();
    }

    const root = await trx('workspaces').whereNull('parent_id').first('id');
    if (!root) {
      await trx('workspaces').insert({
        name: ROOT_WORKSPACE_NAME,
        name_lower: ROOT_WORKSPACE_NAME.toLowerCase(),
        parent_id: null,
        created_at: now,
        updated_at: now,
      });
    }
    // Roles, domains, caps or the root may have changed: every server reloads its decision state.
    await recordChange(trx, { kind: 'rebuild' });
  });
}
