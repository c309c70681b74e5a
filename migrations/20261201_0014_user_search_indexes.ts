import type { Knex } from 'knex';

/**
 * The user list at scale (issue 14): a type-ahead search answered from index entries alone.
 * - One index per searched column (username's own unique index, and these three for the first name, last
 *   name and email) that carries the other searched columns and the username: a word's prefix lookup on one
 *   column tests the word against the columns before it on the entry itself, so the four lookups are
 *   disjoint and their counts add up without reading a row or collecting ids (src/users/repo.ts,
 *   searchBranches), and each one's matches come with the username to sort them by.
 * - The same over the username first: a search matching many users walks it in username order and tests the
 *   word on each entry, and fills a page after a few hundred entries.
 * The first name's single-column index is a prefix of its new one and goes.
 */
const INDEXES: Array<[string, string[]]> = [
  ['users_search_first_name_index', ['first_name_lower', 'username_lower', 'last_name_lower', 'email_lower']],
  ['users_search_last_name_index', ['last_name_lower', 'username_lower', 'first_name_lower', 'email_lower']],
  ['users_search_email_index', ['email_lower', 'username_lower', 'first_name_lower', 'last_name_lower']],
  ['users_search_username_index', ['username_lower', 'first_name_lower', 'last_name_lower', 'email_lower']],
];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    for (const [name, columns] of INDEXES) t.index(columns, name);
    t.dropIndex(['first_name_lower']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.index(['first_name_lower']);
    for (const [name, columns] of INDEXES) t.dropIndex(columns, name);
  });
}
