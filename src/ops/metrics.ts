/**
 * Prometheus metrics at /metrics (prom-client): request duration per route pattern, decisions and their
 * outcome, the decision index's state and apply lag, the database pool's use, transaction retries, the webhook
 * backlog, and the process's own figures. Labels are bounded (route patterns, never paths), and nothing user-specific is
 * exported.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/connect';
import { transactionStats } from '../db/transaction';
import { processRegistry } from './decisions';
import { indexStatus } from './indexStatus';
import { failingEndpoints, pendingTotal } from '../webhooks/repo';

let defaultsCollected = false;

export interface OpsMetrics {
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The exposition text and its content type. */
  render(): Promise<{ contentType: string; body: string }>;
}

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  numPendingCreates(): number;
  max: number;
}

export function createMetrics(db: Db, options: { processMetrics: boolean }): OpsMetrics {
  if (options.processMetrics && !defaultsCollected) {
    collectDefaultMetrics({ register: processRegistry, prefix: 'gatehouse_' });
    defaultsCollected = true;
  }
  const registry = new Registry();
  const duration = new Histogram({
    name: 'gatehouse_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const seriesByKey = new Map<string, { observe(seconds: number): void }>();
  new Gauge({
    name: 'gatehouse_db_pool_connections',
    help: 'Database pool connections by state (used, free, pending acquires, pending creates) and the maximum.',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = (db.client as { pool?: TarnPool }).pool;
      if (!pool) return;
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'free' }, pool.numFree());
      this.set({ state: 'pending_acquire' }, pool.numPendingAcquires());
      this.set({ state: 'pending_create' }, pool.numPendingCreates());
      this.set({ state: 'max' }, pool.max);
    },
  });
  new Counter({
    name: 'gatehouse_transaction_retries_total',
    help: 'Transactions run again: after a conflict (deadlock, lock-wait timeout, Galera certification failure, busy SQLite) or a connection lost before COMMIT.',
    labelNames: ['reason'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ reason: 'conflict' }, transactionStats.retries - transactionStats.reconnects);
      this.inc({ reason: 'connection' }, transactionStats.reconnects);
    },
  });
  new Counter({
    name: 'gatehouse_transaction_gave_up_total',
    help: 'Transactions that still conflicted after every retry (answered 503 with Retry-After).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(transactionStats.gaveUp);
    },
  });
  new Gauge({
    name: 'gatehouse_index_loaded',
    help: '1 when the decision state is loaded and following the change log, else 0.',
    registers: [registry],
    collect() {
      const s = indexStatus(db);
      this.set(s.loaded && s.following ? 1 : 0);
      lag.set(s.lagSeconds);
      if (s.position !== null) position.set(s.position);
      if (s.lastAppliedAt !== null) lastApplied.set(s.lastAppliedAt / 1000);
      holes.set(s.holes);
      rebuilds.set(s.rebuilds);
    },
  });
  const lag = new Gauge({ name: 'gatehouse_index_apply_lag_seconds', help: 'How far the decision state may be behind the database: time since the change log was last read, beyond the poll interval.', registers: [registry] });
  const position = new Gauge({ name: 'gatehouse_index_position', help: 'The change-log position the decision state reflects.', registers: [registry] });
  const lastApplied = new Gauge({ name: 'gatehouse_index_last_apply_timestamp_seconds', help: 'When changes were last applied to the decision state (or it was loaded), Unix time.', registers: [registry] });
  const holes = new Gauge({ name: 'gatehouse_change_log_holes', help: 'Change-log positions below the applied one not seen yet (commits still in flight, rolled back, or never used).', registers: [registry] });
  const rebuilds = new Gauge({ name: 'gatehouse_index_loads', help: 'Times the decision state was loaded whole (start-up, seeds, a trimmed log).', registers: [registry] });

  new Gauge({
    name: 'gatehouse_webhook_events_pending',
    help: 'Webhook events waiting to be delivered (all endpoints); a growing number means receivers are down or slow.',
    registers: [registry],
    async collect() {
      this.set(await pendingTotal(db));
    },
  });
  new Gauge({
    name: 'gatehouse_webhook_endpoints_failing',
    help: 'Enabled webhook endpoints whose recent deliveries failed repeatedly.',
    registers: [registry],
    async collect() {
      this.set(await failingEndpoints(db));
    },
  });

  return {
    observeRequest(method, route, status, seconds) {
      // Labels are bounded (route patterns), so their series are kept, not looked up by label hash each time.
      const key = `${method} ${status} ${route}`;
      let series = seriesByKey.get(key);
      if (!series) seriesByKey.set(key, (series = duration.labels({ method, route, status: String(status) })));
      series.observe(seconds);
    },
    async render() {
      const merged = Registry.merge([processRegistry, registry]);
      return { contentType: merged.contentType, body: await merged.metrics() };
    },
  };
}
