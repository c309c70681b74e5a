import type { Knex } from 'knex';
import type { Conn } from './connect';

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
  page(side: Side, q: string, pending: Pending, limit: number, offset: number): Promise<{ items: DualListItem[]; total: number }>;
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
  search: (q: Knex.QueryBuilder, text: string) => void;
  orderBy: string[];
  select: string[];
  toItem: (row: Record<string, unknown>) => DualListItem;
}

export function sqlDualListSource(cfg: SqlDualListConfig): DualListSource {
  const scoped = (side: Side, q: string, pending: Pending) => {
    const query = cfg.from(cfg.db);
    whereOnSide(query, cfg.idColumn, side, pending, cfg.assignedInDb);
    cfg.search(query, q);
    return query;
  };
  return {
    async page(side, q, pending, limit, offset) {
      const countRow = await scoped(side, q, pending).count({ n: '*' }).first();
      // Deferred join: page through ids on the sort index, then read (and join) only the rows shown.
      const idQuery = scoped(side, q, pending).select(`${cfg.idColumn} as id`).limit(limit).offset(offset);
      for (const o of cfg.orderBy) idQuery.orderBy(o);
      const ids: number[] = (await idQuery).map((r: { id: number }) => Number(r.id));
      if (!ids.length) return { items: [], total: Number(countRow?.n ?? 0) };
      const rowQuery = cfg.from(cfg.db).select(cfg.select).whereRaw(`${cfg.idColumn} IN (${idList(ids)})`);
      cfg.join?.(rowQuery);
      const byId = new Map((await rowQuery).map((r: Record<string, unknown>) => [Number(r.id), r]));
      const items = ids.map((id) => byId.get(id)).filter((r): r is Record<string, unknown> => !!r).map(cfg.toItem);
      return { items, total: Number(countRow?.n ?? 0) };
    },
    async ids(side, q, pending, cap) {
      const rows = await scoped(side, q, pending).select(`${cfg.idColumn} as id`).limit(cap);
      return rows.map((r: { id: number }) => Number(r.id));
    },
  };
}
