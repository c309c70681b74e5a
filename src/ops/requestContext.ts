/**
 * The outermost middleware: gives every request an id (the caller's `X-Request-Id` when it is a sane token,
 * else a new UUID), echoes it back, times the request for the metrics and writes one access-log line.
 * While the server drains before a shutdown, responses carry `Connection: close` so keep-alive clients
 * (HAProxy) open their next request elsewhere.
 */
import { randomUUID } from 'node:crypto';
import type Koa from 'koa';
import type { Logger } from './logger';
import type { OpsMetrics } from './metrics';
import type { Lifecycle } from './lifecycle';

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

declare module 'koa' {
  interface DefaultState {
    requestId?: string;
    log?: Logger;
  }
}

export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value && SAFE_REQUEST_ID.test(value) ? value : randomUUID();
}

/** The route pattern for labels and logs: bounded (never the raw path, which carries names and ids). */
export function routeLabel(ctx: Koa.Context): string {
  const matched = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (typeof matched === 'string') return matched;
  if (ctx.state.opsRoute) return ctx.state.opsRoute;
  if (ctx.path.startsWith('/static/') && ctx.status < 400) return '/static/*';
  return 'unmatched';
}

declare module 'koa' {
  interface DefaultState {
    /** Set by the operations endpoints, which sit outside the routers. */
    opsRoute?: string;
  }
}

/**
 * Decision requests answered this fast or faster are logged at debug level: at thousands per second an info
 * line each would cost more than the decision (OPA logs its decisions the same way); their count and
 * latency are in /metrics, and failures and slow answers are still logged at info.
 */
const SLOW_DECISION_SECONDS = 0.1;

/**
 * The request's state (`ctx.state`), with its logger made only when something logs through it: most requests
 * log just the access line, written without one, and a decision request should not pay for a child logger.
 */
class RequestState {
  #child: Logger | undefined;
  readonly #logger: Logger;
  constructor(
    logger: Logger,
    readonly requestId: string,
  ) {
    this.#logger = logger;
  }
  get log(): Logger {
    return (this.#child ??= this.#logger.child({ reqId: this.requestId }));
  }
  set log(value: Logger) {
    this.#child = value;
  }
  /** The child logger, if one was made. */
  madeLog(): Logger | undefined {
    return this.#child;
  }
}

export function requestContext(logger: Logger, metrics: OpsMetrics, lifecycle: Lifecycle): Koa.Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = requestIdFrom(ctx.get('X-Request-Id') || undefined);
    const state = new RequestState(logger, requestId);
    // Replaces Koa's empty state object before anything else has written to it.
    ctx.state = Object.assign(state, ctx.state);
    ctx.set('X-Request-Id', requestId);
    lifecycle.inFlight++;
    try {
      await next();
    } finally {
      lifecycle.inFlight--;
      if (lifecycle.draining) ctx.set('Connection', 'close');
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeLabel(ctx);
      metrics.observeRequest(ctx.method, route, ctx.status, seconds);
      if (!ctx.state.opsRoute) {
        writeAccessLog(logger, { requestId, method: ctx.method, route, path: ctx.path, status: ctx.status, seconds, userId: ctx.state.user?.id, decision: ctx.state.decisionRequest, child: state.madeLog() });
      }
    }
  };
}

/** One access-log line (decision requests at debug level unless they failed or were slow): never a body, query or token. */
export function writeAccessLog(
  logger: Logger,
  e: { requestId: string; method: string; route: string; path: string; status: number; seconds: number; userId?: number; decision?: boolean; child?: Logger },
): void {
  const quiet = !!e.decision && e.status < 400 && e.seconds < SLOW_DECISION_SECONDS;
  const out = e.child ?? logger;
  if (!out.isLevelEnabled(quiet ? 'debug' : 'info')) return;
  out[quiet ? 'debug' : 'info'](
    { ...(e.child ? {} : { reqId: e.requestId }), method: e.method, route: e.route, path: e.path, status: e.status, ms: Math.round(e.seconds * 10_000) / 10, user: e.userId },
    'request',
  );
}
