/**
 * Webhook endpoints (Superusers only): register, change, rotate the secret, remove; send a test event;
 * redeliver an event. The secret is returned once, by the call that makes it. Every change is audited.
 */
import Joi from 'joi';
import type { Config } from '../config';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { transaction } from '../db/transaction';
import { collect, type FieldErrors } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import * as audit from '../audit/service';
import * as repo from './repo';
import type { Delivery, Endpoint, EndpointFields } from './repo';
import { EVENT_TYPE_NAMES, TEST_EVENT_TYPE } from './events';
import { envelope, invalidateSubscriptions, newMessageId } from './outbox';
import { generateSecret, sealingKey } from './secrets';
import { seal } from '../crypto/seal';
import { urlRefusal } from './targets';

export const endpointSchema = Joi.object<EndpointFields>({
  url: Joi.string().trim().max(2000).required().label('URL'),
  description: Joi.string().trim().max(500).allow('').default('').label('Description'),
  eventTypes: Joi.array()
    .items(Joi.string().valid(...EVENT_TYPE_NAMES))
    .min(1)
    .unique()
    .required()
    .label('Events')
    .messages({ 'array.min': 'Choose at least one event.', 'any.required': 'Choose at least one event.', 'any.only': 'Choose events from the list.', 'array.unique': 'Each event once.' }),
  enabled: Joi.boolean().default(true).label('Enabled'),
});

/** Validates an endpoint's fields (the URL against the address policy too): every problem at once. */
export async function checkEndpoint(config: Config, raw: unknown): Promise<{ value: EndpointFields; fields: FieldErrors }> {
  const { value, fields } = collect(endpointSchema, raw);
  if (!fields.url && value.url) {
    const refusal = await urlRefusal(value.url, config.webhooks);
    if (refusal) fields.url = refusal;
  }
  return { value, fields };
}

async function validEndpoint(config: Config, raw: unknown): Promise<EndpointFields> {
  const { value, fields } = await checkEndpoint(config, raw);
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return value;
}

/** What the audit trail keeps of an endpoint (never the secret). */
const auditView = (e: EndpointFields) => ({ url: e.url, description: e.description, eventTypes: e.eventTypes, enabled: e.enabled });

async function requireEndpoint(db: Conn, id: number): Promise<Endpoint> {
  const e = await repo.lockEndpoint(db, id);
  if (!e) throw notFound('Webhook endpoint');
  return e;
}

export async function createEndpoint(db: Db, config: Config, actor: Actor, raw: unknown): Promise<{ endpoint: Endpoint; secret: string }> {
  const fields = await validEndpoint(config, raw);
  const key = await sealingKey(db, config);
  const secret = generateSecret();
  const endpoint = await transaction(db, async (trx) => {
    const now = Date.now();
    const id = await repo.insertEndpoint(trx, fields, seal(key, secret), now);
    await audit.record(trx, actor, { action: 'webhook.create', objectType: 'webhook', objectId: id, objectLabel: fields.url, after: auditView(fields) });
    return (await repo.findEndpoint(trx, id))!;
  });
  invalidateSubscriptions(db);
  return { endpoint, secret };
}

export async function updateEndpoint(db: Db, config: Config, actor: Actor, id: number, raw: unknown): Promise<Endpoint> {
  const fields = await validEndpoint(config, raw);
  const endpoint = await transaction(db, async (trx) => {
    const before = await requireEndpoint(trx, id);
    await repo.updateEndpoint(trx, id, fields, Date.now());
    await audit.record(trx, actor, { action: 'webhook.update', objectType: 'webhook', objectId: id, objectLabel: fields.url, before: auditView(before), after: auditView(fields) });
    return (await repo.findEndpoint(trx, id))!;
  });
  invalidateSubscriptions(db);
  return endpoint;
}

