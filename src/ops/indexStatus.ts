/**
 * The state of this server's decision state, for /readyz and /metrics: what the change-log follower
 * (src/changes/follower.ts) reports — the position applied, how long ago the log was last read (the most
 * the state can be behind the database), when entries were last applied, and whether it keeps up.
 */
import type { Db } from '../db/connect';
import { followerStatus, POLL_INTERVAL_MS } from '../changes/follower';

export interface IndexStatus {
  loaded: boolean;
  /** The change-log position the state reflects, when loaded. */
  position: number | null;
  /** How far behind the database the state may be, in seconds: the time since the log was last read. */
  lagSeconds: number;
  /** Following the database's changes: the last read succeeded and was recent. */
  following: boolean;
  /** Epoch ms of the last time changes were applied (or the state loaded); null before. */
  lastAppliedAt: number | null;
  /** Positions below `position` not seen yet (see src/changes/positions.ts). */
  holes: number;
  rebuilds: number;
}

/** The follower reads the log every POLL_INTERVAL_MS; a read older than this means it is not keeping up. */
const BEHIND_AFTER_MS = 5000;

export function indexStatus(db: Db): IndexStatus {
  const s = followerStatus(db);
  const lagMs = s.lagMs ?? 0;
  // A poll in progress or just due is not lag: only what exceeds one interval counts.
  const lagSeconds = Math.max(0, lagMs - 2 * POLL_INTERVAL_MS) / 1000;
  return {
    loaded: s.loaded,
    position: s.position,
    lagSeconds,
    following: s.loaded && s.following && lagMs < BEHIND_AFTER_MS,
    lastAppliedAt: s.lastAppliedAt,
    holes: s.holes,
    rebuilds: s.rebuilds,
  };
}
