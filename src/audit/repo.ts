import type { Conn } from '../db/connect';
import { likePrefix, whereLike } from '../db/connect';

export interface AuditRow {
  id: number;
  at: number;
  actor_id: number | null;
  actor_username: string;
  action: string;
  object_type: string;
  object_id: string;
  object_label: string;
  before_json: string | null;
  after_json: string | null;
  ip: string;
}

export interface AuditFilter {
  actor?: string;
  action?: string;
  objectType?: string;
  object?: string;
  from?: number;
  to?: number;
}

export async function insert(db: Conn, row: Omit<AuditRow, 'id'>): Promise<void> {
  await db('audit_events').insert(row);
}

function filtered(db: Conn, f: AuditFilter) {
  const q = db('audit_events');
  if (f.actor) whereLike(q, 'actor_username', likePrefix(f.actor.toLowerCase()));
  if (f.action) q.where('action', f.action);
  if (f.objectType) q.where('object_type', f.objectType);
  if (f.object) q.where((w) => whereLike(w.where('object_id', f.object!), 'object_label', likePrefix(f.object!), { or: true }));
  if (f.from !== undefined) q.where('at', '>=', f.from);
  if (f.to !== undefined) q.where('at', '<', f.to);
  return q;
}

/** Newest first, keyset-paged by id so deep pages stay as fast as the first. */
export async function list(db: Conn, f: AuditFilter, limit: number, beforeId?: number): Promise<AuditRow[]> {
  const q = filtered(db, f).orderBy('id', 'desc').limit(limit);
  if (beforeId) q.where('id', '<', beforeId);
  return q.select('*');
}

export async function distinctActions(db: Conn): Promise<string[]> {
  return (await db('audit_events').distinct('action').orderBy('action')).map((r: { action: string }) => r.action);
}

export async function distinctObjectTypes(db: Conn): Promise<string[]> {
  return (await db('audit_events').distinct('object_type').orderBy('object_type')).map((r: { object_type: string }) => r.object_type);
}
