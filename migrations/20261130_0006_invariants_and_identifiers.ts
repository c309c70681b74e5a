import type { Knex } from 'knex';

/**
 * Two things the boundaries issue needs from the schema.
 *
 * 1. `invariant_guards`: one row per rule that spans many rows (the last active Superuser, the seats of a
 *    license, the one default role, the workspace tree). A transaction that could break such a rule first
 *    writes the rule's row (src/db/guards.ts): writers of the same rule queue on that row lock, and on a
 *    Galera cluster two such writers on different nodes touch the same row, so certification rejects one
 *    of them and it is retried.
 *
 * 2. Identifiers compare byte for byte on MySQL/MariaDB. Their default collations ignore case and trailing
 *    spaces ("PAD SPACE": 'abc ' = 'ABC'), so a session id, an SSO subject or a token hash could match
 *    another one; the `*_lower` columns ignored trailing spaces too. A binary NO PAD collation makes them
 *    compare exactly as SQLite does.
 */

/** Columns that hold identifiers or lower-cased keys: table, column, definition without collation. */
const IDENTIFIERS: Array<[string, string, string]> = [
  ['sessions', 'id', 'VARCHAR(64) NOT NULL'],
  ['users', 'sso_subject', 'VARCHAR(255) NULL'],
  ['users', 'username_lower', 'VARCHAR(64) NOT NULL'],
  ['users', 'email_lower', 'VARCHAR(254) NOT NULL'],
  ['users', 'first_name_lower', "VARCHAR(100) NOT NULL DEFAULT ''"],
  ['users', 'last_name_lower', "VARCHAR(100) NOT NULL DEFAULT ''"],
  ['api_tokens', 'token_hash', 'VARCHAR(64) NOT NULL'],
  ['groups', 'name_lower', 'VARCHAR(100) NOT NULL'],
  ['roles', 'name_lower', 'VARCHAR(100) NOT NULL'],
  ['roles', 'builtin_key', 'VARCHAR(40) NULL'],
  ['workspaces', 'name_lower', 'VARCHAR(100) NOT NULL'],
  ['license_types', 'key', 'VARCHAR(40) NOT NULL'],
  ['domains', 'key', 'VARCHAR(40) NOT NULL'],
  ['settings', 'key', 'VARCHAR(100) NOT NULL'],
];

/** Columns that were already binary (PAD SPACE) before this migration; the rest had the table's default. */
const WAS_BINARY = new Set(['users.username_lower', 'users.email_lower', 'users.first_name_lower', 'users.last_name_lower', 'groups.name_lower', 'roles.name_lower', 'workspaces.name_lower']);

export const GUARD_NAMES = ['superusers', 'default_role', 'workspace_tree'] as const;

/** The binary NO PAD collation of this server: MariaDB names it utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin. */
async function exactCollation(knex: Knex): Promise<string> {
  const [rows] = (await knex.raw('SELECT VERSION() AS v')) as [Array<{ v: string }>];
  return /mariadb/i.test(rows[0].v) ? 'utf8mb4_nopad_bin' : 'utf8mb4_0900_bin';
}

const isMysql = (knex: Knex) => knex.client.config.client === 'mysql2';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('invariant_guards', (t) => {
    t.string('name', 100).primary();
    t.bigInteger('writes').notNullable().defaultTo(0);
  });
  await knex('invariant_guards').insert(GUARD_NAMES.map((name) => ({ name, writes: 0 })));

  // The audit log pages by (at, id): ids need not grow with time on a multi-primary cluster.
  await knex.schema.alterTable('audit_events', (t) => {
    t.index(['at', 'id'], 'audit_events_at_id_index');
  });

  if (!isMysql(knex)) return;
  const collation = await exactCollation(knex);
  for (const [table, column, definition] of IDENTIFIERS) {
    await knex.raw(`ALTER TABLE ?? MODIFY ?? ${definition.replace(/^(\S+)/, `$1 CHARACTER SET utf8mb4 COLLATE ${collation}`)}`, [table, column]);
  }
  await knex.raw(`ALTER TABLE invariant_guards MODIFY name VARCHAR(100) CHARACTER SET utf8mb4 COLLATE ${collation} NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  if (isMysql(knex)) {
    for (const [table, column, definition] of IDENTIFIERS) {
      const collation = WAS_BINARY.has(`${table}.${column}`) ? ' CHARACTER SET utf8mb4 COLLATE utf8mb4_bin' : '';
      await knex.raw(`ALTER TABLE ?? MODIFY ?? ${definition.replace(/^(\S+)/, `$1${collation}`)}`, [table, column]);
    }
  }
  await knex.schema.alterTable('audit_events', (t) => {
    t.dropIndex(['at', 'id'], 'audit_events_at_id_index');
  });
  await knex.schema.dropTableIfExists('invariant_guards');
}
