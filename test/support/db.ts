import { randomBytes } from 'node:crypto';
import knexPkg, { type Knex } from 'knex';
import { inject } from 'vitest';
import { loadConfig, type Config } from '../../src/config';
import { createDb, mysqlConnectionFromUrl, type Db } from '../../src/db/connect';
import { prepareDatabase } from '../../src/setup/bootstrap';

const knexFactory = ((knexPkg as unknown as { knex?: typeof knexPkg }).knex ?? knexPkg) as typeof knexPkg;

export interface TestDatabase {
  db: Db;
  config: Config;
  /** `sqlite` or `mysql`: the suite runs on both (DATABASE_URL chooses). */
  dialect: 'sqlite' | 'mysql';
  cleanup(): Promise<void>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** The MariaDB database migrated and seeded once per run (test/support/globalSetup.ts), to clone from. */
    mysqlTemplate: string;
  }
}

/** A connection to the server without a database selected, for creating and dropping databases. */
export function serverConnection(url: string): Knex {
  return knexFactory({ client: 'mysql2', connection: { ...mysqlConnectionFromUrl(url), database: undefined }, pool: { min: 0, max: 4 } });
}

/** Makes `target` a copy of `template`: its tables (with keys, foreign keys, collations, counters) and rows. */
export async function cloneDatabase(admin: Knex, template: string, target: string): Promise<void> {
  await admin.raw('CREATE DATABASE ?? CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci', [target]);
  const tables: string[] = (await admin('information_schema.tables').where({ table_schema: template, table_type: 'BASE TABLE' }).select({ name: 'table_name' })).map(
    (r: { name: string }) => r.name,
  );
  // Each table on its own connection, a few at a time; foreign keys are checked once every table exists.
  const queue = [...tables];
  const worker = async () => {
    await admin.transaction(async (trx) => {
      await trx.raw('SET FOREIGN_KEY_CHECKS = 0');
      await trx.raw('USE ??', [target]);
      for (let t = queue.shift(); t; t = queue.shift()) {
        const [[created]] = (await trx.raw('SHOW CREATE TABLE ??.??', [template, t])) as [[{ 'Create Table': string }]];
        await trx.raw(created['Create Table']);
        await trx.raw('INSERT INTO ??.?? SELECT * FROM ??.??', [target, t, template, t]);
      }
    });
  };
  await Promise.all(Array.from({ length: 4 }, worker));
}

/**
 * A fresh, migrated and seeded database for one test file (or app). With DATABASE_URL=mysql://… it is a
 * copy of the template database the global set-up migrated and seeded once (a schema of its own, dropped
 * afterwards), so files run in parallel and none pays for the migrations; otherwise an in-memory SQLite
 * database, which migrates in a fraction of a second.
 */
export async function createTestDatabase(overrides: Partial<Config> = {}): Promise<TestDatabase> {
  const url = process.env.DATABASE_URL;
  const base = loadConfig({ NODE_ENV: 'test' }, { scryptN: 1024, sqliteFile: ':memory:', ...overrides });
  if (!url) {
    const config = { ...base, databaseUrl: undefined };
    const db = createDb(config);
    await prepareDatabase(db);
    return { db, config, dialect: 'sqlite', cleanup: () => db.destroy() };
  }
  const name = `gh_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = serverConnection(url);
  try {
    await cloneDatabase(admin, inject('mysqlTemplate'), name);
  } finally {
    await admin.destroy();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  const config = { ...base, databaseUrl: u.toString() };
  const db = createDb(config);
  return {
    db,
    config,
    dialect: 'mysql',
    async cleanup() {
      await db.destroy();
      const dropper = serverConnection(url);
      try {
        await dropper.raw('DROP DATABASE IF EXISTS ??', [name]);
      } finally {
        await dropper.destroy();
      }
    },
  };
}
