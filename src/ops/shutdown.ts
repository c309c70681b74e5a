/**
 * Graceful shutdown (SIGTERM, SIGINT): stop being ready (/readyz 503, so a load balancer takes the server out
 * during the drain period), stop accepting connections, let the requests in flight finish (responses close
 * their keep-alive connections), let background work finish (webhook deliveries in flight), then close the
 * database pool. Requests still running after the timeout
 * are cut off.
 */
import type { Server } from 'node:http';
import type { Db } from '../db/connect';
import type { Lifecycle } from './lifecycle';
import type { Logger } from './logger';
import { stopFollowing } from '../changes/follower';

export interface ShutdownOptions {
  drainMs: number;
  timeoutMs: number;
  /** Work to end before the database pool closes (the webhook worker finishing its delivery in flight). */
  beforeDatabaseClose?: () => Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function gracefulShutdown(server: Server, db: Db, lifecycle: Lifecycle, logger: Logger, options: ShutdownOptions): Promise<{ completed: boolean }> {
  lifecycle.draining = true;
  logger.info({ drainMs: options.drainMs, inFlight: lifecycle.inFlight }, 'shutting down: no longer ready');
  if (options.drainMs > 0) await sleep(options.drainMs);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), options.timeoutMs);
  });
  const completed = await Promise.race([closed.then(() => true as const), timedOut]);
  clearTimeout(timer);
  if (!completed) {
    logger.warn({ inFlight: lifecycle.inFlight }, 'shutting down: requests still running after the timeout are cut off');
    server.closeAllConnections();
  }
  stopFollowing(db);
  await options.beforeDatabaseClose?.();
  await db.destroy();
  logger.info('shut down');
  return { completed };
}
