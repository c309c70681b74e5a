import { randomBytes } from 'node:crypto';
import knexPkg from 'knex';
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

/**
 * A fresh, migrated and seeded database for one test file. With DATABASE_URL=mysql://… each file gets its
 * own schema on that server (created here, dropped afterwards), so files can run in parallel; otherwise an
 * in-memory SQLite database.
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
  const server = mysqlConnectionFromUrl(url);
  const name = `gh_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin = knexFactory({ client: 'mysql2', connection: { ...server, database: undefined } });
  try {
    await admin.raw(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await admin.destroy();
  }
  const u = new URL(url);
  u.pathname = `/${name}`;
  const config = { ...base, databaseUrl: u.toString() };
  const db = createDb(config);
  await prepareDatabase(db);
  return {
    db,
    config,
    dialect: 'mysql',
    async cleanup() {
      await db.destroy();
      const dropper = knexFactory({ client: 'mysql2', connection: { ...server, database: undefined } });
      try {
        await dropper.raw(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await dropper.destroy();
      }
    },
  };
}
