import type Koa from 'koa';
import { get, SIGNED_IN } from '../http/routing';
import { page } from '../http/render';
import { navigationFor } from '../http/navigation';
import { P } from '../permissions/catalog';

/** The landing page after sign-in: the sections this user may open, or just their account. */
async function home(ctx: Koa.Context) {
  const sections = navigationFor(ctx);
  if (sections.length) {
    ctx.redirect(sections[0].href);
    return;
  }
  page(ctx, 'home/index', { title: 'Welcome', canUseApi: ctx.state.user!.permissions.has(P.apiAccess) });
}

export const routes = [get('/', SIGNED_IN, home)];
