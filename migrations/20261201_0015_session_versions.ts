import type { Knex } from 'knex';

/**
 * Session versions (issue 14): each save of a session row bumps `version`. A server may then answer a
 * console page from its in-memory copy of the session when the browser shows (cookie gh_sv) that it last
 * saw that same version, and a save based on such a copy updates only the version it read — a stale copy
 * never overwrites a newer row (src/http/sessionCache.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.integer('version').notNullable().defaultTo(1);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sessions', (t) => {
    t.dropColumn('version');
  });
}
