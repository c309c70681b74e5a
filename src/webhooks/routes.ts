/**
 * Webhooks in the console (Settings → Webhooks, Superusers): the endpoints, each with its form, its secret
 * (shown once after creating or rotating it), a test event and its delivery log with "Redeliver".
 * Plain forms and links: everything works without JavaScript.
 */
import type Koa from 'koa';
import { get, idParam, post, SUPERUSER } from '../http/routing';
import { page, redirectTo } from '../http/render';
import { actorOf } from '../http/auth';
import { flash } from '../http/session';
import { HttpError } from '../http/errors';
import { asArray, type FieldErrors } from '../http/forms';
import { requireRecentAuth } from '../auth/reauth';
import { stash, take } from '../account/reveal';
import * as service from './service';
import { EVENT_TYPES } from './events';

const BASE = '/settings/webhooks';
const LOG_PAGE = 25;
const SECRET_KIND = 'webhook-secret';

const body = (ctx: Koa.Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

/** The form's fields as the service takes them (checkboxes: absent means off). */
function formInput(ctx: Koa.Context) {
  const b = body(ctx);
  return {
    url: typeof b.url === 'string' ? b.url : '',
    description: typeof b.description === 'string' ? b.description : '',
    eventTypes: asArray(b.eventTypes),
    enabled: b.enabled === 'on' || b.enabled === 'true',
  };
}

type FormValues = ReturnType<typeof formInput>;

function formPage(ctx: Koa.Context, values: FormValues, errors: FieldErrors, endpoint?: service.EndpointSummary, log?: Record<string, unknown>, status = 200) {
  page(
    ctx,
    endpoint ? 'webhooks/show' : 'webhooks/new',
    { title: endpoint ? `Webhook ${endpoint.url}` : 'Add a webhook endpoint', values, errors, endpoint, eventTypes: EVENT_TYPES, base: BASE, ...log },
    status,
  );
}

async function logOf(ctx: Koa.Context, id: number) {
  const pageNo = Math.max(1, Math.min(100_000, Number(ctx.query.page) || 1));
  const { rows, total } = await service.deliveryLog(ctx.services.db, id, LOG_PAGE, (pageNo - 1) * LOG_PAGE);
  return { deliveries: rows, page: pageNo, pages: Math.max(1, Math.ceil(total / LOG_PAGE)), total, now: Date.now() };
}

async function list(ctx: Koa.Context) {
  page(ctx, 'webhooks/list', { title: 'Webhooks', endpoints: await service.listEndpoints(ctx.services.db), base: BASE });
}

async function newForm(ctx: Koa.Context) {
  formPage(ctx, { url: '', description: '', eventTypes: [], enabled: true }, {});
}

/** Service errors a form shows beside its fields (422) or at its top (409); others go to the error page. */
function formErrors(e: unknown): { errors: FieldErrors; status: number } {
  if (!(e instanceof HttpError) || (e.status !== 422 && e.status !== 409)) throw e;
  return { errors: Object.keys(e.fields).length ? e.fields : { _: e.message }, status: e.status };
}

async function create(ctx: Koa.Context) {
  if (!requireRecentAuth(ctx, `${BASE}/new`)) return;
  const values = formInput(ctx);
  let created;
  try {
    created = await service.createEndpoint(ctx.services.db, ctx.services.config, actorOf(ctx), values);
  } catch (e) {
    const { errors, status } = formErrors(e);
    return formPage(ctx, values, errors, undefined, undefined, status);
  }
  stash(ctx, SECRET_KIND, { id: created.endpoint.id, secret: created.secret }, BASE);
  flash(ctx, 'success', `Webhook endpoint ${created.endpoint.url} added.`);
  redirectTo(ctx, `${BASE}/${created.endpoint.id}/secret`);
}

async function show(ctx: Koa.Context) {
  const endpoint = await service.summary(ctx.services.db, idParam(ctx));
  formPage(ctx, { url: endpoint.url, description: endpoint.description, eventTypes: endpoint.eventTypes, enabled: endpoint.enabled }, {}, endpoint, await logOf(ctx, endpoint.id));
}

async function save(ctx: Koa.Context) {
  const id = idParam(ctx);
  const values = formInput(ctx);
  try {
    await service.updateEndpoint(ctx.services.db, ctx.services.config, actorOf(ctx), id, values);
  } catch (e) {
    const { errors, status } = formErrors(e);
    const endpoint = await service.summary(ctx.services.db, id);
    return formPage(ctx, values, errors, endpoint, await logOf(ctx, id), status);
  }
  flash(ctx, 'success', 'Webhook endpoint saved.');
  redirectTo(ctx, `${BASE}/${id}`);
}

async function showSecret(ctx: Koa.Context) {
  const endpoint = await service.findEndpoint(ctx.services.db, idParam(ctx));
  const revealed = take<{ id: number; secret: string }>(ctx, SECRET_KIND, BASE);
  page(ctx, 'webhooks/secret', { title: 'Signing secret', endpoint, secret: revealed && revealed.id === endpoint.id ? revealed.secret : null, base: BASE });
}

async function rotate(ctx: Koa.Context) {
  const id = idParam(ctx);
  if (!requireRecentAuth(ctx, `${BASE}/${id}`)) return;
  const secret = await service.rotateSecret(ctx.services.db, ctx.services.config, actorOf(ctx), id);
  stash(ctx, SECRET_KIND, { id, secret }, BASE);
  flash(ctx, 'success', 'A new signing secret is in use: the old one no longer verifies.');
  redirectTo(ctx, `${BASE}/${id}/secret`);
}

async function test(ctx: Koa.Context) {
  const id = idParam(ctx);
  await service.sendTestEvent(ctx.services.db, actorOf(ctx), id);
  flash(ctx, 'success', 'A test event is queued: it appears in the delivery log below.');
  redirectTo(ctx, `${BASE}/${id}`);
}

async function redeliver(ctx: Koa.Context) {
  const id = idParam(ctx);
  try {
    await service.redeliver(ctx.services.db, actorOf(ctx), id, idParam(ctx, 'delivery'));
    flash(ctx, 'success', 'The event is queued again.');
  } catch (e) {
    if (!(e instanceof HttpError) || e.status !== 409) throw e;
    flash(ctx, 'error', e.message);
  }
  redirectTo(ctx, `${BASE}/${id}`);
}

async function confirmRemove(ctx: Koa.Context) {
  const endpoint = await service.findEndpoint(ctx.services.db, idParam(ctx));
  page(ctx, 'webhooks/remove', {
    title: 'Remove webhook endpoint',
    heading: `Remove ${endpoint.url}?`,
    message: 'Events stop being sent to it, and its delivery log, events still waiting included, is removed.',
    action: `${BASE}/${endpoint.id}/remove`,
    confirmLabel: 'Remove endpoint',
    cancelHref: `${BASE}/${endpoint.id}`,
  });
}

async function remove(ctx: Koa.Context) {
  const removed = await service.removeEndpoint(ctx.services.db, actorOf(ctx), idParam(ctx));
  flash(ctx, 'success', `Webhook endpoint ${removed.url} removed.`);
  redirectTo(ctx, BASE);
}

export const routes = [
  get(BASE, SUPERUSER, list),
  get(`${BASE}/new`, SUPERUSER, newForm),
  post(`${BASE}/new`, SUPERUSER, create),
  get(`${BASE}/:id`, SUPERUSER, show),
  post(`${BASE}/:id`, SUPERUSER, save),
  get(`${BASE}/:id/secret`, SUPERUSER, showSecret),
  post(`${BASE}/:id/secret`, SUPERUSER, rotate),
  post(`${BASE}/:id/test`, SUPERUSER, test),
  get(`${BASE}/:id/remove`, SUPERUSER, confirmRemove),
  post(`${BASE}/:id/remove`, SUPERUSER, remove),
  post(`${BASE}/:id/deliveries/:delivery/redeliver`, SUPERUSER, redeliver),
];
