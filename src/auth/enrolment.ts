import type Koa from 'koa';
import { sessionData } from '../http/session';
import { redirectTo } from '../http/render';
import * as factors from './factors';

/** What someone who must enrol a second factor may still open. */
const ALLOWED = ['/account/two-factor', '/account/passkeys', '/logout', '/reauth'];

/**
 * Forced enrolment: a user whose role requires a second factor and who signed in without one is led to
 * the enrolment page and can do nothing else until a factor is set up.
 */
export function enforceEnrolment(): Koa.Middleware {
  return async (ctx, next) => {
    const s = sessionData(ctx);
    if (ctx.state.user && s?.mustEnrol) {
      if (factors.hasSecondFactor(await factors.factorsOf(ctx.services.db, ctx.state.user.id))) {
        delete s.mustEnrol;
      } else if (!ALLOWED.some((p) => ctx.path === p || ctx.path.startsWith(`${p}/`))) {
        if (ctx.method === 'GET' && !ctx.get('HX-Request')) ctx.status = 303;
        return redirectTo(ctx, '/account/two-factor');
      }
    }
    await next();
  };
}
