/**
 * A fixed-window counter per key (per API token, per machine client). Kept in memory: each server enforces the limit on the
 * requests it serves, which bounds a token's rate to limit × servers.
 */
export class RateLimiter {
  private windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Counts one request; returns 0 when allowed, else the milliseconds until the window resets. `limit` overrides the default for this key. */
  take(key: string, now = Date.now(), limit = this.limit): number {
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.windowMs) {
      w = { start: now, count: 0 };
      this.windows.set(key, w);
      if (this.windows.size > 10_000) this.sweep(now);
    }
    if (w.count >= limit) return w.start + this.windowMs - now;
    w.count += 1;
    return 0;
  }

  private sweep(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
