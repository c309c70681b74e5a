import type { Knex } from 'knex';

/**
 * Domains a Superuser adds and an external key on workspaces (issue 11, AuthZEN):
 * - `workspaces.external_key`: optional and unique — the suite's own id for the object a workspace stands
 *   for (an AuthZEN resource id such as `record-1`). Compared byte for byte on MySQL/MariaDB (binary
 *   collation), as ids are; NULL for the many workspaces that have none (NULLs never clash).
 * - the `domain_catalog` guard row: adding, renaming and removing domains serialise on it, because a
 *   domain is found by its key or its name case-insensitively, a rule across two columns and many rows.
 * The `domains` table itself already holds key, name, uses_levels and position.
 */

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

async function exactCollation(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('SELECT VERSION() AS v')) as [Array<{ v: string }>];
  return /mariadb/i.test(rows[0].v) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

export async function up(knex: Knex): Promise<void> {
  const collation = isMysql(knex) ? await exactCollation(knex) : undefined;
  await knex.schema.alterTable('workspaces', (t) => {
    const column = t.string('external_key', 200).nullable();
    if (collation) column.collate(collation);
    t.unique(['external_key'], { indexName: 'workspaces_external_key_unique' });
  });
  await knex('invariant_guards').insert({ name: 'domain_catalog', writes: 0 }).onConflict('name').ignore();
}

export async function down(knex: Knex): Promise<void> {
  await knex('invariant_guards').where({ name: 'domain_catalog' }).delete();
  await knex.schema.alterTable('workspaces', (t) => {
    t.dropUnique(['external_key'], 'workspaces_external_key_unique');
  });
  await knex.schema.alterTable('workspaces', (t) => {
    t.dropColumn('external_key');
  });
}
