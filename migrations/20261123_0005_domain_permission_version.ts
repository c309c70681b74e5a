import type { Knex } from 'knex';

/**
 * Domain permissions get a version like every other editable row, so that two administrators editing the
 * same permission never silently overwrite each other (the second save is refused with a clear message).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('domain_permissions', (t) => {
    t.integer('version').notNullable().defaultTo(1);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('domain_permissions', (t) => {
    t.dropColumn('version');
  });
}
