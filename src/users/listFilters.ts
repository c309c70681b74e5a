/**
 * The users list's filters, read from a query string: the list page, its bulk actions ("all users matching
 * this filter") and its CSV export read them the same way.
 */
import type Koa from 'koa';
import Joi from 'joi';
import { validate } from '../http/forms';
import { ValidationError } from '../http/errors';
import type { Conn } from '../db/connect';
import * as groups from '../groups/repo';
import * as repo from './repo';

export const PAGE_SIZES = [25, 50, 100];

const listQuery = Joi.object({
  q: Joi.string().trim().max(100).allow(''),
  role: Joi.number().integer().min(1).max(2147483647).empty(''),
  license: Joi.number().integer().min(1).max(2147483647).empty(''),
  group: Joi.string().trim().max(100).allow(''),
  status: Joi.string().valid('active', 'deactivated', 'locked').empty(''),
  online: Joi.string().valid('1').empty(''),
  source: Joi.string().valid('local', 'sso').empty(''),
  sort: Joi.string().valid(...Object.keys(repo.USER_SORTS)).default('username'),
  dir: Joi.string().valid('asc', 'desc').default('asc'),
  page: Joi.number().integer().min(1).max(100000).default(1),
  size: Joi.number().valid(...PAGE_SIZES).default(50),
});

export interface ListQuery {
  q?: string;
  role?: number;
  license?: number;
  group?: string;
  status?: 'active' | 'deactivated' | 'locked';
  online?: '1';
  source?: 'local' | 'sso';
  sort: repo.UserSort;
  dir: 'asc' | 'desc';
  page: number;
  size: number;
}

export interface ListFilters {
  query: ListQuery;
  /** Why some of the query was not used, for the page to say. */
  filterError?: string;
  /** The filter for the repository; null when it can match nobody (a group that does not exist). */
  filter: repo.UserListFilter | null;
}

/** The query keys that narrow the list (as opposed to sorting and paging it). */
export const FILTER_KEYS = ['q', 'role', 'license', 'group', 'status', 'online', 'source'] as const;

export function describeFilters(q: ListQuery, names: { roles: Array<{ id: number; name: string }>; licenses: Array<{ id: number; name: string }> }): string[] {
  const out: string[] = [];
  if (q.q) out.push(`search “${q.q}”`);
  if (q.role) out.push(`role ${names.roles.find((r) => r.id === q.role)?.name ?? 'unknown'}`);
  if (q.license) out.push(`license ${names.licenses.find((l) => l.id === q.license)?.name ?? 'unknown'}`);
  if (q.group) out.push(`group ${q.group}`);
  if (q.status) out.push(q.status);
  if (q.online) out.push('logged in now');
  if (q.source) out.push(q.source === 'sso' ? 'single sign-on accounts' : 'local accounts');
  return out;
}

/** Query strings already checked (the same few recur: the first page, its sorts and pages), most recent last. */
const checked = new Map<string, { query: ListQuery; error?: string }>();
const CHECKED_KEPT = 500;

/** The query checked against `listQuery` (a copy: callers complete it), or the defaults and why not. */
function parseListQuery(raw: Record<string, unknown>): { query: ListQuery; error?: string } {
  const key = JSON.stringify(raw);
  let found = checked.get(key);
  if (!found) {
    try {
      found = { query: validate<ListQuery>(listQuery, raw) };
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      found = { query: validate<ListQuery>(listQuery, {}), error: 'Some filters were not understood and have been reset.' };
    }
    if (checked.size >= CHECKED_KEPT) checked.delete(checked.keys().next().value!);
    checked.set(key, found);
  }
  return { query: { ...found.query }, error: found.error };
}

/**
 * Reads and checks the filters. The group filter takes a group's name, or the start of exactly one group's
 * name (what a type-ahead leaves in the box when the administrator stops typing).
 */
export async function readListFilters(db: Conn, raw: Record<string, unknown>): Promise<ListFilters> {
  const parsed = parseListQuery(raw);
  let query = parsed.query;
  let filterError = parsed.error;
  let groupId: number | undefined;
  if (query.group) {
    const exact = await groups.findByName(db, query.group);
    if (exact) {
      groupId = exact.id;
      query.group = exact.name;
    } else {
      const starting = await groups.suggest(db, query.group, 2);
      if (starting.length === 1) {
        groupId = starting[0].id;
        query.group = starting[0].name;
      } else {
        filterError = starting.length
          ? `Several groups start with “${query.group}”: choose one from the suggestions.`
          : `There is no group named “${query.group}”.`;
        return { query, filterError, filter: null };
      }
    }
  }
  return {
    query,
    filterError,
    filter: {
      q: query.q,
      roleId: query.role,
      licenseTypeId: query.license,
      groupId,
      status: query.status,
      online: !!query.online,
      source: query.source,
    },
  };
}

export function queryOf(ctx: Koa.Context): Record<string, unknown> {
  return ctx.query as Record<string, unknown>;
}
