import type { Conn } from '../db/connect';
import { likePrefix, whereLike } from '../db/connect';
import type { NameKind, NameLookup } from './describe';

/** What a change records (src/audit/service.ts writes it with the actor; webhooks derive their events from it). */
export interface AuditEvent {
  action: string;
  objectType: string;
  objectId?: string | number;
  objectLabel?: string;
  before?: unknown;
  after?: unknown;
}

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

/** Where a page of the log ends: the time and id of its last (oldest) event. */
export interface AuditPosition {
  at: number;
  id: number;
}

/** "1764530000000.42" ⇄ { at, id }: the opaque cursor of the log's pages. */
export const positionToken = (p: AuditPosition) => `${p.at}.${p.id}`;

export function parsePosition(token: string | undefined): AuditPosition | undefined {
  const m = /^([0-9]{1,16})\.([1-9][0-9]{0,18})$/.exec(token ?? '');
  return m ? { at: Number(m[1]), id: Number(m[2]) } : undefined;
}

/**
 * Newest first by time, keyset-paged on (at, id) so deep pages stay as fast as the first. Ids only break
 * ties: on a multi-primary cluster they do not follow time.
 */
export async function list(db: Conn, f: AuditFilter, limit: number, before?: AuditPosition): Promise<AuditRow[]> {
  const q = filtered(db, f).orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
  if (before) q.where((w) => w.where('at', '<', before.at).orWhere((x) => x.where('at', before.at).andWhere('id', '<', before.id)));
  return q.select('*');
}

/** The newest events about one object among these actions (a user's sign-in history), newest first. */
export async function latestAbout(db: Conn, objectType: string, objectId: string, actions: string[], limit: number): Promise<AuditRow[]> {
  return db('audit_events')
    .where({ object_type: objectType, object_id: objectId })
    .whereIn('action', actions)
    .orderBy([{ column: 'at', order: 'desc' }, { column: 'id', order: 'desc' }])
    .limit(limit);
}

export async function distinctActions(db: Conn): Promise<string[]> {
  return (await db('audit_events').distinct('action').orderBy('action')).map((r: { action: string }) => r.action);
}

export async function distinctObjectTypes(db: Conn): Promise<string[]> {
  return (await db('audit_events').distinct('object_type').orderBy('object_type')).map((r: { object_type: string }) => r.object_type);
}

const NAME_SOURCES: Record<NameKind, { table: string; column: string }> = {
  group: { table: 'groups', column: 'name' },
  workspace: { table: 'workspaces', column: 'name' },
  role: { table: 'roles', column: 'name' },
  license: { table: 'license_types', column: 'name' },
  user: { table: 'users', column: 'username' },
};

/** The current names of the ids a page of events holds (one query per kind that occurs). */
export async function namesOf(db: Conn, ids: Record<NameKind, Set<number>>): Promise<NameLookup> {
  const out = {} as NameLookup;
  for (const kind of Object.keys(NAME_SOURCES) as NameKind[]) {
    out[kind] = new Map();
    const wanted = [...ids[kind]].slice(0, 5000);
    if (!wanted.length) continue;
    const { table, column } = NAME_SOURCES[kind];
    for (const r of await db(table).whereIn('id', wanted).select('id', `${column} as name`)) out[kind].set(Number(r.id), String(r.name));
  }
  return out;
}
