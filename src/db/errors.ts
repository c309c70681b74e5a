/**
 * The one place that knows what database errors look like on each dialect (mysql2 for MySQL/MariaDB,
 * better-sqlite3) and what they mean to a user: a duplicate key names a field, a deadlock is retried, a
 * value too long is the client's mistake. Nothing else inspects driver error codes.
 */
import { HttpError, ValidationError } from '../http/errors';

interface DriverError {
  code?: string;
  errno?: number;
  message?: string;
  sqlMessage?: string;
  /** mysql2: the connection is dead (lost, reset, or used after it closed). */
  fatal?: boolean;
}

const asDriverError = (e: unknown): DriverError => (e && typeof e === 'object' ? (e as DriverError) : {});

/** A duplicate value for a unique key or primary key. */
export function isUniqueViolation(e: unknown): boolean {
  const err = asDriverError(e);
  return (
    err.code === 'ER_DUP_ENTRY' ||
    err.errno === 1062 ||
    err.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    err.code === 'SQLITE_CONSTRAINT_PRIMARYKEY'
  );
}

/** A foreign key that points nowhere (a row removed meanwhile) or still has dependants. */
export function isForeignKeyViolation(e: unknown): boolean {
  const err = asDriverError(e);
  return err.errno === 1451 || err.errno === 1452 || err.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/**
 * Worth running the whole transaction again: a deadlock or lock-wait timeout (MySQL 1213 / 1205, which is
 * also how Galera reports a certification failure), or SQLite's "database is busy" when another process
 * holds the write lock.
 */
export function isRetryable(e: unknown): boolean {
  const err = asDriverError(e);
  return (
    err.errno === 1213 ||
    err.errno === 1205 ||
    err.code === 'ER_LOCK_DEADLOCK' ||
    err.code === 'ER_LOCK_WAIT_TIMEOUT' ||
    err.code === 'SQLITE_BUSY' ||
    err.code === 'SQLITE_BUSY_SNAPSHOT' ||
    err.code === 'SQLITE_LOCKED'
  );
}

/**
 * The database cannot be reached or dropped the connection (a node restarting, a fail-over), or the node
 * is not part of the cluster's Primary component. Whether a change was committed is then unknown only
 * when it happened during COMMIT (src/db/transaction.ts retries the rest).
 */
export function isUnavailable(e: unknown): boolean {
  const err = asDriverError(e);
  return (
    err.fatal === true ||
    err.code === 'ECONNREFUSED' ||
    err.code === 'ECONNRESET' ||
    err.code === 'EPIPE' ||
    err.code === 'PROTOCOL_CONNECTION_LOST' ||
    err.code === 'ETIMEDOUT' ||
    err.errno === 1040 || // too many connections
    err.errno === 1047 || // WSREP has not yet prepared node for application use
    err.errno === 1053 || // server shutdown in progress
    err.errno === 1180 || // error during COMMIT: on Galera, the node left the Primary component
    err.errno === 1927 || // connection was killed
    err.errno === 2006 ||
    err.errno === 2013 ||
    (err.message ?? '').startsWith('Knex: Timeout acquiring a connection')
  );
}

/**
 * Which unique key a duplicate hit, as "table.column" (the first column of the key): MySQL names the
 * index (`users_username_lower_unique`), SQLite the columns (`users.username_lower`).
 */
export function uniqueKeyOf(e: unknown): string | undefined {
  const err = asDriverError(e);
  const message = err.sqlMessage ?? err.message ?? '';
  const sqlite = /UNIQUE constraint failed: ([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)/.exec(message);
  if (sqlite) return `${sqlite[1]}.${sqlite[2]}`;
  const mysql = /for key '(?:[A-Za-z0-9_]+\.)?([A-Za-z0-9_]+)'/.exec(message);
  if (!mysql) return undefined;
  const index = mysql[1];
  if (index === 'PRIMARY') return undefined;
  for (const key of Object.keys(UNIQUE_KEYS)) {
    const [table, column] = key.split('.');
    if (index.startsWith(`${table}_${column}`)) return key;
  }
  return undefined;
}

/**
 * The field and message for each unique key a user can run into: the answer a concurrent duplicate gets
 * is the same 422 the check before the insert gives.
 */
export const UNIQUE_KEYS: Record<string, { field: string; message: string }> = {
  'users.username_lower': { field: 'username', message: 'This username is taken.' },
  'users.email_lower': { field: 'email', message: 'Another user already has this email address.' },
  'users.external_id': { field: 'externalId', message: 'Another user already has this external id.' },
  'groups.external_id': { field: 'externalId', message: 'Another group already has this external id.' },
  'users.sso_subject': { field: 'ssoSubject', message: 'Another account is already linked to this identity.' },
  'groups.name_lower': { field: 'name', message: 'A group with this name already exists (names are compared without regard to case).' },
  'roles.name_lower': { field: 'name', message: 'Another role already has this name (names are compared ignoring case).' },
  'machine_clients.name_lower': { field: 'name', message: 'Another client already has this name (names are compared without regard to case).' },
  'workspaces.parent_id': { field: 'name', message: 'A sub-workspace with this name already exists there.' },
  'workspaces.external_key': { field: 'externalKey', message: 'Another workspace already has this external key.' },
  'domains.key': { field: 'key', message: 'Another domain already has this key.' },
  'domains.name': { field: 'name', message: 'Another domain already has this name.' },
};

/**
 * A duplicate-key error as the validation error of its field, with the caller's wording when it has one;
 * undefined when `e` is not a duplicate of a known key.
 */
export function duplicateAsValidation(e: unknown, messages: Record<string, string> = {}): ValidationError | undefined {
  if (!isUniqueViolation(e)) return undefined;
  const key = uniqueKeyOf(e);
  const known = key ? UNIQUE_KEYS[key] : undefined;
  if (!known) return undefined;
  return new ValidationError({ [known.field]: messages[known.field] ?? known.message });
}

/** Data longer than its column (the validations should have caught it; never a 500). */
export function isTooLong(e: unknown): boolean {
  const err = asDriverError(e);
  return err.errno === 1406 || err.code === 'ER_DATA_TOO_LONG';
}

/**
 * A database error that escaped every service, as the answer the client gets: a duplicate or dangling key
 * is a conflict with the current state (409), a value too long a 422, an unreachable or overloaded database
 * a 503 to retry; anything else stays a 500.
 */
export function databaseErrorAsHttp(e: unknown): HttpError | undefined {
  const dup = duplicateAsValidation(e);
  if (dup) return dup;
  if (isUniqueViolation(e)) return new HttpError(409, 'conflict', 'This conflicts with a change made at the same moment. Reload and try again.');
  if (isForeignKeyViolation(e)) return new HttpError(409, 'conflict', 'Something this change refers to was removed (or is still in use) meanwhile. Reload and try again.');
  if (isTooLong(e)) return new ValidationError({}, 'A value is longer than Gatehouse can store.');
  if (isRetryable(e) || isUnavailable(e)) {
    return new HttpError(503, 'unavailable', 'The database is busy or briefly unavailable. Please retry in a moment.', {}, { retryAfterSeconds: 1 });
  }
  return undefined;
}

/**
 * What may be logged of a database error: its code and the driver's message with quoted values removed.
 * Drivers put the SQL and the row's values (password hashes, emails) into their errors; those stay out of
 * the logs.
 */
export function redactedDatabaseError(e: unknown): { code?: string; errno?: number; message: string } | undefined {
  const err = asDriverError(e);
  if (!err.code && err.errno === undefined) return undefined;
  const raw = err.sqlMessage ?? (err.message ?? '').split(' - ').pop() ?? '';
  return { code: err.code, errno: err.errno, message: raw.replace(/'(?:[^'\\]|\\.)*'/g, "'…'").replace(/"(?:[^"\\]|\\.)*"/g, '"…"').slice(0, 300) };
}
