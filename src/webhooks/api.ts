/** Webhook endpoints over JSON (Superusers): the same service as Settings → Webhooks. */
import type Koa from 'koa';
import Joi from 'joi';
import { SUPERUSER } from '../http/routing';
import { actorOf } from '../http/auth';
import { operation, created } from '../api/operation';
import { component, count, flag, id, idParam, isoOrNull, iso, list, offsetPage, page, paging, record, text, time, type Paging } from '../api/schemas';
import * as service from './service';
import type { EndpointFields } from './repo';
import { EVENT_TYPE_NAMES, TEST_EVENT_TYPE } from './events';
import { urlRefusal } from './targets';
import type { FieldErrors } from '../http/forms';

const TAG = 'Webhooks';

const eventType = Joi.string()
  .valid(...EVENT_TYPE_NAMES)
  .description('An event type.');

const fields = {
  url: Joi.string().trim().max(2000).description('Where events are POSTed: https (http only to localhost); private network addresses are refused unless the server allows them.').example('https://hooks.example.com/gatehouse'),
  description: Joi.string().trim().max(500).allow('').description('What receives the events.'),
  eventTypes: Joi.array().items(eventType).min(1).unique().description(`The event types to send: ${EVENT_TYPE_NAMES.join(', ')}.`),
  enabled: Joi.boolean().description('While false, no event is queued for the endpoint.'),
};

const endpointKeys = {
      id: id(),
      url: text(),
      description: text(),
      eventTypes: list(text(), 'The event types sent.'),
      enabled: flag(),
      failing: flag('True after repeated failed deliveries, until one succeeds.'),
      consecutiveFailures: count('Failed attempts in a row.'),
      lastError: text('The last failure, if any.').allow(null),
      pending: count('Events waiting to be delivered.'),
      secretRotatedAt: time('When the signing secret was made.'),
      createdAt: time(),
      updatedAt: time(),
};

const Endpoint = component('WebhookEndpoint', record(endpointKeys, 'A webhook endpoint (never its secret).'));

const WithSecret = component(
  'WebhookEndpointWithSecret',
  record(
    { ...endpointKeys, secret: text('The signing secret (`whsec_…`): shown only in this response. Verify each delivery’s `webhook-signature` with it.') },
    'A webhook endpoint just registered, with its signing secret.',
  ),
);

const Delivery = component(
  'WebhookDelivery',
  record({
    id: id(),
    messageId: text('The `webhook-id` header (kept by retries and redeliveries).'),
    eventType: text(),
    status: Joi.string().valid('pending', 'delivered', 'failed').description('pending (waiting or retrying), delivered, or failed after the last attempt.'),
    attempts: count(),
    responseStatus: Joi.number().integer().allow(null).description('The HTTP status of the last attempt; null when none answered.'),
    lastError: text().allow(null),
    createdAt: time(),
    lastAttemptAt: time().allow(null),
    deliveredAt: time().allow(null),
    nextAttemptAt: time('When the next attempt is due (pending only).').allow(null),
    redeliveryOf: Joi.number().integer().allow(null).description('The delivery this one sends again.'),
    payload: Joi.object().unknown(true).description('The body sent: `{type, timestamp, data}`.'),
  }),
);

function endpointJson(e: service.EndpointSummary) {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes,
    enabled: e.enabled,
    failing: e.failing,
    consecutiveFailures: e.consecutiveFailures,
    lastError: e.lastError,
    pending: e.pending,
    secretRotatedAt: iso(e.secretRotatedAt),
    createdAt: iso(e.createdAt),
    updatedAt: iso(e.updatedAt),
  };
}

const endpointPath = Joi.object<{ id: number }>({ id: idParam('Webhook endpoint') });
const loadEndpoint = (ctx: Koa.Context, params: { id: number }) => service.summary(ctx.services.db, params.id);

/** The URL's address check joins the schema's problems. */
async function checkUrl(ctx: Koa.Context, input: { body: Record<string, unknown> }): Promise<FieldErrors> {
  const url = input.body.url;
  if (typeof url !== 'string' || !url.trim()) return {};
  const refusal = await urlRefusal(url.trim(), ctx.services.config.webhooks);
  return refusal ? { url: refusal } : {};
}

