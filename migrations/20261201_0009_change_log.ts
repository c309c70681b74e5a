import type { Knex } from 'knex';

/**
 * The change log (issue 11): every write that can change an access decision or an API caller appends one
 * row here in its own transaction. Each server follows the table (src/changes/follower.ts) and reloads only
 * the entity a row names, so decisions are answered from memory and stay fresh across servers. A row's
 * position is what API writes hand out as their consistency token.
 *
 * - `kind`: what changed (src/changes/service.ts CHANGE_KINDS); `entity_id` / `entity_key`: which one.
 * - `at`: epoch ms, for trimming old rows in housekeeping (the position trimmed through goes to settings).
 * It replaces the `access_version` counter in `settings`, which is removed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('change_log', (t) => {
    t.bigIncrements('position');
    t.bigInteger('at').notNullable();
    t.string('kind', 40).notNullable();
    t.bigInteger('entity_id').nullable();
    t.string('entity_key', 190).nullable();
    t.index(['at']);
  });
  await knex('settings').where({ key: 'access_version' }).delete();
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('change_log');
}
