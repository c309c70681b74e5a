/**
 * Follows the change log: one follower per database handle keeps that handle's decision state
 * (src/access/state.ts) current, so decisions and API authentication read nothing from the database.
 *
 * - Start-up: the state is loaded whole, tagged with the log's head at that moment.
 * - Then every POLL_INTERVAL_MS (a timer that never keeps the process alive) one query reads the entries
 *   above the highest position seen, and the state reloads only what they name. Positions that commit out
 *   of order or never (rolled back, Galera's auto_increment_increment) are handled by PositionTracker
 *   (src/changes/positions.ts): holes below the high-water mark are probed by position until they appear
 *   or time out; recent holes on every poll, all of them every FULL_PROBE_MS.
 * - A write committed through this process on this handle pokes the follower at once (onLocalCommit), and
 *   the next decision waits for it: a server always answers its own writes.
 * - A full rebuild happens only at start-up, for a `rebuild` entry (seeds, very large bulk writes), or when
 *   the log was trimmed past a position this server had not settled: the state is then reloaded while the
 *   old one keeps answering. Entries are marked seen only once applied, so a failed apply is retried.
 *
 * Consistency tokens: `awaitPosition(db, position)` resolves true once the entry at `position` has been
 * applied, waiting at most CONSISTENCY_WAIT_MS; the API answers 503 with Retry-After when it is false.
 */
import type { Db } from '../db/connect';
import { DecisionState, type AppliedChange } from '../access/state';
import { PositionTracker, DEFAULT_TRACKER_OPTIONS } from './positions';
import * as repo from './repo';
import { onLocalCommit } from './service';

/** How often the log is read (ms). A second server reflects a write within about this, plus one query. */
export const POLL_INTERVAL_MS = 20;
/** After a failed poll (database away), the next one waits this long. */
const RETRY_INTERVAL_MS = 1000;
/** Every hole, not only recent ones, is probed this often. */
const FULL_PROBE_MS = 250;
/** The trim marker is read this often (a trim past us means a rebuild). */
const TRIM_CHECK_MS = 1000;
/** At start-up, the positions this far below the head that are missing become holes (they may still commit). */
const START_WINDOW = 2000;
/** At most this many entries are read per poll; the next poll goes on at once. */
const BATCH = 5000;
/** How long a request carrying a consistency token may wait for the state to reach it. */
export const CONSISTENCY_WAIT_MS = 2000;
/** How long a decision waits for a write committed through this same server to be applied. */
const LOCAL_WAIT_MS = 2000;

export interface FollowerStatus {
  /** The state is loaded and answers. */
  loaded: boolean;
  /** The highest change-log position applied (null before the first load). */
  position: number | null;
  /** Below this position nothing is missing any more. */
  settled: number | null;
  /** Positions below `position` not seen yet (an uncommitted or rolled-back transaction's, or never used). */
  holes: number;
  /** The last poll succeeded. */
  following: boolean;
  /** Milliseconds since the start of the last successful poll: how far behind the database the state may be. */
  lagMs: number | null;
  /** Epoch ms of the last time entries were applied (or the state was loaded). */
  lastAppliedAt: number | null;
  /** Entries applied and full loads since start. */
  applied: number;
  rebuilds: number;
  accounts: number;
  tokens: number;
}

interface Waiter {
  position: number;
  resolve: (reached: boolean) => void;
  timer: NodeJS.Timeout;
}

class Follower {
  state?: DecisionState;
  private tracker?: PositionTracker;
  private loading?: Promise<DecisionState>;
  private timer?: NodeJS.Timeout;
  private polling = false;
  private pollAgain = false;
  private stopped = false;
  private localCommitted = 0;
  private waiters: Waiter[] = [];
  private lastFullProbe = 0;
  private lastTrimCheck = 0;
  private lastGoodPollStart: number | null = null;
  private lastAppliedAt: number | null = null;
  private following = false;
  private appliedCount = 0;
  private rebuildCount = 0;

  constructor(private readonly db: Db) {}

  start(): void {
    void this.ensureLoaded().catch(() => undefined);
  }

  stop(): void {
    this.stopped = true;
    this.following = false;
    clearTimeout(this.timer);
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiters = [];
  }

  /** The state, loaded (once) and caught up with this process's own writes. */
  async current(): Promise<DecisionState> {
    const state = this.state ?? (await this.ensureLoaded());
    if (this.localCommitted && !this.covers(this.localCommitted)) await this.waitFor(this.localCommitted, LOCAL_WAIT_MS);
    return this.state ?? state;
  }