const listEndpoints = operation({
  operationId: 'listWebhookEndpoints',
  method: 'GET',
  path: '/webhooks',
  tag: TAG,
  summary: 'List webhook endpoints',
  description: 'Every endpoint with its state (failing, events waiting).',
  requires: SUPERUSER,
  responses: { 200: { description: 'The endpoints.', schema: component('WebhookEndpointList', record({ items: list(Endpoint) })) } },
  async handler(ctx) {
    return { items: (await service.listEndpoints(ctx.services.db)).map(endpointJson) };
  },
});

const createEndpoint = operation({
  operationId: 'createWebhookEndpoint',
  method: 'POST',
  path: '/webhooks',
  tag: TAG,
  summary: 'Register a webhook endpoint',
  description: 'Registers a URL and the events to send to it. The response holds the signing secret, which is never shown again (rotate it to get a new one). Audited as `webhook.create`.',
  requires: SUPERUSER,
  body: Joi.object<EndpointFields>({ ...fields, url: fields.url.required(), eventTypes: fields.eventTypes.required() }),
  example: { url: 'https://hooks.example.com/gatehouse', description: 'Directory sync', eventTypes: ['user.deactivated', 'group.members_changed'], enabled: true },
  check: checkUrl,
  responses: { 201: { description: 'Registered.', schema: WithSecret, headers: { Location: { description: 'The URL of the new endpoint.', required: true } } } },
  errors: { 409: 'GATEHOUSE_WEBHOOKS_SECRET_KEY is not set on a production server.' },
  async handler(ctx, { body }) {
    const { endpoint, secret } = await service.createEndpoint(ctx.services.db, ctx.services.config, actorOf(ctx), { ...body, description: body.description ?? '', enabled: body.enabled ?? true });
    return created(ctx, `/api/v1/webhooks/${endpoint.id}`, { ...endpointJson(await service.summary(ctx.services.db, endpoint.id)), secret });
  },
});

const getEndpoint = operation({
  operationId: 'getWebhookEndpoint',
  method: 'GET',
  path: '/webhooks/:id',
  tag: TAG,
  summary: 'Get a webhook endpoint',
  description: 'The endpoint and its state (not its secret).',
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  responses: { 200: { description: 'The endpoint.', schema: Endpoint } },
  handler: (_ctx, { target }) => endpointJson(target),
});

const updateEndpoint = operation({
  operationId: 'updateWebhookEndpoint',
  method: 'PATCH',
  path: '/webhooks/:id',
  tag: TAG,
  summary: 'Change a webhook endpoint',
  description: 'Changes the fields sent; the others keep their value. Audited as `webhook.update`.',
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  body: Joi.object<Partial<EndpointFields>>(fields),
  example: { enabled: false },
  check: checkUrl,
  responses: { 200: { description: 'Changed.', schema: Endpoint } },
  async handler(ctx, { target, body }) {
    const merged = { url: target.url, description: target.description, eventTypes: target.eventTypes, enabled: target.enabled, ...body };
    await service.updateEndpoint(ctx.services.db, ctx.services.config, actorOf(ctx), target.id, merged);
    return endpointJson(await service.summary(ctx.services.db, target.id));
  },
});

const deleteEndpoint = operation({
  operationId: 'deleteWebhookEndpoint',
  method: 'DELETE',
  path: '/webhooks/:id',
  tag: TAG,
  summary: 'Remove a webhook endpoint',
  description: 'Stops sending to it and removes its delivery log, events still waiting included. Audited as `webhook.delete`.',
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  responses: { 204: { description: 'Removed.' } },
  async handler(ctx, { target }) {
    await service.removeEndpoint(ctx.services.db, actorOf(ctx), target.id);
    ctx.status = 204;
  },
});

