import fs from 'node:fs';
import path from 'node:path';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import type { Config } from '../config';

// Under ESM + tsx the named export is missing; the default export is the factory.
const knexFactory = ((knexPkg as unknown as { knex?: typeof knexPkg }).knex ?? knexPkg) as typeof knexPkg;

export type Db = Knex;
export type Tx = Knex.Transaction;
/** A connection or a transaction: every repo function accepts either. */
export type Conn = Knex | Knex.Transaction;

export function isMysql(db: Conn): boolean {
  return db.client.config.client === 'mysql2';
}

export function mysqlConnectionFromUrl(url: string): Knex.MySql2ConnectionConfig {
  const u = new URL(url);
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') {
    throw new Error(`DATABASE_URL must start with mysql:// (got ${u.protocol}//)`);
  }
  return {
    host: u.hostname,
    port: u.port ? Number(u.port) : 3306,
    user: decodeURIComponent(u.username || 'root'),
    password: decodeURIComponent(u.password || ''),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'gatehouse',
    timezone: 'Z',
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: false,
  };
}

export function createDb(config: Pick<Config, 'databaseUrl' | 'sqliteFile'>): Db {
  if (config.databaseUrl) {
    return knexFactory({
      client: 'mysql2',
      connection: mysqlConnectionFromUrl(config.databaseUrl),
      pool: { min: 0, max: 10 },
    });
  }
  const file = config.sqliteFile;
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: file },
    useNullAsDefault: true,
    // One connection: SQLite serialises writers anyway, and an in-memory database lives in its connection.
    pool: {
      min: 1,
      max: 1,
      afterCreate(conn: { pragma(sql: string): unknown }, done: (err: Error | null, conn: unknown) => void) {
        conn.pragma('foreign_keys = ON');
        conn.pragma('journal_mode = WAL');
        conn.pragma('busy_timeout = 5000');
        conn.pragma('synchronous = NORMAL');
        done(null, conn);
      },
    },
  });
}

/** Current time as stored in the database: epoch milliseconds, the one representation on both dialects. */
export function nowMs(): number {
  return Date.now();
}

/** Converts 0/1/true/false from either dialect to a boolean. */
export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}

/** Escapes LIKE wildcards so user input matches literally (both dialects honour ESCAPE '\\'). */
export function likePrefix(term: string): string {
  return term.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}

/** Counts rows of a query built with knex, as a number on both dialects. */
export async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const row = (await query.clearSelect().clearOrder().count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}