  /** The state, when `current()` would answer it without waiting (loaded, caught up with own writes); else undefined. */
  currentNow(): DecisionState | undefined {
    if (!this.state || (this.localCommitted && !this.covers(this.localCommitted))) return undefined;
    return this.state;
  }

  /**
   * True when everything committed up to `maxLagMs` ago has been applied: loaded, caught up with this
   * process's own writes, and the last poll succeeded and started at most `maxLagMs` ago.
   */
  currentWithin(maxLagMs: number): boolean {
    return this.currentNow() !== undefined && this.following && this.lastGoodPollStart !== null && Date.now() - this.lastGoodPollStart <= maxLagMs;
  }

  private tell(changes: AppliedChange[] | 'everything'): void {
    for (const l of appliedListeners.get(this.db) ?? []) l(changes);
  }

  covers(position: number): boolean {
    return !!this.tracker && this.tracker.covers(position);
  }

  noteLocalCommit(position: number): void {
    if (position > this.localCommitted) this.localCommitted = position;
    this.poke();
  }

  /** Resolves true once `position` is applied, false after `timeoutMs`. */
  async waitFor(position: number, timeoutMs: number): Promise<boolean> {
    if (!this.state) await this.ensureLoaded();
    if (this.covers(position)) return true;
    if (this.stopped) return false;
    const reached = new Promise<boolean>((resolve) => {
      const w: Waiter = { position, resolve, timer: setTimeout(() => this.settle(w, false), timeoutMs) };
      w.timer.unref();
      this.waiters.push(w);
    });
    this.poke();
    return reached;
  }

  position(): number {
    return this.tracker?.high ?? 0;
  }

  status(now = Date.now()): FollowerStatus {
    return {
      loaded: !!this.state,
      position: this.tracker?.high ?? null,
      settled: this.tracker?.settled ?? null,
      holes: this.tracker?.holeCount ?? 0,
      following: this.following,
      lagMs: this.lastGoodPollStart === null ? null : Math.max(0, now - this.lastGoodPollStart),
      lastAppliedAt: this.lastAppliedAt,
      applied: this.appliedCount,
      rebuilds: this.rebuildCount,
      accounts: this.state?.accountCount ?? 0,
      tokens: this.state?.tokenCount ?? 0,
    };
  }

  private settle(w: Waiter, reached: boolean): void {
    const i = this.waiters.indexOf(w);
    if (i < 0) return;
    this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.resolve(reached);
  }

  private releaseWaiters(): void {
    for (const w of [...this.waiters]) if (this.covers(w.position)) this.settle(w, true);
  }

  private ensureLoaded(): Promise<DecisionState> {
    if (this.state) return Promise.resolve(this.state);
    this.loading ??= this.loadWhole().then(
      (state) => {
        this.schedule(POLL_INTERVAL_MS);
        return state;
      },
      (err) => {
        this.loading = undefined;
        throw err;
      },
    );
    return this.loading;
  }

  /** Reads the head, then everything; entries committed meanwhile are read again by the next poll (idempotent). */
  private async loadWhole(): Promise<DecisionState> {
    const started = Date.now();
    const head = await repo.head(this.db);
    const present = await repo.positionsBetween(this.db, head - START_WINDOW, head);
    const state = await DecisionState.load(this.db, head);
    this.tracker = PositionTracker.startingAt(head, head - START_WINDOW, present, Date.now(), DEFAULT_TRACKER_OPTIONS);
    this.state = state;
    this.tell('everything');
    this.rebuildCount++;
    this.lastAppliedAt = Date.now();
    this.lastGoodPollStart = started;
    this.following = true;
    this.releaseWaiters();
    return state;
  }

