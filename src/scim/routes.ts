/** The console's SCIM settings page (Superuser): the address to give a directory, and who receives the assets of users it deletes. */
import type Koa from 'koa';
import { get, post, SUPERUSER } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import { flash } from '../http/session';
import { ValidationError } from '../http/errors';
import { SCIM_PREFIX } from './server';
import * as service from './service';

async function settingsPage(ctx: Koa.Context, status = 200, receiver?: string, error?: string) {
  const stored = await service.assetReceiver(ctx.services.db);
  page(ctx, 'scim/settings', { title: 'SCIM provisioning', baseUrl: `${ctx.services.config.baseUrl}${SCIM_PREFIX}`, receiver: receiver ?? stored ?? '', error }, status);
}

async function save(ctx: Koa.Context) {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  try {
    const stored = await service.setAssetReceiver(ctx.services.db, actorOf(ctx), body);
    flash(ctx, 'success', stored ? `Assets of users deleted through SCIM now go to ${stored}.` : 'No receiving user: deleting a user who owns assets through SCIM is refused.');
    redirectTo(ctx, '/settings/scim');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    await settingsPage(ctx, 422, typeof body.receiver === 'string' ? body.receiver : '', e.fields.receiver);
  }
}

export const routes = [get('/settings/scim', SUPERUSER, (ctx) => settingsPage(ctx)), post('/settings/scim', SUPERUSER, save)];
