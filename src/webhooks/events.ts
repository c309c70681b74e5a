/**
 * The event types an endpoint can subscribe to, and THE mapping from audit actions to them. Every change
 * writes an audit event in its transaction (src/audit/service.ts), so deriving webhook events from that one
 * call means no write path can forget to send one: a new audit action only needs a line here.
 *
 * Bulk changes write one audit event listing who changed; they produce one webhook event per affected user
 * (with `data.bulk: true`), so a receiver handles "alice was deactivated" the same way however it happened.
 * Group membership changes are one `group.members_changed` event per group (usernames and counts), like
 * the audit event they come from.
 */
import type { AuditEvent } from '../audit/repo';

export const EVENT_TYPES = {
  'user.created': 'A user was created (console, API, CSV import, single sign-on).',
  'user.updated': 'A user’s profile changed (name, email, role, license or groups).',
  'user.deactivated': 'A user was deactivated: they can no longer sign in.',
  'user.reactivated': 'A deactivated user was reactivated.',
  'user.removed': 'A user was removed.',
  'user.role_changed': 'A user was given another role.',
  'user.license_changed': 'A user was given another license.',
  'group.created': 'A group was created.',
  'group.updated': 'A group was renamed or its settings changed.',
  'group.removed': 'A group was removed.',
  'group.members_changed': 'Users were added to or removed from a group.',
  'role.changed': 'A role was created, changed, given or refused permissions, or removed.',
  'license.changed': 'A license’s seat limit or its caps per domain changed.',
  'permission.created': 'A permission was granted on a workspace.',
  'permission.changed': 'A permission on a workspace was changed.',
  'permission.removed': 'A permission on a workspace was removed.',
  'domain.changed': 'An application domain was added to the catalog, changed or removed.',
  'workspace.created': 'A workspace was created.',
  'workspace.changed': 'A workspace was renamed, moved or given another external key.',
  'workspace.removed': 'A workspace was removed.',
  'token.created': 'An API token (personal, or of a machine client) was created.',
  'token.revoked': 'An API token (personal, or of a machine client) was revoked.',
} as const;

export type EventType = keyof typeof EVENT_TYPES;
export const EVENT_TYPE_NAMES = Object.keys(EVENT_TYPES) as EventType[];
/** Sent only by "Send test event", whatever the endpoint subscribes to. */
export const TEST_EVENT_TYPE = 'webhook.test';

/** What an event says about its object; the envelope (type, timestamp, actor) is added by the outbox. */
export interface DerivedEvent {
  type: EventType;
  object: { type: string; id: string; name: string };
  before?: unknown;
  after?: unknown;
  bulk?: boolean;
}

type Record_ = Record<string, unknown>;
const asRecord = (v: unknown): Record_ => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record_) : {});
const names = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

function single(type: EventType) {
  return (e: AuditEvent): DerivedEvent[] => [{ type, object: objectOf(e), before: e.before, after: e.after }];
}

function objectOf(e: AuditEvent) {
  return { type: e.objectType, id: e.objectId === undefined ? '' : String(e.objectId), name: e.objectLabel ?? '' };
}

/** One event per username the bulk audit event lists. */
function perUser(type: EventType, detail: (after: Record_) => Record_ = () => ({})) {
  return (e: AuditEvent): DerivedEvent[] => {
    const after = asRecord(e.after);
    return names(after.users).map((username) => ({ type, object: { type: 'user', id: '', name: username }, after: detail(after), bulk: true }));
  };
}

/** A profile update: `user.updated`, plus the narrower events for what changed in it. */
function userUpdate(e: AuditEvent): DerivedEvent[] {
  const before = asRecord(e.before);
  const after = asRecord(e.after);
  const object = objectOf(e);
  const out: DerivedEvent[] = [{ type: 'user.updated', object, before: e.before, after: e.after }];
  if ('role' in after && before.role !== after.role) out.push({ type: 'user.role_changed', object, before: { role: before.role }, after: { role: after.role } });
  if ('license' in after && before.license !== after.license) out.push({ type: 'user.license_changed', object, before: { license: before.license }, after: { license: after.license } });
  const had = new Set((Array.isArray(before.groupIds) ? before.groupIds : []).map(String));
  const has = new Set((Array.isArray(after.groupIds) ? after.groupIds : []).map(String));
  for (const id of has) if (!had.has(id)) out.push({ type: 'group.members_changed', object: { type: 'group', id, name: '' }, after: { added: [object.name], removed: [], addedCount: 1, removedCount: 0 } });
  for (const id of had) if (!has.has(id)) out.push({ type: 'group.members_changed', object: { type: 'group', id, name: '' }, after: { added: [], removed: [object.name], addedCount: 0, removedCount: 1 } });
  return out;
}

