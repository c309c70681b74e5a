/** Webhook endpoints and their outbox / delivery log: the only place with their SQL. */
import { numberOrNull, type Conn } from '../db/connect';

export interface Endpoint {
  id: number;
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
  secretSealed: string;
  secretRotatedAt: number;
  consecutiveFailures: number;
  failingSince: number | null;
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface Delivery {
  id: number;
  endpointId: number;
  messageId: string;
  eventType: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: number;
  lastStatusCode: number | null;
  lastError: string | null;
  lastAttemptAt: number | null;
  deliveredAt: number | null;
  redeliveryOf: number | null;
  createdAt: number;
}


function toEndpoint(r: Record<string, unknown>): Endpoint {
  return {
    id: Number(r.id),
    url: String(r.url),
    description: String(r.description ?? ''),
    eventTypes: JSON.parse(String(r.event_types)) as string[],
    enabled: Boolean(Number(r.enabled)),
    secretSealed: String(r.secret_sealed),
    secretRotatedAt: Number(r.secret_rotated_at),
    consecutiveFailures: Number(r.consecutive_failures),
    failingSince: numberOrNull(r.failing_since),
    lastError: (r.last_error as string | null) ?? null,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

function toDelivery(r: Record<string, unknown>): Delivery {
  return {
    id: Number(r.id),
    endpointId: Number(r.endpoint_id),
    messageId: String(r.message_id),
    eventType: String(r.event_type),
    payload: String(r.payload),
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: Number(r.next_attempt_at),
    lastStatusCode: numberOrNull(r.last_status_code),
    lastError: (r.last_error as string | null) ?? null,
    lastAttemptAt: numberOrNull(r.last_attempt_at),
    deliveredAt: numberOrNull(r.delivered_at),
    redeliveryOf: numberOrNull(r.redelivery_of),
    createdAt: Number(r.created_at),
  };
}

// ------------------------------------------------------------------------------------------------ endpoints

export interface EndpointFields {
  url: string;
  description: string;
  eventTypes: string[];
  enabled: boolean;
}

export async function insertEndpoint(db: Conn, fields: EndpointFields, secretSealed: string, now: number): Promise<number> {
  const [id] = await db('webhook_endpoints').insert({
    url: fields.url,
    description: fields.description,
    event_types: JSON.stringify(fields.eventTypes),
    enabled: fields.enabled,
    secret_sealed: secretSealed,
    secret_rotated_at: now,
    created_at: now,
    updated_at: now,
  });
  return Number(id);
}

export async function updateEndpoint(db: Conn, id: number, fields: EndpointFields, now: number): Promise<void> {
  await db('webhook_endpoints')
    .where({ id })
    .update({ url: fields.url, description: fields.description, event_types: JSON.stringify(fields.eventTypes), enabled: fields.enabled, updated_at: now });
}

export async function setSecret(db: Conn, id: number, secretSealed: string, now: number): Promise<void> {
  await db('webhook_endpoints').where({ id }).update({ secret_sealed: secretSealed, secret_rotated_at: now, updated_at: now });
}

export async function removeEndpoint(db: Conn, id: number): Promise<void> {
  await db('webhook_deliveries').where({ endpoint_id: id }).delete();
  await db('webhook_endpoints').where({ id }).delete();
}

export async function findEndpoint(db: Conn, id: number): Promise<Endpoint | undefined> {
  const r = await db('webhook_endpoints').where({ id }).first();
  return r ? toEndpoint(r) : undefined;
}

/** Locks the endpoint row for the rest of the transaction (a concurrent save or removal waits). */
export async function lockEndpoint(db: Conn, id: number): Promise<Endpoint | undefined> {
  const r = await db('webhook_endpoints').where({ id }).forUpdate().first();
  return r ? toEndpoint(r) : undefined;
}

export async function listEndpoints(db: Conn): Promise<Endpoint[]> {
  return (await db('webhook_endpoints').orderBy('id')).map(toEndpoint);
}

/** The enabled endpoints and what they subscribe to: the outbox's subscription check. */
export async function enabledSubscriptions(db: Conn): Promise<Array<{ id: number; eventTypes: string[] }>> {
  const rows = await db('webhook_endpoints').where({ enabled: true }).select('id', 'event_types');
  return rows.map((r: Record<string, unknown>) => ({ id: Number(r.id), eventTypes: JSON.parse(String(r.event_types)) as string[] }));
}

export async function pendingCounts(db: Conn): Promise<Map<number, number>> {
  const rows = await db('webhook_deliveries').where({ status: 'pending' }).groupBy('endpoint_id').select('endpoint_id').count({ n: '*' });
  return new Map(rows.map((r: Record<string, unknown>) => [Number(r.endpoint_id), Number(r.n)]));
}

// ---------------------------------------------------------------------------------------------- the outbox

export interface NewDelivery {
  endpointId: number;
  messageId: string;
  eventType: string;
  payload: string;
  redeliveryOf?: number;
}

export async function insertDeliveries(db: Conn, rows: NewDelivery[], now: number): Promise<void> {
  if (!rows.length) return;
  await db('webhook_deliveries').insert(
    rows.map((r) => ({
      endpoint_id: r.endpointId,
      message_id: r.messageId,
      event_type: r.eventType,
      payload: r.payload,
      status: 'pending',
      attempts: 0,
      next_attempt_at: now,
      redelivery_of: r.redeliveryOf ?? null,
      created_at: now,
    })),
  );
}

export async function findDelivery(db: Conn, endpointId: number, id: number): Promise<Delivery | undefined> {
  const r = await db('webhook_deliveries').where({ id, endpoint_id: endpointId }).first();
  return r ? toDelivery(r) : undefined;
}

/** The delivery log of an endpoint, newest first. */
export async function listDeliveries(db: Conn, endpointId: number, limit: number, offset: number): Promise<{ rows: Delivery[]; total: number }> {
  const [{ n }] = await db('webhook_deliveries').where({ endpoint_id: endpointId }).count({ n: '*' });
  const rows = await db('webhook_deliveries').where({ endpoint_id: endpointId }).orderBy('id', 'desc').limit(limit).offset(offset);
  return { rows: rows.map(toDelivery), total: Number(n) };
}

// ------------------------------------------------------------------------------------------- the delivery

/** Enabled endpoints with events waiting whose queue no server holds now. */
export async function endpointsWithWork(db: Conn, now: number, limit: number): Promise<number[]> {
  const rows = await db('webhook_endpoints as e')
    .where('e.enabled', true)
    .where('e.lease_until', '<', now)
    .whereExists(db('webhook_deliveries as d').whereRaw('d.endpoint_id = e.id').where('d.status', 'pending').where('d.next_attempt_at', '<=', now))
    .orderBy('e.id')
    .limit(limit)
    .select('e.id');
  return rows.map((r: { id: number }) => Number(r.id));
}

/**
 * Takes an endpoint's lease when nobody holds it (or theirs expired): one conditional UPDATE, which only one
 * server can win, on SQLite and MariaDB alike.
 */
export async function takeLease(db: Conn, endpointId: number, token: string, now: number, until: number): Promise<boolean> {
  const n = await db('webhook_endpoints').where({ id: endpointId }).where('lease_until', '<', now).update({ lease_token: token, lease_until: until });
  return n === 1;
}

/** Extends a lease still held; false when it was lost (expired and taken by another server). */
export async function renewLease(db: Conn, endpointId: number, token: string, until: number): Promise<boolean> {
  return (await db('webhook_endpoints').where({ id: endpointId, lease_token: token }).update({ lease_until: until })) === 1;
}

export async function releaseLease(db: Conn, endpointId: number, token: string): Promise<void> {
  await db('webhook_endpoints').where({ id: endpointId, lease_token: token }).update({ lease_token: null, lease_until: 0 });
}

/** The oldest events still to deliver to this endpoint: they go out one after another, in this order. */
export async function headOfQueue(db: Conn, endpointId: number, limit: number): Promise<Delivery[]> {
  return (await db('webhook_deliveries').where({ endpoint_id: endpointId, status: 'pending' }).orderBy('id').limit(limit)).map(toDelivery);
}

export interface AttemptOutcome {
  status: DeliveryStatus;
  statusCode: number | null;
  error: string | null;
  at: number;
  nextAttemptAt: number;
}

export async function recordAttempt(db: Conn, delivery: Delivery, outcome: AttemptOutcome): Promise<boolean> {
  const n = await db('webhook_deliveries')
    .where({ id: delivery.id, status: 'pending' })
    .update({
      status: outcome.status,
      attempts: delivery.attempts + 1,
      last_status_code: outcome.statusCode,
      last_error: outcome.error?.slice(0, 500) ?? null,
      last_attempt_at: outcome.at,
      next_attempt_at: outcome.nextAttemptAt,
      delivered_at: outcome.status === 'delivered' ? outcome.at : null,
    });
  return n === 1;
}

export async function recordEndpointHealth(db: Conn, id: number, health: { consecutiveFailures: number; failingSince: number | null; lastError: string | null }): Promise<void> {
  await db('webhook_endpoints')
    .where({ id })
    .update({ consecutive_failures: health.consecutiveFailures, failing_since: health.failingSince, last_error: health.lastError?.slice(0, 500) ?? null });
}

/** Rows written for an endpoint removed meanwhile (by a server whose subscription cache was older). */
export async function removeOrphanDeliveries(db: Conn): Promise<number> {
  return db('webhook_deliveries').whereNotExists(db('webhook_endpoints as e').whereRaw('e.id = webhook_deliveries.endpoint_id')).delete();
}

/** For /metrics: events waiting, over all endpoints. */
export async function pendingTotal(db: Conn): Promise<number> {
  const [p] = await db('webhook_deliveries').where({ status: 'pending' }).count({ n: '*' });
  return Number(p.n);
}

/** For /metrics: enabled endpoints marked failing. */
export async function failingEndpoints(db: Conn): Promise<number> {
  const [f] = await db('webhook_endpoints').where({ enabled: true }).whereNotNull('failing_since').count({ n: '*' });
  return Number(f.n);
}

/** Removes delivered and failed events older than `before` from the delivery log (never those still to send). */
export async function removeOldDeliveries(db: Conn, before: number): Promise<number> {
  return db('webhook_deliveries').whereIn('status', ['delivered', 'failed']).where('created_at', '<', before).delete();
}
