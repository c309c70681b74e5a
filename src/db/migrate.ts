import type { Knex } from 'knex';
import { isRetryable } from './errors';
import * as schema from '../../migrations/20261122_0001_schema';
import * as domainPermissionVersion from '../../migrations/20261123_0005_domain_permission_version';
import * as invariantsAndIdentifiers from '../../migrations/20261130_0006_invariants_and_identifiers';
import * as bulkJobsAndImports from '../../migrations/20261201_0007_bulk_jobs_and_imports';
import * as signInSecurity from '../../migrations/20261201_0008_sign_in_security';
import * as changeLog from '../../migrations/20261201_0009_change_log';
import * as machineClients from '../../migrations/20261201_0010_machine_clients';
import * as domainsAndExternalKeys from '../../migrations/20261201_0011_domains_and_external_keys';
import * as scim from '../../migrations/20261201_0012_scim';
import * as webhooks from '../../migrations/20261201_0013_webhooks';
import * as userSearchIndexes from '../../migrations/20261201_0014_user_search_indexes';
import * as sessionVersions from '../../migrations/20261201_0015_session_versions';

type Migration = { up(knex: Knex): Promise<void>; down(knex: Knex): Promise<void> };

/**
 * Migrations are imported statically so the same list runs under tsx, Vitest and the CLI
 * without knex loading `.ts` files itself. Add new migrations to the end of this list.
 */
const MIGRATIONS: Array<[string, Migration]> = [
  ['20261122_0001_schema', schema],
  ['20261123_0005_domain_permission_version', domainPermissionVersion],
  ['20261130_0006_invariants_and_identifiers', invariantsAndIdentifiers],
  ['20261201_0007_bulk_jobs_and_imports', bulkJobsAndImports],
  ['20261201_0008_sign_in_security', signInSecurity],
  ['20261201_0009_change_log', changeLog],
  ['20261201_0010_machine_clients', machineClients],
  ['20261201_0011_domains_and_external_keys', domainsAndExternalKeys],
  ['20261201_0012_scim', scim],
  ['20261201_0013_webhooks', webhooks],
  ['20261201_0014_user_search_indexes', userSearchIndexes],
  ['20261201_0015_session_versions', sessionVersions],
];

const migrationSource: Knex.MigrationSource<[string, Migration]> = {
  async getMigrations() {
    return MIGRATIONS;
  },
  getMigrationName([name]) {
    return name;
  },
  async getMigration([, migration]) {
    return migration;
  },
};

/**
 * Applies pending migrations. Every server does this at start-up: with nothing pending it only reads (knex
 * would otherwise take its migration lock, a row update that servers starting together on different Galera
 * nodes conflict on), and a conflict (deadlock / certification failure) is retried after a pause.
 */
export async function migrateLatest(db: Knex): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [, pending] = (await db.migrate.list({ migrationSource })) as [unknown[], unknown[]];
      if (!pending.length) return [];
      const [, applied] = await db.migrate.latest({ migrationSource });
      return applied as string[];
    } catch (e) {
      if (!isRetryable(e) || attempt >= 6) throw e;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 400 * attempt));
    }
  }
}

export async function migrateRollback(db: Knex, all = false): Promise<string[]> {
  const [, undone] = await db.migrate.rollback({ migrationSource }, all);
  return undone as string[];
}
