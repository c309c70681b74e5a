/**
 * Signed-in console sessions, remembered per server so that a page view reads nothing from the database to
 * know who is asking (issue 14: a page of the users list in its default view asks the database nothing).
 *
 * The database row stays the truth; a copy is used only when it cannot differ from it in a way that matters:
 * - only for GET and HEAD (a form post, a sign-in step, a re-authentication always reads the row);
 * - only when the browser's version cookie (gh_sv) names the copy's version: a save on another server gave the
 *   browser the newer number, so its next page reads the row there;
 * - only while this server's change-log follower is current (src/changes/follower.ts): every end of a
 *   session (sign-out, ended by an administrator, password changed, account deactivated or removed) records a
 *   `sessions` or `user` entry, and the follower drops the copies of that user before the entry counts as
 *   applied; a server that cannot follow the log uses no copies;
 * - for at most COPY_TTL_MS, and never one read before an end of sessions this server has heard of (the
 *   epoch check below closes the race of a read in flight while the end is applied);
 * - a save based on a copy writes only over the version it read (src/http/session.ts), so a stale copy is
 *   never written back.
 */
import type { AppliedChange } from '../access/state';
import type { Db } from '../db/connect';
import { followerCurrentWithin, onApplied } from '../changes/follower';

/** How long a copy is used before the row is read again. */
export const COPY_TTL_MS = 60_000;
/** Copies kept at most per server (the oldest go first). */
const MAX_COPIES = 20_000;
/** The follower must have read the log this recently for copies to be used (it polls every 20 ms). */
const MAX_FOLLOWER_LAG_MS = 1_000;

export interface SessionCopy {
  id: string;
  userId: number;
  /** The row's `data` (JSON), parsed afresh for each request (koa-session changes what it gets). */
  data: string;
  createdAt: number;
  expiresAt: number;
  version: number;
  copiedAt: number;
}

export class SessionCache {
  private readonly copies = new Map<string, SessionCopy>();
  /** Bumped whenever copies are dropped for an end of sessions: a read that started before may not be kept. */
  private epoch = 0;

  constructor(private readonly usable: () => boolean = () => true) {}

  /** The copy for this session id and version, if it may answer a page now. */
  find(id: string, version: number, now: number): SessionCopy | undefined {
    const copy = this.copies.get(id);
    if (!copy || copy.version !== version || copy.expiresAt <= now || now - copy.copiedAt >= COPY_TTL_MS) return undefined;
    return this.usable() ? copy : undefined;
  }

  /** Call before reading or writing a row; pass the result to `keep`. */
  mark(): number {
    return this.epoch;
  }

  /** Keeps a copy of what was read or written, unless sessions were ended since `mark`. */
  keep(copy: SessionCopy, mark: number): void {
    if (mark !== this.epoch) return;
    this.copies.delete(copy.id);
    if (this.copies.size >= MAX_COPIES) this.copies.delete(this.copies.keys().next().value as string);
    this.copies.set(copy.id, copy);
  }

  drop(id: string): void {
    this.copies.delete(id);
  }

  /** Change-log entries applied by this server's follower: the copies of the users they name go. */
  applied(changes: AppliedChange[] | 'everything'): void {
    const users = new Set<number>();
    let all = changes === 'everything';
    if (changes !== 'everything') {
      for (const c of changes) {
        if (c.kind === 'rebuild' || (c.kind === 'sessions' && c.entityId === null)) all = true;
        else if ((c.kind === 'sessions' || c.kind === 'user') && c.entityId !== null) users.add(c.entityId);
      }
    }
    if (!all && !users.size) return;
    this.epoch++;
    if (all) this.copies.clear();
    else for (const [id, copy] of this.copies) if (users.has(copy.userId)) this.copies.delete(id);
  }

  get size(): number {
    return this.copies.size;
  }
}

const caches = new WeakMap<Db, SessionCache>();

/** The session copies of this database handle, dropped as its change-log follower applies ends of sessions. */
export function sessionCacheFor(db: Db): SessionCache {
  let cache = caches.get(db);
  if (!cache) {
    const created = new SessionCache(() => followerCurrentWithin(db, MAX_FOLLOWER_LAG_MS));
    onApplied(db, (changes) => created.applied(changes));
    caches.set(db, (cache = created));
  }
  return cache;
}
