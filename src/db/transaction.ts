/**
 * The one way services write: `transaction(db, work)` runs `work` in a database transaction and, when the
 * database gives up on it because of a concurrent writer (deadlock, lock-wait timeout, a Galera
 * certification failure, SQLite busy), runs the whole of it again after a short, jittered pause. `work` must
 * therefore do nothing outside the database that cannot be repeated (hash passwords before, not inside).
 *
 * A duplicate key raised inside becomes the 422 of its field (src/db/errors.ts), so a race between two
 * creates answers like the check before the insert does.
 */
import type { Knex } from 'knex';
import type { Conn, Tx } from './connect';
import { duplicateAsValidation, isRetryable } from './errors';

export interface TransactionOptions {
  /** How many times to run `work` in all (default 6). */
  attempts?: number;
  /** Field → message for duplicate keys, where the caller has a better wording than UNIQUE_KEYS. */
  duplicateMessages?: Record<string, string>;
}

/** Counters for the operations view (metrics): how often a transaction had to be run again. */
export const transactionStats = { retries: 0, gaveUp: 0 };

const BASE_DELAY_MS = 8;
const MAX_DELAY_MS = 400;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isTransaction(db: Conn): db is Tx {
  return (db as { isTransaction?: boolean }).isTransaction === true;
}

export async function transaction<T>(db: Conn, work: (trx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  // Inside a transaction already: the outermost call owns the retries (a retry must restart from its BEGIN).
  if (isTransaction(db)) return work(db);
  const attempts = options.attempts ?? 6;
  for (let attempt = 1; ; attempt++) {
    try {
      return await (db as Knex).transaction(work);
    } catch (e) {
      if (isRetryable(e) && attempt < attempts) {
        transactionStats.retries++;
        // Full jitter: two writers that collided rarely collide again.
        const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
        await sleep(Math.random() * ceiling);
        continue;
      }
      if (isRetryable(e)) transactionStats.gaveUp++;
      throw duplicateAsValidation(e, options.duplicateMessages) ?? e;
    }
  }
}
