/**
 * The state of this server's decision index, for /readyz and /metrics. Today the index is rebuilt whenever
 * the database's access version moves (src/access/service.ts), so once it answers it is current: loaded
 * means "built for the version the database holds now" and the lag is zero. The change log (issue 11) will
 * give a real applied position and lag; this is the one place to switch over.
 */
import type { Db } from '../db/connect';
import { getIndex } from '../access/service';

export interface IndexStatus {
  loaded: boolean;
  /** The position (version) the index reflects, when loaded. */
  position: number | null;
  /** How far behind the database the index is, in seconds (0 when current). */
  lagSeconds: number;
  /** Following the database's changes (false when the index could not be brought up to date). */
  following: boolean;
}

export async function indexStatus(db: Db, timeoutMs = 2000): Promise<IndexStatus> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    const index = await Promise.race([getIndex(db).catch(() => undefined), timeout]);
    if (!index) return { loaded: false, position: null, lagSeconds: 0, following: false };
    return { loaded: true, position: index.version, lagSeconds: 0, following: true };
  } finally {
    clearTimeout(timer);
  }
}
