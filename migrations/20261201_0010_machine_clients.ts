import type { Knex } from 'knex';

/**
 * Machine clients (issue 11): non-human callers of the API, each created by a Superuser with an owner (the
 * user whose permissions it acts with), scopes and an optional rate limit, and each with its own tokens.
 * Only a token's SHA-256 is stored; hashes compare byte for byte on MySQL/MariaDB (binary collation).
 */

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

async function exactCollation(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('SELECT VERSION() AS v')) as [Array<{ v: string }>];
  return /mariadb/i.test(rows[0].v) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('machine_clients', (t) => {
    t.increments('id');
    t.string('name', 48).notNullable();
    // Names are unique without regard to case.
    t.string('name_lower', 48).collate('utf8mb4_bin').notNullable().unique();
    t.string('description', 500).notNullable().defaultTo('');
    // A client acts with its owner's permissions: it goes with its owner.
    t.integer('owner_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    /** Comma-separated: decisions, read, write, scim. */
    t.string('scopes', 100).notNullable();
    /** Requests per minute per server; null: no limit. */
    t.integer('rate_limit_per_minute').nullable();
    t.string('status', 20).notNullable().defaultTo('active');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['owner_id']);
  });

  await knex.schema.createTable('client_tokens', (t) => {
    t.increments('id');
    t.integer('client_id').unsigned().notNullable().references('machine_clients.id').onDelete('CASCADE');
    t.string('name', 100).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('prefix', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.bigInteger('expires_at').nullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['client_id']);
  });

  if (isMysql(knex)) {
    const collation = await exactCollation(knex);
    await knex.raw(`ALTER TABLE client_tokens MODIFY token_hash VARCHAR(64) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('client_tokens');
  await knex.schema.dropTableIfExists('machine_clients');
}
