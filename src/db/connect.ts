import fs from 'node:fs';
import path from 'node:path';
import knexPkg from 'knex';
import type { Knex } from 'knex';
import pino from 'pino';
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

/** knex's own warnings (a pooled connection found broken, …) as JSON log lines like the rest. */
function knexLog(level: string | undefined): Knex.Config['log'] {
  const logger = pino({ level: level ?? 'info', base: { service: 'gatehouse', component: 'knex', pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label: string) => ({ level: label }) } });
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  return { warn: (m) => logger.warn(text(m)), error: (m) => logger.error(text(m)), deprecate: (m) => logger.warn(text(m)), debug: () => undefined };
}

export function createDb(config: Pick<Config, 'databaseUrl' | 'sqliteFile'> & Partial<Pick<Config, 'dbPoolMax' | 'dbAcquireTimeoutMs' | 'logLevel'>>): Db {
  if (config.databaseUrl) {
    return knexFactory({
      client: 'mysql2',
      log: knexLog(config.logLevel),
      connection: { ...mysqlConnectionFromUrl(config.databaseUrl), connectTimeout: 5000 },
      // A request waits this long for a connection, then answers 503 (src/db/errors.ts) rather than hanging
      // while the database (or the node behind HAProxy) is away. Broken connections (a node killed, HAProxy
      // cutting sessions to a node it took out) are dropped when next acquired (knex validates them), idle
      // ones after 30 s, well before any proxy timeout closes them under us. A connection that cannot be
      // made fails the request at once (knex's propagateCreateError), again a 503.
      acquireConnectionTimeout: config.dbAcquireTimeoutMs ?? 10_000,
      pool: {
        min: 0,
        max: config.dbPoolMax ?? 10,
        idleTimeoutMillis: 30_000,
        createTimeoutMillis: 5_000,
        createRetryIntervalMillis: 200,
        // Connections are renewed now and then, so after a fail-over they drift back to the preferred node.
        maxConnectionLifetimeMillis: 10 * 60_000,
        maxConnectionLifetimeJitterMillis: 60_000,
        // READ COMMITTED: a statement sees what committed before it, not a snapshot from the transaction's
        // first read. Rules guarded by a row lock (src/db/guards.ts) rely on it: after waiting for the lock,
        // the count that follows must see the writes of the transaction that held it.
        afterCreate(conn: { query(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) {
          conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => done(err, conn));
        },
      },
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

/** Converts 0/1/true/false from either dialect to a boolean. */
export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}

/**
 * LIKE patterns that match the user's text literally. The escape character is declared in every
 * statement (`ESCAPE '!'`): SQLite has no default one and MySQL's is the backslash, so spelling it out
 * is what makes `_`, `%` and `!` mean themselves on both.
 */
export function escapeLike(text: string): string {
  return text.replace(/[!%_]/g, (c) => `!${c}`);
}

export function likePrefix(text: string): string {
  return `${escapeLike(text)}%`;
}

export function likeContains(text: string): string {
  return `%${escapeLike(text)}%`;
}

/** `column [NOT] LIKE pattern ESCAPE '!'` (or `OR …` with `or: true`). */
export function whereLike(q: Knex.QueryBuilder, column: string, pattern: string, opts: { not?: boolean; or?: boolean } = {}): Knex.QueryBuilder {
  const sql = `?? ${opts.not ? 'NOT ' : ''}LIKE ? ESCAPE '!'`;
  return opts.or ? q.orWhereRaw(sql, [column, pattern]) : q.whereRaw(sql, [column, pattern]);
}

/**
 * "Starts with" on a lower-cased column, as an index range on both dialects: LIKE on MySQL (the `*_lower`
 * columns use a binary collation), GLOB on SQLite (whose LIKE is case-insensitive and so cannot use these
 * indexes). `lowerText` must already be lower-cased.
 */
export function wherePrefix(q: Knex.QueryBuilder, column: string, lowerText: string, opts: { or?: boolean } = {}): Knex.QueryBuilder {
  if ((q as unknown as { client: Knex.Client }).client.config.client === 'mysql2') return whereLike(q, column, likePrefix(lowerText), opts);
  const pattern = `${lowerText.replace(/[*?[]/g, (c) => `[${c}]`)}*`;
  return opts.or ? q.orWhereRaw('?? GLOB ?', [column, pattern]) : q.whereRaw('?? GLOB ?', [column, pattern]);
}

/** `a || b || …` in the dialect's spelling (MySQL's `||` is OR unless configured otherwise). Parts are SQL. */
export function sqlConcat(db: Conn, parts: string[]): string {
  return isMysql(db) ? `CONCAT(${parts.join(', ')})` : `(${parts.join(' || ')})`;
}

/** Counts rows of a query built with knex, as a number on both dialects. */
export async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const row = (await query.clearSelect().clearOrder().count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/** Runs `query` once for all rows (no ids given), or per chunk of 500 ids, and joins the answers. */
export async function inIdChunks<T>(ids: number[] | undefined, query: (chunk?: number[]) => Promise<T[]>): Promise<T[]> {
  if (!ids) return query();
  const out: T[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await query(ids.slice(i, i + 500))));
  return out;
}
