/** The reads of the users list's presence (src/users/presence.ts). */
import type { Conn } from '../db/connect';

/** Users who signed in at or after `since`, with when they last did. */
export async function signInsSince(db: Conn, since: number): Promise<Array<{ id: number; at: number }>> {
  const rows: Array<{ id: number; last_login_at: number | string }> = await db('users').where('last_login_at', '>=', since).select('id', 'last_login_at');
  return rows.map((r) => ({ id: Number(r.id), at: Number(r.last_login_at) }));
}

/** Users with a live session, each with the end of the longest-lived one. */
export async function liveSessionEnds(db: Conn, now: number): Promise<Array<{ id: number; until: number }>> {
  const rows: Array<{ user_id: number | string; until: number | string }> = await db('sessions')
    .where('expires_at', '>', now)
    .whereNotNull('user_id')
    .groupBy('user_id')
    .select('user_id')
    .max({ until: 'expires_at' });
  return rows.map((r) => ({ id: Number(r.user_id), until: Number(r.until) }));
}

/** Accounts whose password sign-in the throttle pauses now, with the end of the pause. */
export async function pausedAccounts(db: Conn, now: number): Promise<Array<{ id: number; until: number }>> {
  const rows: Array<{ key: string; next_attempt_at: number | string }> = await db('sign_in_throttles')
    .where('next_attempt_at', '>', now)
    .andWhere('key', 'like', 'account:%')
    .select('key', 'next_attempt_at');
  return rows.map((r) => ({ id: Number(r.key.slice('account:'.length)), until: Number(r.next_attempt_at) }));
}
