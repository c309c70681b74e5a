/**
 * Decisions counted by outcome, for /metrics (`rate(gatehouse_decisions_total[1m])` is decisions per second).
 * Process-wide, like the decision index: the access service reports each decision it answers.
 */
import { Counter, Registry } from 'prom-client';

export const processRegistry = new Registry();

const decisions = new Counter({
  name: 'gatehouse_decisions_total',
  help: 'Access decisions answered (check API and batch checks), by outcome and reason.',
  labelNames: ['outcome', 'reason'] as const,
  registers: [processRegistry],
});

export function recordDecision(d: { allowed: boolean; reason: string }): void {
  decisions.inc({ outcome: d.allowed ? 'allowed' : 'denied', reason: d.reason });
}
