import type { Knex } from 'knex';

/**
 * The sign-in throttle's waits by their end (issue 14): each server reads the accounts whose password
 * sign-in is paused now (src/users/presence.ts) about once a second while the users list is in use. The
 * table holds a row per account, device, unknown name and address that failed lately, many more under a
 * password-spraying attack: the read ranges over this index instead of the table.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sign_in_throttles', (t) => {
    t.index(['next_attempt_at'], 'sign_in_throttles_next_attempt_at_index');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('sign_in_throttles', (t) => {
    t.dropIndex(['next_attempt_at'], 'sign_in_throttles_next_attempt_at_index');
  });
}
