/**
 * What the users list shows that changes without a change-log entry — when each user last signed in, who
 * has a live session ("Online"), whose password sign-in the throttle pauses ("Locked") — read for the
 * whole directory at once and kept per server, so that a page of the list served from the decision state
 * (src/access/directory.ts) asks the database nothing.
 *
 * Freshness, the bound stated in the README:
 * - this server's own writes count at once: a sign-in, an ended session, a throttle pause or its lifting
 *   made through this process marks the presence stale (`presenceChanged`, after the write commits), and
 *   the next page reads it again before answering;
 * - other servers' writes count within MAX_AGE_MS: a page never uses a presence read longer ago than that;
 * - times end by themselves: a session or a pause is shown until the moment it ends, compared with the clock
 *   when the page is made.
 * Sign-ins are read as those since a watermark (the last read's start, less CLOCK_SKEW_MS for the servers'
 * clocks): the decision state's accounts carry their last sign-in as of when they were read.
 */
import type { Conn, Db } from '../db/connect';
import { afterCommit } from '../db/transaction';
import * as repo from './presenceRepo';

/** A page uses a presence read at most this old (ms). */
export const MAX_AGE_MS = 1000;
/** Sign-ins are read again this far back, in case the server that wrote one has a clock behind ours. */
const CLOCK_SKEW_MS = 60_000;

/** Bumped after every presence-changing write committed through this process. */
let localWrites = 0;

/** Call in (or after) a write that signs a user in, ends sessions, or pauses or lifts a throttle wait. */
export function presenceChanged(conn: Conn): void {
  afterCommit(conn, () => {
    localWrites++;
  });
}

export class Presence {
  /** Sign-ins read since the watermark (later than what the accounts say). */
  private readonly signIns = new Map<number, number>();
  private liveUntil = new Map<number, number>();
  private pausedUntil = new Map<number, number>();
  private watermark: number | null = null;
  private readAt = -Infinity;
  private readAtWrites = -1;
  private reading: { writes: number; done: Promise<void> } | null = null;

  constructor(private readonly db: Db) {}

  /**
   * Resolves once this presence may answer a page made now: read within MAX_AGE_MS and after this process's
   * last presence-changing write. `accountsReadAt`: when the decision state read its accounts.
   */
  async current(accountsReadAt: number): Promise<this> {
    for (;;) {
      const writes = localWrites;
      if (this.readAtWrites === writes && Date.now() - this.readAt <= MAX_AGE_MS) return this;
      // A read started after the last write will do; one started before it will not.
      if (!this.reading || this.reading.writes !== writes) this.reading = { writes, done: this.read(writes, accountsReadAt) };
      await this.reading.done;
    }
  }

  private async read(writes: number, accountsReadAt: number): Promise<void> {
    const started = Date.now();
    const since = Math.min(this.watermark ?? accountsReadAt, accountsReadAt) - CLOCK_SKEW_MS;
    try {
      const [signIns, live, paused] = await Promise.all([repo.signInsSince(this.db, since), repo.liveSessionEnds(this.db, started), repo.pausedAccounts(this.db, started)]);
      for (const s of signIns) if (s.at > (this.signIns.get(s.id) ?? -Infinity)) this.signIns.set(s.id, s.at);
      this.watermark = Math.max(this.watermark ?? -Infinity, started);
      // Two reads overlap when a write came during the first: the older one, finishing last, changes nothing.
      if (started < this.readAt) return;
      this.liveUntil = new Map(live.map((l) => [l.id, l.until]));
      this.pausedUntil = new Map(paused.map((p) => [p.id, p.until]));
      this.readAt = started;
      this.readAtWrites = writes;
    } finally {
      if (this.reading?.writes === writes) this.reading = null;
    }
  }

  /** The user's last sign-in: the later of what the account says and what was read since. */
  lastSignIn(userId: number, fromAccount: number | null): number | null {
    const read = this.signIns.get(userId);
    return read === undefined ? fromAccount : fromAccount === null ? read : Math.max(read, fromAccount);
  }

  online(userId: number, now: number): boolean {
    return (this.liveUntil.get(userId) ?? 0) > now;
  }

  paused(userId: number, now: number): boolean {
    return (this.pausedUntil.get(userId) ?? 0) > now;
  }
}

const perDb = new WeakMap<Db, Presence>();

export function presenceOf(db: Db): Presence {
  let p = perDb.get(db);
  if (!p) perDb.set(db, (p = new Presence(db)));
  return p;
}
