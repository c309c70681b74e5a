import type { Config } from '../config';
import type { Db } from '../db/connect';
import * as sessions from '../sessions/repo';
import * as throttle from './throttle';
import * as resets from './passwordReset';
import { trimChangeLog } from '../changes/service';

export const HOUSEKEEPING_INTERVAL_MS = 5 * 60_000;

/** Removes what has expired: sessions (idle or past their absolute lifetime), throttle counters, reset links, old change-log entries. */
export async function sweep(db: Db, config: Config, now = Date.now()): Promise<{ sessions: number; throttles: number; resets: number; changes: number }> {
  return {
    sessions: await sessions.removeExpired(db, now),
    throttles: await throttle.removeStale(db, config.throttle, now),
    resets: await resets.removeExpired(db, now),
    changes: await trimChangeLog(db, now),
  };
}

/** Runs `sweep` every few minutes; the timer never keeps the process alive, and `stop` ends it. */
export function startHousekeeping(db: Db, config: Config, intervalMs = HOUSEKEEPING_INTERVAL_MS): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep(db, config)
      .catch((err: Error) => {
        if (config.env !== 'test') console.error(`Housekeeping failed: ${err.message}`);
      })
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