/** Users moved into a role (and, when taken out, into the default role): one event per user. */
function roleAssignment(e: AuditEvent): DerivedEvent[] {
  const after = asRecord(e.after);
  const role = e.objectLabel ?? '';
  const movedTo = typeof after.removedMovedTo === 'string' ? after.removedMovedTo : null;
  return [
    ...names(after.added).map((username) => ({ type: 'user.role_changed' as const, object: { type: 'user', id: '', name: username }, after: { role }, bulk: true })),
    ...names(after.removed).map((username) => ({ type: 'user.role_changed' as const, object: { type: 'user', id: '', name: username }, before: { role }, after: { role: movedTo }, bulk: true })),
  ];
}

/** A bulk add to / removal from one group: one membership event for that group. */
function bulkMembership(direction: 'added' | 'removed') {
  return (e: AuditEvent): DerivedEvent[] => {
    const after = asRecord(e.after);
    const users = names(after.users);
    const other = direction === 'added' ? 'removed' : 'added';
    return [
      {
        type: 'group.members_changed',
        object: { type: 'group', id: '', name: typeof after.group === 'string' ? after.group : '' },
        after: { [direction]: users, [other]: [], [`${direction}Count`]: users.length, [`${other}Count`]: 0 },
        bulk: true,
      },
    ];
  };
}

/** Audit action → the webhook events it produces. Actions not listed (sign-ins, settings…) produce none. */
const MAPPING: Record<string, (e: AuditEvent) => DerivedEvent[]> = {
  'user.create': single('user.created'),
  'user.import': perUser('user.created'),
  'user.update': userUpdate,
  'account.update_profile': single('user.updated'),
  'user.link_sso': single('user.updated'),
  'user.deactivate': single('user.deactivated'),
  'user.reactivate': single('user.reactivated'),
  'user.delete': single('user.removed'),
  'user.bulk_deactivate': perUser('user.deactivated'),
  'user.bulk_reactivate': perUser('user.reactivated'),
  'user.bulk_remove': perUser('user.removed'),
  'user.bulk_assign_role': perUser('user.role_changed', (a) => ({ role: a.role })),
  'user.bulk_set_license': perUser('user.license_changed', (a) => ({ license: a.license })),
  'user.bulk_add_to_group': bulkMembership('added'),
  'user.bulk_remove_from_group': bulkMembership('removed'),
  'role.assign_users': roleAssignment,
  'group.create': single('group.created'),
  'group.update': single('group.updated'),
  'group.delete': single('group.removed'),
  'group.members': single('group.members_changed'),
  'role.create': single('role.changed'),
  'role.clone': single('role.changed'),
  'role.update': single('role.changed'),
  'role.permissions': single('role.changed'),
  'role.set_default': single('role.changed'),
  'role.delete': single('role.changed'),
  'license.seat_limit': single('license.changed'),
  'license.caps': single('license.changed'),
  'permission.create': single('permission.created'),
  'permission.update': single('permission.changed'),
  'permission.delete': single('permission.removed'),
  'domain.create': single('domain.changed'),
  'domain.update': single('domain.changed'),
  'domain.delete': single('domain.changed'),
  'workspace.create': single('workspace.created'),
  'workspace.update': single('workspace.changed'),
  'workspace.move': single('workspace.changed'),
  'workspace.rename': single('workspace.changed'),
  'workspace.external_key': single('workspace.changed'),
  'workspace.delete': single('workspace.removed'),
  'token.create': single('token.created'),
  'token.revoke': single('token.revoked'),
  'client.token_create': single('token.created'),
  'client.token_revoke': single('token.revoked'),
};

/** The event types this audit action can produce at most (cheap: no event is built). */
export function mapsToEvents(action: string): boolean {
  return action in MAPPING;
}

export function eventsFor(event: AuditEvent): DerivedEvent[] {
  const map = MAPPING[event.action];
  return map ? map(event) : [];
}

/** Which audit actions produce events. */
export const MAPPED_ACTIONS = Object.keys(MAPPING);

/**
 * Audit actions that deliberately send nothing: sign-in activity and sessions, one's own password, the
 * console's settings, assets (not part of who-may-do-what), machine clients themselves (their tokens do send
 * events) and webhooks themselves. A test finds every audit
 * action in the code and requires it here or in the mapping, so a new kind of change cannot go unnoticed.
 */
export const ACTIONS_WITHOUT_EVENTS = [
  'auth.*',
  'account.change_password',
  'account.end_other_sessions',
  'user.end_sessions',
  'user.unlock',
  'user.reset_superuser',
  'settings.*',
  'asset.*',
  'group_relation.*',
  'webhook.*',
  'client.create',
  'client.delete',
  'scim.*',
];