const rotateSecret = operation({
  operationId: 'rotateWebhookSecret',
  method: 'POST',
  path: '/webhooks/:id/secret',
  tag: TAG,
  summary: 'Rotate the signing secret',
  description: 'Makes a new signing secret, used from the next delivery on; the old one stops verifying at once. The response is the only place the new secret appears. Audited as `webhook.rotate_secret`.',
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  responses: { 200: { description: 'The new secret.', schema: component('WebhookSecret', record({ id: id(), secret: text('The new signing secret (`whsec_…`).') })) } },
  errors: { 409: 'GATEHOUSE_WEBHOOKS_SECRET_KEY is not set on a production server.' },
  async handler(ctx, { target }) {
    return { id: target.id, secret: await service.rotateSecret(ctx.services.db, ctx.services.config, actorOf(ctx), target.id) };
  },
});

const Queued = component('WebhookQueued', record({ messageId: text('The `webhook-id` the event is sent with.') }, 'The event is queued for delivery.'));

const sendTest = operation({
  operationId: 'sendWebhookTestEvent',
  method: 'POST',
  path: '/webhooks/:id/test',
  tag: TAG,
  summary: 'Send a test event',
  description: `Queues a \`${TEST_EVENT_TYPE}\` event for this endpoint (whatever it subscribes to), behind the events already waiting.`,
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  responses: { 202: { description: 'Queued.', schema: Queued } },
  async handler(ctx, { target }) {
    ctx.status = 202;
    return { messageId: await service.sendTestEvent(ctx.services.db, actorOf(ctx), target.id) };
  },
});

const listDeliveries = operation({
  operationId: 'listWebhookDeliveries',
  method: 'GET',
  path: '/webhooks/:id/deliveries',
  tag: TAG,
  summary: 'The delivery log of an endpoint',
  description: 'Events sent or to send to this endpoint, newest first: status, response code, attempts, last error.',
  requires: SUPERUSER,
  params: endpointPath,
  load: loadEndpoint,
  query: Joi.object<Paging>(paging(50)),
  responses: { 200: { description: 'A page of the log.', schema: page('WebhookDeliveryPage', Delivery) } },
  async handler(ctx, { target, query }) {
    const { rows, total } = await service.deliveryLog(ctx.services.db, target.id, query.limit, query.offset);
    const items = rows.map((d) => ({
      id: d.id,
      messageId: d.messageId,
      eventType: d.eventType,
      status: d.status,
      attempts: d.attempts,
      responseStatus: d.lastStatusCode,
      lastError: d.lastError,
      createdAt: iso(d.createdAt),
      lastAttemptAt: isoOrNull(d.lastAttemptAt),
      deliveredAt: isoOrNull(d.deliveredAt),
      nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
      redeliveryOf: d.redeliveryOf,
      payload: JSON.parse(d.payload) as Record<string, unknown>,
    }));
    return offsetPage(items, total, query);
  },
});

const redeliver = operation({
  operationId: 'redeliverWebhookEvent',
  method: 'POST',
  path: '/webhooks/:id/deliveries/:delivery/redeliver',
  tag: TAG,
  summary: 'Send an event again',
  description: 'Queues a delivered or failed event again, with the same `webhook-id` and body, at the end of the endpoint’s queue. Audited as `webhook.redeliver`.',
  requires: SUPERUSER,
  params: Joi.object<{ id: number; delivery: number }>({ id: idParam('Webhook endpoint'), delivery: idParam('Delivery') }),
  load: (ctx, params) => service.summary(ctx.services.db, params.id),
  responses: { 202: { description: 'Queued again.', schema: Queued } },
  errors: { 409: 'The event is still waiting to be delivered.' },
  async handler(ctx, { target, params }) {
    await service.redeliver(ctx.services.db, actorOf(ctx), target.id, params.delivery);
    ctx.status = 202;
    const log = await service.deliveryLog(ctx.services.db, target.id, 1, 0);
    return { messageId: log.rows[0].messageId };
  },
});

export const operations = [listEndpoints, createEndpoint, getEndpoint, updateEndpoint, deleteEndpoint, rotateSecret, sendTest, listDeliveries, redeliver];
