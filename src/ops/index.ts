/** The operations side of one app: structured logs, metrics, health endpoints, and the shutdown lifecycle. */
import type Koa from 'koa';
import type { Config } from '../config';
import type { Db } from '../db/connect';
import { createLogger, type LogDestination, type Logger } from './logger';

export type { LogDestination };
import { createMetrics, type OpsMetrics } from './metrics';
import { createLifecycle, type Lifecycle } from './lifecycle';
import { requestContext } from './requestContext';
import { opsEndpoints } from './endpoints';

export interface Ops {
  logger: Logger;
  metrics: OpsMetrics;
  lifecycle: Lifecycle;
  /** Outermost middleware: request id, access log, timing. */
  requestContext: Koa.Middleware;
  /** /healthz, /readyz, /metrics. */
  endpoints: Koa.Middleware;
}

export function createOps(config: Config, db: Db, logDestination?: LogDestination): Ops {
  const logger = createLogger(config, logDestination);
  const metrics = createMetrics(db, { processMetrics: config.env !== 'test' });
  const lifecycle = createLifecycle();
  return {
    logger,
    metrics,
    lifecycle,
    requestContext: requestContext(logger, metrics, lifecycle),
    endpoints: opsEndpoints(config, db, metrics, lifecycle),
  };
}
