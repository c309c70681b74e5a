/**
 * The outbox: audit.record (src/audit/service.ts) calls `enqueueFromAudit` in the transaction of every change,
 * which turns the audit event into webhook events (src/webhooks/events.ts) and writes one row per event and
 * subscribed endpoint. The rows commit or roll back with the change: an event is never sent for a change that
 * did not happen, nor lost when the server stops right after it.
 *
 * Most changes have no subscriber, so which endpoints subscribe to what is cached per database: an audit
 * action with no event costs nothing, one with events costs a map lookup. The cache is dropped at once when
 * an endpoint is saved on this server, and read again at most SUBSCRIPTIONS_TTL_MS later otherwise, so a
 * change of endpoints made through another server sharing the database applies here within that time.
 */
import { randomUUID } from 'node:crypto';
import type { Conn } from '../db/connect';
import type { Actor } from '../http/types';
import type { AuditEvent } from '../audit/repo';
import * as repo from './repo';
import { eventsFor, mapsToEvents, type DerivedEvent } from './events';

export const SUBSCRIPTIONS_TTL_MS = 5_000;

interface Subscriptions {
  loadedAt: number;
  /** Event type → ids of the enabled endpoints that subscribe to it. */
  byType: Map<string, number[]>;
}

/** Per database (a transaction shares its connection's config object with the pool it came from). */
const caches = new WeakMap<object, { generation: number; subscriptions?: Subscriptions }>();

function cacheOf(db: Conn) {
  const key = db.client.config as object;
  let c = caches.get(key);
  if (!c) {
    c = { generation: 0 };
    caches.set(key, c);
  }
  return c;
}

/** Forgets the cached subscriptions (after an endpoint is created, changed or removed). */
export function invalidateSubscriptions(db: Conn): void {
  const c = cacheOf(db);
  c.generation++;
  c.subscriptions = undefined;
}

async function subscriptions(db: Conn, now: number): Promise<Subscriptions> {
  const c = cacheOf(db);
  if (c.subscriptions && now - c.subscriptions.loadedAt < SUBSCRIPTIONS_TTL_MS) return c.subscriptions;
  const generation = c.generation;
  const byType = new Map<string, number[]>();
  for (const e of await repo.enabledSubscriptions(db)) {
    for (const type of e.eventTypes) byType.set(type, [...(byType.get(type) ?? []), e.id]);
  }
  const loaded = { loadedAt: now, byType };
  // A load that started before an invalidation may hold what was just changed: not kept.
  if (c.generation === generation) c.subscriptions = loaded;
  return loaded;
}

export const newMessageId = () => `msg_${randomUUID().replace(/-/g, '')}`;

/** The JSON body receivers get (Standard Webhooks: `type`, `timestamp`, `data`). */
export function envelope(type: string, at: number, data: Record<string, unknown>): string {
  return JSON.stringify({ type, timestamp: new Date(at).toISOString(), data });
}

function dataOf(e: DerivedEvent, actor: Actor, action: string): Record<string, unknown> {
  return {
    object: e.object,
    actor: { username: actor.username },
    action,
    ...(e.bulk ? { bulk: true } : {}),
    before: e.before ?? null,
    after: e.after ?? null,
  };
}

/** Writes the webhook events of this audit event for every enabled endpoint subscribed to them. */
export async function enqueueFromAudit(db: Conn, actor: Actor, event: AuditEvent, now = Date.now()): Promise<void> {
  if (!mapsToEvents(event.action)) return;
  const subs = await subscriptions(db, now);
  if (!subs.byType.size) return;
  const rows: repo.NewDelivery[] = [];
  for (const derived of eventsFor(event)) {
    const endpoints = subs.byType.get(derived.type);
    if (!endpoints?.length) continue;
    const messageId = newMessageId();
    const payload = envelope(derived.type, now, dataOf(derived, actor, event.action));
    for (const endpointId of endpoints) rows.push({ endpointId, messageId, eventType: derived.type, payload });
  }
  // Chunks keep a bulk change of thousands of users within the databases' limits on one statement.
  for (let i = 0; i < rows.length; i += 200) await repo.insertDeliveries(db, rows.slice(i, i + 200), now);
}
