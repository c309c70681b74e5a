import type { Knex } from 'knex';

/**
 * SCIM 2.0 provisioning (issue 13): the directory's own id for a user or group (`externalId`, RFC 7643
 * §3.1). It is optional and unique, and it compares exactly (caseExact): on MySQL/MariaDB the column gets a
 * binary collation, as other identifiers do, so "ABC" and "abc" are two ids there as they are in SQLite.
 */

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

async function exactCollation(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('SELECT VERSION() AS v')) as [Array<{ v: string }>];
  return /mariadb/i.test(rows[0].v) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

export async function up(knex: Knex): Promise<void> {
  const collation = isMysql(knex) ? await exactCollation(knex) : undefined;
  for (const table of ['users', 'groups']) {
    await knex.schema.alterTable(table, (t) => {
      const column = t.string('external_id', 255).nullable();
      if (collation) column.collate(collation);
      t.unique(['external_id'], { indexName: `${table}_external_id_unique` });
    });
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['users', 'groups']) {
    await knex.schema.alterTable(table, (t) => {
      t.dropUnique(['external_id'], `${table}_external_id_unique`);
    });
    await knex.schema.alterTable(table, (t) => {
      t.dropColumn('external_id');
    });
  }
}
