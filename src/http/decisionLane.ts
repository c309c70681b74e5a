/**
 * The decision lane. POST /api/v1/check, /access/v1/evaluation and the other decision operations are the
 * product's hot path: the rest of the suite asks them on every request it serves. They are answered right
 * after the request context and the error handler, ahead of the static files, SCIM, the console's
 * middleware and the routers' pattern matching they would otherwise pass through: the same operations, the
 * same authentication and answers (src/api/operation.ts `decisionRoutes`), found by one map lookup.
 */
import type Koa from 'koa';
import type { Config } from '../config';
import { setApiSecurityHeaders } from './security';

declare module 'koa' {
  interface DefaultState {
    /** A decision request: its access-log line is written at debug level unless it failed or was slow (src/ops/requestContext.ts). */
    decisionRequest?: boolean;
  }
}

export function decisionLane(routes: ReadonlyMap<string, Koa.Middleware>, config: Config): Koa.Middleware {
  return (ctx, next) => {
    const route = routes.get(`${ctx.method} ${ctx.path}`);
    if (!route) return next();
    ctx.state.decisionRequest = true;
    setApiSecurityHeaders(ctx, config);
    return route(ctx, next);
  };
}
