/**
 * The change log (issue 11). Every write that can change an access decision or an API caller calls
 * `recordChange(trx, …)` in the same transaction; each server follows the log (src/changes/follower.ts) and
 * reloads only what an entry names. An entry's position is the write's consistency token.
 *
 * Kinds, and what a follower reloads for each:
 *   user           id = user id: the account (status, lock, license, role, names) and its memberships
 *   membership     id = user id: that user's group memberships only
 *   group_members  id = group id: who is a member of that group (a group form or bulk change of many users)
 *   group          id = group id: the group's name and existence (its rules carry the name)
 *   rule           id = domain permission id
 *   workspace      id = workspace id
 *   license        license types and caps (small: all of them)
 *   domain         the domains (small: all of them)
 *   role           id = role id: the role's name, built-in key and application permissions
 *   token          id = API token id: hash, owner, expiry, revocation
 *   client         id = machine client id: owner, scopes, rate limit, status (removed: its tokens too)
 *   client_token   id = client token id: hash, expiry, revocation
 *   sessions       id = user id: that user's console sessions ended (signed out, ended by an administrator,
 *                  password changed); no id: sessions of very many users. Not part of the decision state:
 *                  each server drops its in-memory copies of those sessions (src/sessions/cache.ts).
 *   rebuild        everything (seeds, and bulk writes touching more than REBUILD_ABOVE entities)
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Conn } from '../db/connect';
import { afterCommit } from '../db/transaction';
import * as repo from './repo';

export const CHANGE_KINDS = ['user', 'membership', 'group_members', 'group', 'rule', 'workspace', 'license', 'domain', 'role', 'token', 'client', 'client_token', 'sessions', 'rebuild'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface Change {
  kind: ChangeKind;
  id?: number | null;
  key?: string | null;
}

/** A write touching more entities than this records one `rebuild` instead of an entry per entity. */
export const REBUILD_ABOVE = 2000;

/** Told of every position this process committed (the local follower catches up before its next answer). */
type CommitListener = (db: Conn, position: number) => void;
const listeners: CommitListener[] = [];

export function onLocalCommit(listener: CommitListener): void {
  listeners.push(listener);
}

/** The highest position the current request's transactions committed (for its consistency token). */
const requestPositions = new AsyncLocalStorage<{ position: number }>();

/** Runs `work` collecting the positions its writes commit; `position()` reads the highest so far (0: none). */
export function collectPositions<T>(work: (position: () => number) => Promise<T>): Promise<T> {
  const store = { position: 0 };
  return requestPositions.run(store, () => work(() => store.position));
}

function committed(trx: Conn, position: number): void {
  const store = requestPositions.getStore();
  afterCommit(trx, (db) => {
    if (store && position > store.position) store.position = position;
    for (const l of listeners) l(db, position);
  });
}

/** Appends one entry in the caller's transaction; returns its position. */
export async function recordChange(trx: Conn, change: Change): Promise<number> {
  const position = await repo.append(trx, change, Date.now());
  committed(trx, position);
  return position;
}

/**
 * One entry per id (deduplicated), or a single `rebuild` when there are more than REBUILD_ABOVE; returns
 * the last position, or 0 when there was nothing to record.
 */
export async function recordChanges(trx: Conn, kind: ChangeKind, ids: Iterable<number>): Promise<number> {
  const unique = [...new Set(ids)];
  if (!unique.length) return 0;
  if (unique.length > REBUILD_ABOVE) return recordChange(trx, { kind: 'rebuild' });
  const now = Date.now();
  await repo.appendMany(trx, unique.slice(0, -1).map((id) => ({ kind, id })), now);
  return recordChange(trx, { kind, id: unique[unique.length - 1] });
}

/**
 * Members moved in or out of a group: one `membership` entry per user (each server reloads those users'
 * groups), or for very many one `group_members` entry (each server reloads that group's member list).
 */
export async function recordMembershipChanges(trx: Conn, groupId: number, userIds: number[]): Promise<number> {
  if (new Set(userIds).size > REBUILD_ABOVE) return recordChange(trx, { kind: 'group_members', id: groupId });
  return recordChanges(trx, 'membership', userIds);
}

/** The newest committed position (a write that recorded nothing answers this as its consistency token). */
export function headPosition(db: Conn): Promise<number> {
  return repo.head(db);
}

/** Entries older than this are trimmed by housekeeping (the newest KEEP_AT_LEAST always stay). */
export const CHANGE_LOG_RETENTION_MS = 24 * 3600_000;
const KEEP_AT_LEAST = 10_000;

export function trimChangeLog(db: Conn, now = Date.now()): Promise<number> {
  return repo.trim(db, now - CHANGE_LOG_RETENTION_MS, KEEP_AT_LEAST);
}