/** A new secret, effective for the next delivery; the old one stops working at once. */
export async function rotateSecret(db: Db, config: Config, actor: Actor, id: number): Promise<string> {
  const key = await sealingKey(db, config);
  const secret = generateSecret();
  await transaction(db, async (trx) => {
    const e = await requireEndpoint(trx, id);
    await repo.setSecret(trx, id, seal(key, secret), Date.now());
    await audit.record(trx, actor, { action: 'webhook.rotate_secret', objectType: 'webhook', objectId: id, objectLabel: e.url });
  });
  return secret;
}

export async function removeEndpoint(db: Db, actor: Actor, id: number): Promise<Endpoint> {
  const removed = await transaction(db, async (trx) => {
    const e = await requireEndpoint(trx, id);
    await repo.removeEndpoint(trx, id);
    await audit.record(trx, actor, { action: 'webhook.delete', objectType: 'webhook', objectId: id, objectLabel: e.url, before: auditView(e) });
    return e;
  });
  invalidateSubscriptions(db);
  return removed;
}

/** Queues a `webhook.test` event for this endpoint only, behind the events already waiting. */
export async function sendTestEvent(db: Db, actor: Actor, id: number): Promise<string> {
  return transaction(db, async (trx) => {
    const e = await requireEndpoint(trx, id);
    const now = Date.now();
    const messageId = newMessageId();
    const payload = envelope(TEST_EVENT_TYPE, now, { endpoint: { id: e.id, url: e.url }, actor: { username: actor.username }, message: 'A test event sent from the Gatehouse console or API.' });
    await repo.insertDeliveries(trx, [{ endpointId: id, messageId, eventType: TEST_EVENT_TYPE, payload }], now);
    await audit.record(trx, actor, { action: 'webhook.test', objectType: 'webhook', objectId: id, objectLabel: e.url });
    return messageId;
  });
}

/**
 * Sends an event again (after it failed, or because the receiver lost it): a new row at the end of the
 * endpoint's queue, with the same message id and body, so receivers that deduplicate by `webhook-id` can.
 */
export async function redeliver(db: Db, actor: Actor, endpointId: number, deliveryId: number): Promise<void> {
  await transaction(db, async (trx) => {
    const e = await requireEndpoint(trx, endpointId);
    const d = await repo.findDelivery(trx, endpointId, deliveryId);
    if (!d) throw notFound('Delivery');
    if (d.status === 'pending') throw new HttpError(409, 'still_pending', 'This event is still waiting to be delivered.');
    await repo.insertDeliveries(trx, [{ endpointId, messageId: d.messageId, eventType: d.eventType, payload: d.payload, redeliveryOf: d.id }], Date.now());
    await audit.record(trx, actor, { action: 'webhook.redeliver', objectType: 'webhook', objectId: endpointId, objectLabel: e.url, after: { event: d.eventType, messageId: d.messageId } });
  });
}

export async function findEndpoint(db: Conn, id: number): Promise<Endpoint> {
  const e = await repo.findEndpoint(db, id);
  if (!e) throw notFound('Webhook endpoint');
  return e;
}

export interface EndpointSummary extends Endpoint {
  failing: boolean;
  pending: number;
}

export async function listEndpoints(db: Conn): Promise<EndpointSummary[]> {
  const [endpoints, pending] = await Promise.all([repo.listEndpoints(db), repo.pendingCounts(db)]);
  return endpoints.map((e) => ({ ...e, failing: e.failingSince !== null, pending: pending.get(e.id) ?? 0 }));
}

export async function summary(db: Conn, id: number): Promise<EndpointSummary> {
  const e = await findEndpoint(db, id);
  const pending = await repo.pendingCounts(db);
  return { ...e, failing: e.failingSince !== null, pending: pending.get(e.id) ?? 0 };
}

export async function deliveryLog(db: Conn, endpointId: number, limit: number, offset: number): Promise<{ rows: Delivery[]; total: number }> {
  return repo.listDeliveries(db, endpointId, limit, offset);
}
