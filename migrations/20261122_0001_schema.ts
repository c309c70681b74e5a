import type { Knex } from 'knex';

/**
 * The whole data model of PRODUCT.md section 1. `*_lower` columns hold the lower-cased form that the
 * code compares and makes unique; they use a binary collation on MySQL so that, as on SQLite, "é" and "e"
 * stay different names. Times are epoch milliseconds (BIGINT) and flags are
 * booleans stored as 0/1 on both dialects; `*_lower` columns carry the case-insensitive unique keys.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('settings', (t) => {
    t.string('key', 100).primary();
    t.text('value').notNullable();
  });

  await knex.schema.createTable('app_permissions', (t) => {
    t.string('key', 64).primary();
    t.string('label', 120).notNullable();
    t.string('area', 60).notNullable();
    t.string('description', 500).notNullable();
    t.integer('position').notNullable();
  });

  await knex.schema.createTable('license_types', (t) => {
    t.increments('id');
    t.string('key', 40).notNullable().unique();
    t.string('name', 100).notNullable();
    t.string('description', 500).notNullable().defaultTo('');
    t.integer('position').notNullable();
    t.integer('seat_limit').nullable();
    t.integer('version').notNullable().defaultTo(1);
  });

  await knex.schema.createTable('domains', (t) => {
    t.increments('id');
    t.string('key', 40).notNullable().unique();
    t.string('name', 100).notNullable().unique();
    t.boolean('uses_levels').notNullable().defaultTo(false);
    t.integer('position').notNullable();
  });

  await knex.schema.createTable('license_caps', (t) => {
    t.integer('license_type_id').unsigned().notNullable().references('license_types.id').onDelete('CASCADE');
    t.integer('domain_id').unsigned().notNullable().references('domains.id').onDelete('CASCADE');
    t.string('operations', 4).notNullable().defaultTo('');
    t.primary(['license_type_id', 'domain_id']);
  });

  await knex.schema.createTable('roles', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable();
    t.string('name_lower', 100).collate('utf8mb4_bin').notNullable().unique();
    t.string('description', 500).notNullable().defaultTo('');
    t.string('builtin_key', 40).nullable().unique();
    t.integer('template_role_id').unsigned().nullable().references('roles.id').onDelete('SET NULL');
    t.integer('license_type_id').unsigned().notNullable().references('license_types.id');
    t.boolean('is_default').notNullable().defaultTo(false);
    t.integer('version').notNullable().defaultTo(1);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('role_permissions', (t) => {
    t.integer('role_id').unsigned().notNullable().references('roles.id').onDelete('CASCADE');
    t.string('permission_key', 64).notNullable().references('app_permissions.key').onDelete('CASCADE');
    t.primary(['role_id', 'permission_key']);
  });

  await knex.schema.createTable('users', (t) => {
    t.increments('id');
    t.string('username', 64).notNullable();
    t.string('username_lower', 64).collate('utf8mb4_bin').notNullable().unique();
    t.string('first_name', 100).notNullable().defaultTo('');
    t.string('last_name', 100).notNullable().defaultTo('');
    t.string('first_name_lower', 100).collate('utf8mb4_bin').notNullable().defaultTo('');
    t.string('last_name_lower', 100).collate('utf8mb4_bin').notNullable().defaultTo('');
    t.string('email', 254).notNullable();
    t.string('email_lower', 254).collate('utf8mb4_bin').notNullable().unique();
    t.string('password_hash', 255).nullable();
    t.integer('role_id').unsigned().nullable().references('roles.id');
    t.integer('license_type_id').unsigned().nullable().references('license_types.id');
    t.string('status', 20).notNullable().defaultTo('active');
    t.bigInteger('locked_until').nullable();
    t.integer('failed_logins').notNullable().defaultTo(0);
    t.string('source', 10).notNullable().defaultTo('local');
    t.string('sso_subject', 255).nullable().unique();
    t.integer('version').notNullable().defaultTo(1);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.bigInteger('last_login_at').nullable();
    t.bigInteger('last_activity_at').nullable();
    t.index(['role_id']);
    t.index(['license_type_id']);
    t.index(['status']);
    t.index(['first_name_lower']);
    t.index(['last_name_lower', 'first_name_lower']);
    t.index(['created_at']);
    t.index(['last_login_at']);
  });

  await knex.schema.createTable('groups', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable();
    t.string('name_lower', 100).collate('utf8mb4_bin').notNullable().unique();
    t.string('description', 500).notNullable().defaultTo('');
    t.integer('version').notNullable().defaultTo(1);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('group_members', (t) => {
    t.integer('group_id').unsigned().notNullable().references('groups.id').onDelete('CASCADE');
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.bigInteger('added_at').notNullable();
    t.primary(['group_id', 'user_id']);
    t.index(['user_id', 'group_id']);
  });

  await knex.schema.createTable('group_relations', (t) => {
    t.integer('requester_group_id').unsigned().notNullable().references('groups.id').onDelete('CASCADE');
    t.integer('approver_group_id').unsigned().notNullable().references('groups.id').onDelete('CASCADE');
    t.bigInteger('created_at').notNullable();
    t.primary(['requester_group_id', 'approver_group_id']);
    t.index(['approver_group_id']);
  });

  await knex.schema.createTable('workspaces', (t) => {
    t.increments('id');
    t.string('name', 100).notNullable();
    t.string('name_lower', 100).collate('utf8mb4_bin').notNullable();
    t.integer('parent_id').unsigned().nullable().references('workspaces.id');
    t.integer('version').notNullable().defaultTo(1);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.unique(['parent_id', 'name_lower']);
  });

  await knex.schema.createTable('domain_permissions', (t) => {
    t.increments('id');
    t.integer('group_id').unsigned().notNullable().references('groups.id').onDelete('CASCADE');
    t.string('effect', 5).notNullable();
    t.integer('domain_id').unsigned().notNullable().references('domains.id');
    t.integer('workspace_id').unsigned().notNullable().references('workspaces.id').onDelete('CASCADE');
    t.boolean('transitive').notNullable().defaultTo(false);
    t.boolean('can_read').notNullable().defaultTo(false);
    t.boolean('can_modify').notNullable().defaultTo(false);
    t.boolean('can_create').notNullable().defaultTo(false);
    t.boolean('can_delete').notNullable().defaultTo(false);
    t.integer('level').notNullable().defaultTo(0);
    t.string('priority', 4).notNullable().defaultTo('low');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['group_id']);
    t.index(['workspace_id']);
  });

  await knex.schema.createTable('assets', (t) => {
    t.increments('id');
    t.string('kind', 20).notNullable();
    t.string('name', 200).notNullable();
    t.integer('workspace_id').unsigned().notNullable().references('workspaces.id');
    t.integer('owner_id').unsigned().notNullable().references('users.id');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['owner_id']);
    t.index(['workspace_id']);
  });

  await knex.schema.createTable('asset_shares', (t) => {
    t.integer('asset_id').unsigned().notNullable().references('assets.id').onDelete('CASCADE');
    t.integer('group_id').unsigned().notNullable().references('groups.id').onDelete('CASCADE');
    t.string('access', 10).notNullable();
    t.primary(['asset_id', 'group_id']);
    t.index(['group_id']);
  });

  await knex.schema.createTable('sessions', (t) => {
    t.string('id', 64).primary();
    t.integer('user_id').unsigned().nullable().references('users.id').onDelete('CASCADE');
    t.text('data').notNullable();
    t.string('ip', 64).notNullable().defaultTo('');
    t.string('user_agent', 255).notNullable().defaultTo('');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_seen_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.index(['user_id', 'expires_at']);
    t.index(['expires_at']);
  });

  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id');
    t.bigInteger('at').notNullable();
    // No foreign key: the trail outlives the users it names.
    t.integer('actor_id').unsigned().nullable();
    t.string('actor_username', 64).notNullable().defaultTo('');
    t.string('action', 64).notNullable();
    t.string('object_type', 40).notNullable();
    t.string('object_id', 64).notNullable().defaultTo('');
    t.string('object_label', 255).notNullable().defaultTo('');
    t.text('before_json', 'longtext').nullable();
    t.text('after_json', 'longtext').nullable();
    t.string('ip', 64).notNullable().defaultTo('');
    t.index(['at']);
    t.index(['actor_id', 'at']);
    t.index(['object_type', 'object_id']);
    t.index(['action', 'at']);
  });

  await knex.schema.createTable('api_tokens', (t) => {
    t.increments('id');
    t.integer('user_id').unsigned().notNullable().references('users.id').onDelete('CASCADE');
    t.string('name', 100).notNullable();
    t.string('token_hash', 64).notNullable().unique();
    t.string('prefix', 16).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('last_used_at').nullable();
    t.bigInteger('expires_at').nullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['user_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'api_tokens',
    'audit_events',
    'sessions',
    'asset_shares',
    'assets',
    'domain_permissions',
    'workspaces',
    'group_relations',
    'group_members',
    'groups',
    'users',
    'role_permissions',
    'roles',
    'license_caps',
    'domains',
    'license_types',
    'app_permissions',
    'settings',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
}
