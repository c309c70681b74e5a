/**
 * Which change-log positions a follower has seen — pure bookkeeping, no I/O, no clock (callers pass `now`).
 *
 * Why this is needed: positions are auto-increment ids, handed out when a transaction INSERTs its entry but
 * visible to others only when it COMMITs. On MariaDB/MySQL two writers can therefore commit out of order: a
 * follower may see position 12 while 11 is still uncommitted, and 11 appears a moment later. Reading
 * "everything above the highest position seen" would skip 11 for ever. And some positions never appear:
 * a transaction that rolls back (a validation failure after recording, a deadlock retry) leaves its id
 * unused, and Galera hands out ids with auto_increment_increment = cluster size (node 1: 1, 4, 7…,
 * node 2: 2, 5, 8…), so most numbers are never used at all.
 *
 * So every position below the high-water mark that has not been seen is a *hole*, remembered with the time
 * it was first missed. Each poll reads the entries above the high-water mark and probes the holes by
 * position (the follower re-reads recent holes on every poll and all of them a few times a second); an
 * entry that turns up fills its hole and is applied then — applying reloads the named entity's current
 * rows, so applying out of order gives the same state as in order. A hole still empty after
 * `holeTimeoutMs` is given up: its transaction rolled back or the number was never used. The timeout is
 * longer than any transaction holds a recorded change before committing (InnoDB's lock wait timeout is
 * 50 s by default), so a slow commit is still caught.
 */

export interface PositionTrackerOptions {
  /** A hole not filled after this long is given up (never used, or rolled back). */
  holeTimeoutMs: number;
  /** Holes younger than this are probed on every poll; older ones less often (see `holesToProbe`). */
  recentMs: number;
  /** At most this many holes are remembered; beyond, the oldest are given up first. */
  maxHoles: number;
}

export const DEFAULT_TRACKER_OPTIONS: PositionTrackerOptions = { holeTimeoutMs: 60_000, recentMs: 5_000, maxHoles: 20_000 };

export class PositionTracker {
  /** The highest position seen. */
  private highest: number;
  /** Hole position -> when it was first missed. */
  private readonly holes = new Map<number, number>();
  /** Holes given up so far (for metrics). */
  abandoned = 0;

  constructor(
    start: number,
    private readonly options: PositionTrackerOptions = DEFAULT_TRACKER_OPTIONS,
  ) {
    this.highest = start;
  }

  get high(): number {
    return this.highest;
  }

  get holeCount(): number {
    return this.holes.size;
  }

  /**
   * Starts from a known head while some positions below it may still commit: `present` are the positions
   * that exist in (from, head]; every other one in that range becomes a hole.
   */
  static startingAt(head: number, from: number, present: Iterable<number>, now: number, options: PositionTrackerOptions = DEFAULT_TRACKER_OPTIONS): PositionTracker {
    const t = new PositionTracker(head, options);
    const seen = new Set(present);
    for (let p = Math.max(from + 1, head - options.maxHoles + 1, 1); p <= head; p++) if (!seen.has(p)) t.holes.set(p, now);
    return t;
  }

  /**
   * Records positions just read (in any order); returns those not seen before, which the caller applies.
   * A position above the high-water mark opens holes for the numbers it skipped.
   */
  observe(positions: Iterable<number>, now: number): number[] {
    const fresh: number[] = [];
    for (const p of [...positions].sort((a, b) => a - b)) {
      if (p > this.highest) {
        for (let q = Math.max(this.highest + 1, p - this.options.maxHoles, 1); q < p; q++) this.holes.set(q, now);
        this.highest = p;
        fresh.push(p);
      } else if (this.holes.delete(p)) {
        fresh.push(p);
      }
    }
    this.trim();
    return fresh;
  }

  /** Holes to probe now: the recent ones, or with `all`, every one. */
  holesToProbe(now: number, all: boolean): number[] {
    const out: number[] = [];
    for (const [p, since] of this.holes) if (all || now - since < this.options.recentMs) out.push(p);
    return out;
  }

  /** Gives up holes older than the timeout; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [p, since] of this.holes) {
      if (now - since >= this.options.holeTimeoutMs) {
        this.holes.delete(p);
        n++;
      }
    }
    this.abandoned += n;
    return n;
  }

  /** Whether the entry at `position` has been seen (and so applied), or given up as never used. */
  covers(position: number): boolean {
    return position <= this.highest && !this.holes.has(position);
  }

  /** The highest position below which nothing is missing any more. */
  get settled(): number {
    let min = this.highest;
    for (const p of this.holes.keys()) if (p - 1 < min) min = p - 1;
    return min;
  }

  private trim(): void {
    if (this.holes.size <= this.options.maxHoles) return;
    const sorted = [...this.holes.keys()].sort((a, b) => a - b);
    for (const p of sorted.slice(0, this.holes.size - this.options.maxHoles)) this.holes.delete(p);
    this.abandoned += sorted.length - this.options.maxHoles;
  }
}
