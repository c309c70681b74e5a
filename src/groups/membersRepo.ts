import type { Knex } from 'knex';
import type { Conn } from '../db/connect';
import { countOf, isMysql } from '../db/connect';
import { idList, whereOnSide, type DualListItem, type DualListSource, type Pending, type Side } from '../db/dualListSource';
import { COUNT_CAP, countUpTo, prepareSearch, searchAmong, singleSearchWord, userTotal, whereSearch, type PreparedSearch } from '../users/repo';

/**
 * The Members dual list of one group, tuned for a group of 20,000 members in a directory of 100,000 users
 * (bench/group-page.ts measures it). Same semantics as the generic SQL source (pending moves travel as id
 * lists), with three differences that keep every request to a few index range scans:
 *
 * - Totals without a search come from the membership table (an index range on its primary key) and one
 *   count of users, instead of counting an anti-join over the directory; pending moves adjust them exactly.
 * - With a search, rows are sorted after filtering (ORDER BY an expression): otherwise the planner walks the
 *   whole username index in order looking for the few matches ("zo…" sits at the end of the alphabet).
 * - The first pages of a large group's members walk the username index and probe membership (MySQL needs a
 *   FORCE INDEX for that, it prefers sorting all members); deep pages and small groups sort the members.
 * - Pages without a search read ids from the username index alone (it covers id), then the page's 25 rows.
 * - A search looks its users up first by their prefix indexes (prepareSearch of the user list) and reads them by id.
 */

/** Rows the planner may walk in username order to fill a page before sorting all members is cheaper. */
const ORDERED_SCAN_LIMIT = 30_000;
/** The unique index knex creates for `users.username_lower` (migrations/20261122_0001_schema.ts). */
const USERNAME_INDEX = 'users_username_lower_unique';
const COLUMNS = ['users.id', 'users.username', 'users.first_name', 'users.last_name', 'users.email'];

function toItem(r: Record<string, unknown>): DualListItem {
  return { id: Number(r.id), label: String(r.username), detail: `${[r.first_name, r.last_name].filter(Boolean).join(' ')} · ${r.email}` };
}

/** A group's members: users not in the group on one side, members on the other. */
export function membersOfGroupSource(db: Conn, groupId: number): DualListSource {
  const mysql = isMysql(db);
  const member = () => db('group_members').select(db.raw('1')).whereRaw('group_members.user_id = users.id').andWhere('group_members.group_id', groupId);

  /**
   * Users on one side, given the pending moves; optionally read in username order from its index (MySQL), or
   * on a search index of `searchAmong`.
   */
  function scoped(side: Side, text: string, pending: Pending, ordered = false, search: PreparedSearch | null = null, index: string | null = null): Knex.QueryBuilder {
    const query = index
      ? db.from(db.raw(mysql ? '?? FORCE INDEX (??)' : '?? INDEXED BY ??', ['users', index]))
      : ordered && mysql
        ? db.from(db.raw('?? FORCE INDEX (??)', ['users', USERNAME_INDEX]))
        : db('users');
    whereOnSide(query, 'users.id', side, pending, (q, assigned) => (assigned ? q.whereExists(member()) : q.whereNotExists(member())));
    whereSearch(query, { q: text, search });
    return query;
  }

  let totalsCache: { key: string; value: Promise<{ assigned: number; available: number; availableExact: boolean; users: number }> } | undefined;
  /**
   * Both sides' totals without a search, from cheap counts: the members exactly, the others up to
   * COUNT_CAP (the directory is counted only that far past the members, not all of a million users).
   */
  function totals(pending: Pending) {
    const key = `${pending.add.join(',')}|${pending.remove.join(',')}`;
    if (totalsCache?.key === key) return totalsCache.value;
    const value = (async () => {
      const members = await countOf(db('group_members').where('group_id', groupId));
      const directory = await countUpTo(db, db('users'), members + pending.add.length + COUNT_CAP);
      // Past the bound, the directory's size as the table statistics estimate it (it only weighs plans below).
      const users = directory.exact ? directory.n : Math.max(directory.n, (await userTotal(db)).n);
      const remove = idList(pending.remove);
      const add = idList(pending.add);
      // Pending removals of actual members leave; pending additions of existing non-members join.
      const leaving = remove ? await countOf(db('group_members').where('group_id', groupId).whereRaw(`user_id IN (${remove})`)) : 0;
      const joining = add ? await countOf(db('users').whereRaw(`users.id IN (${add})`).whereNotExists(member()).modify((q) => (remove ? q.whereRaw(`users.id NOT IN (${remove})`) : q))) : 0;
      const assigned = members - leaving + joining;
      // Past the bound the others are "more than COUNT_CAP" (users − assigned is at least that).
      return directory.exact ? { assigned, available: users - assigned, availableExact: true, users } : { assigned, available: COUNT_CAP + 1, availableExact: false, users };
    })();
    totalsCache = { key, value };
    return value;
  }

  return {
    async page(side, q, pending, limit, offset) {
      const text = q.trim();
      const word = singleSearchWord(text);
      if (word) {
        // One word: its four lookups within this side, counted and paged on their indexes (searchAmong).
        const found = await searchAmong(db, word, (index) => scoped(side, '', pending, false, null, index), 'asc', limit, offset);
        if (!found.ids.length) return { items: [], total: found.count.n, exact: found.count.exact };
        const byId = new Map((await db('users').whereIn('id', found.ids).select(COLUMNS)).map((r: Record<string, unknown>) => [Number(r.id), r]));
        return { items: found.ids.filter((id) => byId.has(id)).map((id) => toItem(byId.get(id)!)), total: found.count.n, exact: found.count.exact };
      }
      if (text) {
        // Several words: the search's users are looked up once by their prefix indexes; both queries read them by id.
        const search = await prepareSearch(db, text);
        // Bounded: a broad search ("a" among a million users) says "more than 10,000" rather than counting them all.
        const counted = await countUpTo(db, scoped(side, text, pending, false, search), COUNT_CAP);
        const rows = await scoped(side, text, pending, false, search).select(COLUMNS).orderByRaw('LOWER(users.username_lower)').limit(limit).offset(offset);
        return { items: rows.map(toItem), total: counted.n, exact: counted.exact };
      }
      const t = await totals(pending);
      const total = side === 'assigned' ? t.assigned : t.available;
      const exact = side === 'assigned' || t.availableExact;
      // Walking the username index costs about (offset + limit) / share-of-users rows.
      const share = t.users ? total / t.users : 0;
      const ordered = side === 'assigned' && share > 0 && (offset + limit) / share <= ORDERED_SCAN_LIMIT;
      // Deferred join: page through ids on the username index alone (covering), then read the page's rows.
      const ids: number[] = (await scoped(side, '', pending, ordered).select('users.id').orderBy('users.username_lower').limit(limit).offset(offset)).map(
        (r: { id: number }) => Number(r.id),
      );
      if (!ids.length) return { items: [], total, exact };
      const byId = new Map((await db('users').whereIn('id', ids).select(COLUMNS)).map((r: Record<string, unknown>) => [Number(r.id), r]));
      return { items: ids.filter((id) => byId.has(id)).map((id) => toItem(byId.get(id)!)), total, exact };
    },
    async ids(side, q, pending, cap) {
      const rows = await scoped(side, q.trim(), pending).select('users.id as id').limit(cap);
      return rows.map((r: { id: number }) => Number(r.id));
    },
  };
}
