/**
 * Ending console sessions. Every path that deletes session rows goes through here, in the caller's
 * transaction, so that each end is announced on the change log (kind `sessions`) and every server drops
 * its in-memory copy of the session (src/sessions/cache.ts) as it applies the entry.
 */
import type { Conn, Db } from '../db/connect';
import { recordChange, recordChanges, REBUILD_ABOVE } from '../changes/service';
import { transaction } from '../db/transaction';
import * as repo from './repo';

/** Announces that these users' sessions ended (one entry for very many users: every server drops all its copies). */
export async function announceEnded(trx: Conn, userIds: Iterable<number>): Promise<void> {
  const ids = [...new Set(userIds)];
  if (ids.length > REBUILD_ABOVE) await recordChange(trx, { kind: 'sessions' });
  else await recordChanges(trx, 'sessions', ids);
}

/** Ends every session of a user; returns how many ended. */
export async function endAllOf(trx: Conn, userId: number): Promise<number> {
  const n = await repo.removeForUser(trx, userId);
  await announceEnded(trx, [userId]);
  return n;
}

/** Ends every session of a user but `keepId` (the browser asking); returns how many ended. */
export async function endOthersOf(trx: Conn, userId: number, keepId: string | undefined): Promise<number> {
  const n = await repo.removeOthersOfUser(trx, userId, keepId);
  await announceEnded(trx, [userId]);
  return n;
}

/** Ends one session of a user; returns how many rows went (0 when it had ended already). */
export async function endOneOf(trx: Conn, userId: number, id: string): Promise<number> {
  const n = await repo.removeOfUser(trx, userId, id);
  await announceEnded(trx, [userId]);
  return n;
}

/** Ends the session with this id (signing out, or a new id replacing it at sign-in). */
export async function end(db: Db | Conn, id: string): Promise<void> {
  await transaction(db, async (trx) => {
    const owner = await repo.ownerOf(trx, id);
    if (owner === undefined) return;
    await repo.remove(trx, id);
    if (owner !== null) await announceEnded(trx, [owner]);
  });
}
