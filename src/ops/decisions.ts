/**
 * Decisions counted by outcome, for /metrics (`rate(gatehouse_decisions_total[1m])` is decisions per second).
 * Process-wide, like the decision index: the access service reports each decision it answers.
 *
 * A batch answers 1,000 decisions: each is counted in a plain number (no label hashing on the hot path),
 * and the counter reads the tallies when /metrics is scraped.
 */
import { Counter, Registry } from 'prom-client';

export const processRegistry = new Registry();

/** Decisions so far, by outcome and then reason (reasons are the engine's few words). */
const tallies = { allowed: new Map<string, number>(), denied: new Map<string, number>() };

new Counter({
  name: 'gatehouse_decisions_total',
  help: 'Access decisions answered (check API and batch checks), by outcome and reason.',
  labelNames: ['outcome', 'reason'] as const,
  registers: [processRegistry],
  collect() {
    this.reset();
    for (const outcome of ['allowed', 'denied'] as const) for (const [reason, n] of tallies[outcome]) this.inc({ outcome, reason }, n);
  },
});

export function recordDecision(d: { allowed: boolean; reason: string }): void {
  const byReason = d.allowed ? tallies.allowed : tallies.denied;
  byReason.set(d.reason, (byReason.get(d.reason) ?? 0) + 1);
}

/**
 * A batch's decisions counted locally and added to the process tallies once (not one map update per item).
 */
export class DecisionTally {
  private readonly allowed: Record<string, number> = {};
  private readonly denied: Record<string, number> = {};

  add(d: { allowed: boolean; reason: string }): void {
    const byReason = d.allowed ? this.allowed : this.denied;
    byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
  }

  /** Adds the counts to the process tallies. */
  record(): void {
    for (const [outcome, counts] of [['allowed', this.allowed], ['denied', this.denied]] as const) {
      for (const reason in counts) tallies[outcome].set(reason, (tallies[outcome].get(reason) ?? 0) + counts[reason]);
    }
  }
}
