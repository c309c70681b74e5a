/**
 * The one way services write: `transaction(db, work)` runs `work` in a database transaction and, when the
 * database gives up on it because of a concurrent writer (deadlock, lock-wait timeout, a Galera
 * certification failure, SQLite busy), runs the whole of it again after a short, jittered pause. `work` must
 * therefore do nothing outside the database that cannot be repeated (hash passwords before, not inside).
 *
 * On Galera a conflict with a write on another node is only found at COMMIT (certification), and it is
 * reported there as a deadlock (1213): knex rejects the transaction with the COMMIT's error, so it is retried
 * the same way. A connection lost before COMMIT was sent (a pooled connection to a node that died, HAProxy
 * cutting sessions to a node it took out) is also retried, on a fresh connection: nothing was committed.
 * Lost during COMMIT, the outcome is unknown and the caller gets a 503 to retry.
 *
 * A duplicate key raised inside becomes the 422 of its field (src/db/errors.ts), so a race between two
 * creates answers like the check before the insert does.
 */
import type { Knex } from 'knex';
import type { Conn, Tx } from './connect';
import { duplicateAsValidation, isRetryable, isUnavailable } from './errors';

export interface TransactionOptions {
  /** How many times to run `work` in all (default 6). */
  attempts?: number;
  /** Field → message for duplicate keys, where the caller has a better wording than UNIQUE_KEYS. */
  duplicateMessages?: Record<string, string>;
}

/** Counters for the operations view (metrics): how often a transaction had to be run again. */
export const transactionStats = { retries: 0, gaveUp: 0, reconnects: 0 };

const BASE_DELAY_MS = 8;
const MAX_DELAY_MS = 400;
/** A lost connection is retried this many times, a little later each time (a fail-over takes a moment). */
const RECONNECT_ATTEMPTS = 3;
const RECONNECT_DELAY_MS = 300;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function isTransaction(db: Conn): db is Tx {
  return (db as { isTransaction?: boolean }).isTransaction === true;
}

/** Work to do once a transaction has committed, given the database handle it ran on. */
export type CommitHook = (db: Knex) => void;

const commitHooks = new WeakMap<Tx, CommitHook[]>();
const rootOf = new WeakMap<Tx, Knex>();

/**
 * Runs `hook` after the transaction `conn` belongs to commits (never when it rolls back; a retried attempt
 * only runs the hooks of the attempt that committed). Outside a transaction — or in a transaction not
 * opened by `transaction()` whose handle is unknown — the hook runs at once when the handle is known,
 * else never.
 */
export function afterCommit(conn: Conn, hook: CommitHook): void {
  if (!isTransaction(conn)) {
    hook(conn as Knex);
    return;
  }
  const hooks = commitHooks.get(conn);
  if (hooks) hooks.push(hook);
  else if (rootOf.has(conn)) commitHooks.set(conn, [hook]);
}

export async function transaction<T>(db: Conn, work: (trx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  // Inside a transaction already: the outermost call owns the retries (a retry must restart from its BEGIN).
  if (isTransaction(db)) return work(db);
  const attempts = options.attempts ?? 6;
  let reconnects = 0;
  for (let attempt = 1; ; attempt++) {
    let committing = false;
    try {
      let attemptTrx: Tx | undefined;
      const result = await (db as Knex).transaction(async (trx) => {
        attemptTrx = trx;
        rootOf.set(trx, db as Knex);
        const result = await work(trx);
        committing = true;
        return result;
      });
      for (const hook of commitHooks.get(attemptTrx!) ?? []) hook(db as Knex);
      return result;
    } catch (e) {
      if (!committing && !isRetryable(e) && isUnavailable(e) && reconnects < RECONNECT_ATTEMPTS) {
        reconnects++;
        transactionStats.retries++;
        transactionStats.reconnects++;
        await sleep(RECONNECT_DELAY_MS * reconnects);
        attempt--;
        continue;
      }
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
