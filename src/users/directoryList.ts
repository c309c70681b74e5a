/**
 * The users list's default view — by username, unfiltered or searched for one word — answered from this
 * server's decision state (its accounts in src/access/directory.ts) and the list's presence
 * (src/users/presence.ts), with no query: it is what most list pages show, and reading it from the database
 * was most of a page's cost. Any other view (a filter, another sort, several words) reads the database.
 *
 * Only while the state is current — loaded, its directory built (in the background after a load), caught up
 * with this server's own writes, and its change-log follower read the log within MAX_FOLLOWER_LAG_MS. Then the page reflects a change made through another
 * server within that bound (the follower polls every 20 ms), as decisions do.
 */
import type { Db } from '../db/connect';
import type { DecisionState } from '../access/state';
import { followerCurrentWithin } from '../changes/follower';
import { presenceOf } from './presence';
import { isFiltered, singleSearchWord, type ListCount, type UserListFilter, type UserListRow, type UserSort, type UserStatus } from './repo';

/** The state's follower must have read the change log this recently for the list to come from memory. */
export const MAX_FOLLOWER_LAG_MS = 1000;

/** A page of the list from memory, or null when this view or this moment needs the database. */
export async function listFromDirectory(
  db: Db,
  state: DecisionState,
  f: UserListFilter,
  sort: UserSort,
  dir: 'asc' | 'desc',
  limit: number,
  offset: number,
  now: number,
): Promise<{ rows: UserListRow[]; count: ListCount } | null> {
  if (sort !== 'username' || isFiltered({ ...f, q: undefined })) return null;
  const word = singleSearchWord(f.q);
  if (word === null && f.q?.trim()) return null;
  if (!state.directory.ready || !followerCurrentWithin(db, MAX_FOLLOWER_LAG_MS)) return null;
  const presence = await presenceOf(db).current(state.loadedAt);
  const { ids, count } = word === null ? state.directory.page(dir, offset, limit) : state.directory.search(word, dir, offset, limit);
  const rows: UserListRow[] = [];
  for (const id of ids) {
    const a = state.account(id);
    const roleName = a?.roleId == null ? null : state.names.role(a.roleId);
    const licenseName = a?.licenseTypeId == null ? null : state.names.license(a.licenseTypeId);
    // A role or license type the state has not heard of yet: the database knows.
    if (!a || roleName === undefined || licenseName === undefined) return null;
    rows.push({
      id,
      username: a.username,
      firstName: a.firstName,
      lastName: a.lastName,
      email: a.email,
      roleName,
      licenseName,
      status: a.status as UserStatus,
      locked: (a.lockedUntil !== null && a.lockedUntil > now) || presence.paused(id, now),
      source: a.source,
      lastLoginAt: presence.lastSignIn(id, a.lastLoginAt),
      createdAt: a.createdAt,
      online: presence.online(id, now),
    });
  }
  return { rows, count };
}
