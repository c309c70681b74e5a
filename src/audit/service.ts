import type { Conn } from '../db/connect';
import type { Actor } from '../http/types';
import * as repo from './repo';
import { enqueueFromAudit } from '../webhooks/outbox';
import type { AuditEvent, AuditRow } from './repo';

export type { AuditEvent };

/**
 * Writes one audit event, inside the caller's transaction so the trail and the change commit together, and
 * the webhook events it produces into the outbox of the same transaction (src/webhooks/outbox.ts).
 */
export async function record(db: Conn, actor: Actor, event: AuditEvent): Promise<void> {
  await repo.insert(db, {
    at: Date.now(),
    actor_id: actor.id,
    actor_username: actor.username.toLowerCase(),
    action: event.action,
    object_type: event.objectType,
    object_id: event.objectId === undefined ? '' : String(event.objectId),
    object_label: (event.objectLabel ?? '').slice(0, 255),
    before_json: event.before === undefined ? null : JSON.stringify(event.before),
    after_json: event.after === undefined ? null : JSON.stringify(event.after),
    ip: actor.ip.slice(0, 64),
  });
  await enqueueFromAudit(db, actor, event);
}

/** The actor for changes made from the shell (create-superuser, seeds). */
export const SYSTEM_ACTOR: Actor = { id: null, username: 'system', ip: 'local', isSuperuser: true };

/** An audit event as the API and the JSON export show it. */
export function eventJson(r: AuditRow) {
  return {
    id: Number(r.id),
    at: new Date(Number(r.at)).toISOString(),
    actor: r.actor_username,
    action: r.action,
    objectType: r.object_type,
    objectId: r.object_id,
    object: r.object_label,
    before: r.before_json ? JSON.parse(r.before_json) : null,
    after: r.after_json ? JSON.parse(r.after_json) : null,
    ip: r.ip,
  };
}
