import type { Knex } from 'knex';
import type { Conn } from './connect';
import { COUNT_CAP, countUpTo } from '../users/repo';

/**
 * What a dual list ("Users not in the group" ⇄ "Assigned users", src/http/dualList.ts) reads: each side
 * searched and paged by the database, given the moves still pending in the form. The sources (a group's
 * members, a role's holders, a user's groups) live in their features' repos and are built from these.
 */

export type Side = 'available' | 'assigned';

export interface DualListItem {
  id: number;
  label: string;
  detail?: string;
}

export interface Pending {
  add: number[];
  remove: number[];
}

export interface DualListSource {
  /** `total` is exact unless `exact` is false: then it is a lower bound (more than COUNT_CAP match). */
  page(side: Side, q: string, pending: Pending, limit: number, offset: number): Promise<{ items: DualListItem[]; total: number; exact?: boolean }>;
  ids(side: Side, q: string, pending: Pending, cap: number): Promise<number[]>;
}

/** Ids inlined into SQL: only positive 32-bit integers get through (so a list of thousands stays one statement). */
export function idList(list: number[]): string {
  return list
    .filter((n) => Number.isInteger(n) && n > 0 && n <= 2147483647)
    .map(String)
    .join(',');
}

/**
 * Narrows `query` to the items on one side once the pending moves are applied: assigned = (assigned in the
 * database and not pending removal) or pending addition; available = the rest.
 */
export function whereOnSide(query: Knex.QueryBuilder, idColumn: string, side: Side, pending: Pending, assignedInDb: (q: Knex.QueryBuilder, assigned: boolean) => void): void {
  const add = idList(pending.add);
  const remove = idList(pending.remove);
  query.where((w) => {
    if (side === 'assigned') {
      w.where((inner) => {
        assignedInDb(inner, true);
        if (remove) inner.whereRaw(`${idColumn} NOT IN (${remove})`);
      });
      if (add) w.orWhereRaw(`${idColumn} IN (${add})`);
    } else {
      w.where((inner) => {
        assignedInDb(inner, false);
        if (remove) inner.orWhereRaw(`${idColumn} IN (${remove})`);
      });
      if (add) w.whereRaw(`${idColumn} NOT IN (${add})`);
    }
  });
}

/**
 * A dual list over a table of items (users, groups) where "assigned" is a condition in SQL (a membership
 * row exists, a column equals a value).
 */
export interface SqlDualListConfig {
  db: Conn;
  /** The items: e.g. `db('users')`. Filtering, counting and paging run on this alone. */
  from: (db: Conn) => Knex.QueryBuilder;
  /** Joins needed only to show the page's items (e.g. each user's role name). */
  join?: (q: Knex.QueryBuilder) => void;
  idColumn: string;
  /** Adds "item is assigned in the database" (or its negation) to the query. */
  assignedInDb: (q: Knex.QueryBuilder, assigned: boolean) => void;
  /** Looks a search up ahead (e.g. the users' union of prefix lookups); its result reaches `search`. */
  prepare?: (text: string) => Promise<unknown>;
  search: (q: Knex.QueryBuilder, text: string, prepared?: unknown) => void;
  orderBy: string[];
  select: string[];
  toItem: (row: Record<string, unknown>) => DualListItem;
}

export function sqlDualListSource(cfg: SqlDualListConfig): DualListSource {
  const scoped = (side: Side, q: string, pending: Pending, prepared?: unknown) => {
    const query = cfg.from(cfg.db);
    whereOnSide(query, cfg.idColumn, side, pending, cfg.assignedInDb);
    cfg.search(query, q, prepared);
    return query;
  };
  const prepare = async (q: string) => (q.trim() && cfg.prepare ? cfg.prepare(q) : undefined);
  return {
    async page(side, q, pending, limit, offset) {
      const prepared = await prepare(q);
      // Counted up to COUNT_CAP: beyond, the pane says "more than 10,000" instead of scanning the directory.
      const count = await countUpTo(cfg.db, scoped(side, q, pending, prepared), COUNT_CAP);
      // Deferred join: page through ids on the sort index, then read (and join) only the rows shown.
      const idQuery = scoped(side, q, pending, prepared).select(`${cfg.idColumn} as id`).limit(limit).offset(offset);
      for (const o of cfg.orderBy) idQuery.orderBy(o);
      const ids: number[] = (await idQuery).map((r: { id: number }) => Number(r.id));
      if (!ids.length) return { items: [], total: count.n, exact: count.exact };
      const rowQuery = cfg.from(cfg.db).select(cfg.select).whereRaw(`${cfg.idColumn} IN (${idList(ids)})`);
      cfg.join?.(rowQuery);
      const byId = new Map((await rowQuery).map((r: Record<string, unknown>) => [Number(r.id), r]));
      const items = ids.map((id) => byId.get(id)).filter((r): r is Record<string, unknown> => !!r).map(cfg.toItem);
      return { items, total: count.n, exact: count.exact };
    },
    async ids(side, q, pending, cap) {
      const rows = await scoped(side, q, pending, await prepare(q)).select(`${cfg.idColumn} as id`).limit(cap);
      return rows.map((r: { id: number }) => Number(r.id));
    },
  };
}