  private poke(): void {
    if (this.stopped || !this.state) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.poll(), ms);
    this.timer.unref();
  }

  private databaseClosed(): boolean {
    return !(this.db.client as { pool?: unknown }).pool;
  }

  private async poll(): Promise<void> {
    if (this.stopped || this.polling) return;
    if (this.databaseClosed()) {
      this.stop();
      return;
    }
    this.polling = true;
    this.pollAgain = false;
    let next = POLL_INTERVAL_MS;
    const started = Date.now();
    try {
      const more = await this.pollOnce(started);
      this.lastGoodPollStart = started;
      this.following = true;
      if (more) next = 0;
    } catch {
      // The database is away: the state keeps answering, /readyz says it is behind; read again later.
      this.following = false;
      next = RETRY_INTERVAL_MS;
    } finally {
      this.polling = false;
    }
    this.releaseWaiters();
    if (this.databaseClosed()) this.stop();
    else this.schedule(this.pollAgain ? 0 : next);
  }

  /** One round: new entries, filled holes, the trim marker. Returns true when more entries are waiting. */
  private async pollOnce(now: number): Promise<boolean> {
    const tracker = this.tracker!;
    if (now - this.lastTrimCheck >= TRIM_CHECK_MS) {
      this.lastTrimCheck = now;
      if ((await repo.trimmedThrough(this.db)) > tracker.settled) {
        // Entries we never saw may have been deleted: only a reload is sure to include them.
        await this.loadWhole();
        return false;
      }
    }
    const above = await repo.readAfter(this.db, tracker.high, BATCH);
    const all = now - this.lastFullProbe >= FULL_PROBE_MS;
    if (all) this.lastFullProbe = now;
    const probe = tracker.holesToProbe(now, all);
    const filled = probe.length ? await repo.readPositions(this.db, probe) : [];
    const rows = [...filled, ...above];
    // Applied first, recorded as seen after: until then covers() stays false, so nobody is answered from a
    // state still missing them; and if applying fails, the next poll reads them again.
    const fresh = tracker.unseen(rows.map((r) => r.position));
    const toApply = rows.filter((r) => fresh.has(r.position));
    if (toApply.length && !(await this.state!.apply(this.db, toApply, Math.max(tracker.high, ...toApply.map((r) => r.position))))) {
      await this.loadWhole();
      return false;
    }
    if (toApply.length) this.tell(toApply);
    tracker.observe(rows.map((r) => r.position), now);
    tracker.expire(now);
    if (toApply.length) {
      this.appliedCount += toApply.length;
      this.lastAppliedAt = Date.now();
    }
    return above.length === BATCH;
  }
}

const followers = new WeakMap<Db, Follower>();
/**
 * Listeners by database handle, not by follower: an app closed and made again over the same handle starts a
 * new follower, whose first whole load must reach the caches the old one fed.
 */
const appliedListeners = new WeakMap<Db, Array<(changes: AppliedChange[] | 'everything') => void>>();

function followerFor(db: Db): Follower {
  let f = followers.get(db);
  if (!f) {
    followers.set(db, (f = new Follower(db)));
    f.start();
  }
  return f;
}

onLocalCommit((db, position) => followers.get(db as Db)?.noteLocalCommit(position));

/** Starts following (loads the state in the background); the app does this at start-up. */
export function startFollowing(db: Db): void {
  followerFor(db);
}

/** Stops the follower of this handle (app shutdown, before the pool is destroyed). */
export function stopFollowing(db: Db): void {
  followers.get(db)?.stop();
  followers.delete(db);
}

/** The decision state of this handle, loaded and caught up with this process's own writes. */
export function decisionState(db: Db): Promise<DecisionState> {
  return followerFor(db).current();
}

/** The decision state if it can be used at once (see `decisionState`), else undefined: the caller then awaits `decisionState`. */
export function decisionStateNow(db: Db): DecisionState | undefined {
  return followerFor(db).currentNow();
}

/**
 * Waits until the state reflects change-log position `position` (a consistency token), at most
 * `timeoutMs`. True when it does; false when the time ran out (answer 503 with Retry-After, never stale).
 */
export function awaitPosition(db: Db, position: number, timeoutMs = CONSISTENCY_WAIT_MS): Promise<boolean> {
  return followerFor(db).waitFor(position, timeoutMs);
}

/** The change-log position this server's state reflects (0 before it is loaded): a decision's consistency token. */
export function followerPosition(db: Db): number {
  return followerFor(db).position();
}

/**
 * Calls `listener` with the entries each poll applies to this handle's state (before they count as seen), and
 * with 'everything' after a whole load, for caches outside the decision state that follow the same log.
 */
export function onApplied(db: Db, listener: (changes: AppliedChange[] | 'everything') => void): void {
  const listeners = appliedListeners.get(db);
  if (listeners) listeners.push(listener);
  else appliedListeners.set(db, [listener]);
}

/** True when this server has applied every change committed up to `maxLagMs` ago (its own writes included). */
export function followerCurrentWithin(db: Db, maxLagMs: number): boolean {
  return followerFor(db).currentWithin(maxLagMs);
}

export function followerStatus(db: Db): FollowerStatus {
  return followerFor(db).status();
}
