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
  /** Remembers every row as it is now, for `restore()`. */
  snapshot(): Promise<void>;
  /** Brings back the rows of the last snapshot; `db` may be a new connection afterwards (SQLite). */
  restore(): Promise<void>;
  cleanup(): Promise<void>;
}

/** Each table's next AUTO_INCREMENT value (tables without one are left out). */
async function autoIncrements(db: Knex, schema: string): Promise<Map<string, number>> {
  const rows = await db('information_schema.tables').where({ table_schema: schema, table_type: 'BASE TABLE' }).whereNotNull('auto_increment').select({ name: 'table_name', next: 'auto_increment' });
  return new Map(rows.map((r: { name: string; next: number | string }) => [r.name, Number(r.next)]));
}

async function baseTables(db: Knex, schema: string): Promise<string[]> {
  return (await db('information_schema.tables').where({ table_schema: schema, table_type: 'BASE TABLE' }).orderBy('table_name').select({ name: 'table_name' })).map(
    (r: { name: string }) => r.name,
  );
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
  const tables = await baseTables(admin, template);
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
    let image: Buffer | undefined;
    const tdb: TestDatabase = {
      db: createDb(config),
      config,
      dialect: 'sqlite',
      async snapshot() {
        // The in-memory database's image (better-sqlite3 `serialize()`): a copy costs a millisecond.
        const conn = await tdb.db.client.acquireConnection();
        try {
          image = conn.serialize();
        } finally {
          await tdb.db.client.releaseConnection(conn);
        }
      },
      async restore() {
        if (!image) throw new Error('restore() without snapshot()');
        await tdb.db.destroy();
        tdb.db = createDb(config, { sqliteImage: image });
      },
      cleanup: () => tdb.db.destroy(),
    };
    await prepareDatabase(tdb.db);
    return tdb;
  }
  const name = `gh_test_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const snapshotName = `${name}_snap`;
  let snapshotTables: string[] | undefined;
  let snapshotCounters = new Map<string, number>();
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
  const dropDatabases = async () => {
    const dropper = serverConnection(url);
    try {
      await dropper.raw('DROP DATABASE IF EXISTS ??', [name]);
      if (snapshotTables) await dropper.raw('DROP DATABASE IF EXISTS ??', [snapshotName]);
    } finally {
      await dropper.destroy();
    }
  };
  return {
    db,
    config,
    dialect: 'mysql',
    async snapshot() {
      const admin = serverConnection(url);
      try {
        if (snapshotTables) await admin.raw('DROP DATABASE ??', [snapshotName]);
        await cloneDatabase(admin, name, snapshotName);
        snapshotTables = await baseTables(admin, snapshotName);
        snapshotCounters = await autoIncrements(admin, name);
      } finally {
        await admin.destroy();
      }
    },
    async restore() {
      if (!snapshotTables) throw new Error('restore() without snapshot()');
      // In place, on one connection: emptying and refilling the few small tables is much quicker than a new
      // database (CREATE TABLE and DROP DATABASE each touch files).
      await db.transaction(async (trx) => {
        await trx.raw('SET FOREIGN_KEY_CHECKS = 0');
        for (const table of snapshotTables!) {
          await trx.raw('DELETE FROM ??', [table]);
          await trx.raw('INSERT INTO ?? SELECT * FROM ??.??', [table, snapshotName, table]);
        }
        await trx.raw('SET FOREIGN_KEY_CHECKS = 1');
      });
      // DELETE keeps the counters where the test left them: set back those that moved, so ids (and positions
      // such as the change log's head) continue as they would after the set-up.
      for (const [table, next] of await autoIncrements(db, name)) {
        const wanted = snapshotCounters.get(table);
        if (wanted !== undefined && wanted !== next) await db.raw(`ALTER TABLE ?? AUTO_INCREMENT = ${Number(wanted)}`, [table]);
      }
    },
    async cleanup() {
      await db.destroy();
      await dropDatabases();
    },
  };
}
