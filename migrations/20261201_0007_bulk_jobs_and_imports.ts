import type { Knex } from 'knex';

/**
 * Working tables of bulk administration (issue 14).
 *
 * - `bulk_jobs`: one row per bulk action an administrator confirmed. The row is written when the action
 *   starts and completed in the action's own transaction, so its result commits with the change (and a
 *   result page reached from any server, or reloaded, shows what happened).
 * - `csv_imports` / `csv_import_rows`: an uploaded file, checked row by row (the dry run). Nothing else is
 *   written until the administrator confirms; the rows wait here so that the confirmation (from any server)
 *   imports exactly what the dry run showed, re-checked. Old ones are cleared when new ones are made.
 * - Indexes that let the users list sort by role, license and status one page at a time.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('bulk_jobs', (t) => {
    t.string('id', 32).primary();
    t.integer('actor_id').unsigned().nullable();
    t.string('action', 40).notNullable();
    t.integer('total').notNullable().defaultTo(0);
    t.string('state', 20).notNullable().defaultTo('running');
    t.text('result_json', 'longtext').nullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('finished_at').nullable();
    t.index(['created_at']);
  });
  await knex.schema.createTable('csv_imports', (t) => {
    t.string('id', 32).primary();
    t.integer('actor_id').unsigned().nullable();
    t.string('file_name', 255).notNullable().defaultTo('');
    t.string('state', 20).notNullable().defaultTo('checked');
    t.integer('total_rows').notNullable().defaultTo(0);
    t.integer('valid_rows').notNullable().defaultTo(0);
    t.text('summary_json', 'longtext').nullable();
    t.bigInteger('created_at').notNullable();
    t.index(['created_at']);
  });
  await knex.schema.createTable('csv_import_rows', (t) => {
    t.string('import_id', 32).notNullable().references('csv_imports.id').onDelete('CASCADE');
    t.integer('line').notNullable();
    t.string('outcome', 20).notNullable();
    t.text('data_json').notNullable();
    t.text('messages_json').nullable();
    t.primary(['import_id', 'line']);
    t.index(['import_id', 'outcome', 'line']);
  });
  await knex.schema.alterTable('users', (t) => {
    t.index(['role_id', 'username_lower'], 'users_role_username_index');
    t.index(['license_type_id', 'username_lower'], 'users_license_username_index');
    t.index(['status', 'username_lower'], 'users_status_username_index');
    t.index(['locked_until'], 'users_locked_until_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.dropIndex(['role_id', 'username_lower'], 'users_role_username_index');
    t.dropIndex(['license_type_id', 'username_lower'], 'users_license_username_index');
    t.dropIndex(['status', 'username_lower'], 'users_status_username_index');
    t.dropIndex(['locked_until'], 'users_locked_until_index');
  });
  await knex.schema.dropTableIfExists('csv_import_rows');
  await knex.schema.dropTableIfExists('csv_imports');
  await knex.schema.dropTableIfExists('bulk_jobs');
}
