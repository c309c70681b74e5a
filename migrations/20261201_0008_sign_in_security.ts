import type { Knex } from 'knex';

/**
 * Sign-in security (issue 10):
 * - `sign_in_throttles`: failed-sign-in counters by account and by client address, incremented in the
 *   database before a password is checked (src/auth/throttle.ts);
 * - second factors: one TOTP secret per user, ten hashed recovery codes, any number of WebAuthn credentials;
 * - `password_resets`: single-use, time-limited links sent by e-mail (only their hash is stored).
 * Keys and credential ids compare byte for byte on MySQL/MariaDB (binary collation), as other identifiers do.
 */

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

async function exactCollation(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('SELECT VERSION() AS v')) as [Array<{ v: string }>];
  return /mariadb/i.test(rows[0].v) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('sign_in_throttles', (t) => {
    // `account:<user id>`, `name:<sha-256 of an unknown login>`, `address:<ip or IPv6 /64>`, `device:<id>`.
    t.string('key', 100).primary();
    t.integer('failures').notNullable().defaultTo(0);
    t.bigInteger('last_failure_at').notNullable().defaultTo(0);
    /** No guess is checked before this time (epoch ms). */
    t.bigInteger('next_attempt_at').notNullable().defaultTo(0);
    t.index(['last_failure_at']);
  });

  await knex.schema.createTable('totp_factors', (t) => {
    t.integer('user_id').unsigned().primary().references('users.id').onDelete('CASCADE');
    t.string('secret', 64).notNullable();
    /** The last time step whose code was accepted: a code is never accepted twice. */
    t.bigInteger('last_used_step').notNullable().defaultTo(0);
    t.bigInteger('created_at').notNullable();
  });

  await knex.schema.createTable('recovery_codes', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.string('code_hash', 64).notNullable();
    t.bigInteger('used_at').nullable();
    t.index(['user_id']);
  });

  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.string('credential_id', 255).notNullable().unique();
    t.text('public_key').notNullable();
    t.bigInteger('counter').notNullable().defaultTo(0);
    t.string('transports', 255).notNullable().defaultTo('');
    t.string('name', 100).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.index(['user_id']);
  });

  await knex.schema.createTable('password_resets', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.string('token_hash', 64).notNullable().unique();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('used_at').nullable();
    t.index(['user_id']);
  });

  if (isMysql(knex)) {
    const collation = await exactCollation(knex);
    await knex.raw(`ALTER TABLE sign_in_throttles MODIFY \`key\` VARCHAR(100) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
    await knex.raw(`ALTER TABLE webauthn_credentials MODIFY credential_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
    await knex.raw(`ALTER TABLE password_resets MODIFY token_hash VARCHAR(64) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
    await knex.raw(`ALTER TABLE recovery_codes MODIFY code_hash VARCHAR(64) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['password_resets', 'webauthn_credentials', 'recovery_codes', 'totp_factors', 'sign_in_throttles']) {
    await knex.schema.dropTableIfExists(table);
  }
}
