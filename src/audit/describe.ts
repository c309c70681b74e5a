/**
 * The audit log in human terms: a label per action ("Removed user") and a field-by-field change with names
 * where events stored ids (groups, workspaces). Pure: the names come from audit/repo's lookup of one page.
 */
import { APP_PERMISSIONS } from '../permissions/catalog';

const ACTION_LABELS: Record<string, string> = {
  'auth.sign_in': 'Signed in',
  'auth.sign_out': 'Signed out',
  'auth.sign_in_failed': 'Sign-in failed',
  'auth.throttled': 'Sign-in slowed down after failures',
  'auth.sso_failed': 'Single sign-on failed',
  'auth.second_factor_failed': 'Second factor failed',
  'auth.second_factor_reset': 'Reset second factor',
  'auth.recovery_code_used': 'Used a recovery code',
  'auth.reauthenticated': 'Confirmed identity again',
  'auth.reauth_failed': 'Identity confirmation failed',
  'auth.session_revoked': 'Ended a session',
  'auth.password_reset_requested': 'Asked for a password reset',
  'auth.password_reset': 'Reset password',
  'account.update_profile': 'Updated own profile',
  'account.change_password': 'Changed own password',
  'account.end_other_sessions': 'Ended own other sessions',
  'settings.two_factor_policy': 'Changed the two-factor policy',
  'user.create': 'Created user',
  'user.update': 'Changed user',
  'user.delete': 'Removed user',
  'user.deactivate': 'Deactivated user',
  'user.reactivate': 'Reactivated user',
  'user.unlock': 'Unlocked user',
  'user.end_sessions': 'Ended user’s sessions',
  'user.reset_superuser': 'Reset Superuser',
  'user.link_sso': 'Linked user to single sign-on',
  'user.import': 'Imported users from CSV',
  'user.bulk_deactivate': 'Deactivated users (bulk)',
  'user.bulk_reactivate': 'Reactivated users (bulk)',
  'user.bulk_assign_role': 'Assigned a role (bulk)',
  'user.bulk_set_license': 'Set a license (bulk)',
  'user.bulk_add_to_group': 'Added users to a group (bulk)',
  'user.bulk_remove_from_group': 'Removed users from a group (bulk)',
  'user.bulk_end_sessions': 'Ended sessions (bulk)',
  'user.bulk_unlock': 'Unlocked users (bulk)',
  'user.bulk_remove': 'Removed users (bulk)',
  'group.create': 'Created group',
  'group.update': 'Changed group',
  'group.delete': 'Removed group',
  'group.members': 'Changed group members',
  'group_relation.create': 'Related groups',
  'group_relation.delete': 'Removed a group relation',
  'role.create': 'Created role',
  'role.clone': 'Cloned role',
  'role.update': 'Changed role',
  'role.delete': 'Removed role',
  'role.permissions': 'Changed role permissions',
  'role.set_default': 'Made role the default',
  'role.assign_users': 'Assigned users to role',
  'license.seat_limit': 'Changed seat limit',
  'license.caps': 'Changed license caps',
  'workspace.create': 'Created workspace',
  'workspace.rename': 'Renamed workspace',
  'workspace.move': 'Moved workspace',
  'workspace.update': 'Moved and renamed workspace',
  'workspace.delete': 'Removed workspace',
  'permission.create': 'Granted group permission',
  'permission.update': 'Changed group permission',
  'permission.delete': 'Removed group permission',
  'asset.create': 'Created asset',
  'asset.update': 'Changed asset',
  'asset.delete': 'Removed asset',
  'asset.transfer': 'Transferred asset',
  'asset.share': 'Shared asset',
  'asset.unshare': 'Stopped sharing asset',
  'token.create': 'Created API token',
  'token.revoke': 'Revoked API token',
};

/** "Removed user" for `user.delete`; an action without a label reads as words ("webhook.create" → "Webhook create"). */
export function actionLabel(action: string): string {
  if (ACTION_LABELS[action]) return ACTION_LABELS[action];
  const words = action.replace(/[._]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const OBJECT_TYPE_LABELS: Record<string, string> = { group_relation: 'group relation', domain_permission: 'group permission', permission: 'group permission', license_type: 'license', api_token: 'API token' };
export function objectTypeLabel(type: string): string {
  return OBJECT_TYPE_LABELS[type] ?? type.replace(/_/g, ' ');
}

/** Fields that hold ids, and what they name. */
const ID_FIELDS: Record<string, NameKind> = {
  groupIds: 'group',
  groupId: 'group',
  workspaceId: 'workspace',
  parentId: 'workspace',
  roleId: 'role',
  licenseTypeId: 'license',
  userId: 'user',
  ownerId: 'user',
};
export type NameKind = 'group' | 'workspace' | 'role' | 'license' | 'user';
export type NameLookup = Record<NameKind, Map<number, string>>;

const FIELD_LABELS: Record<string, string> = {
  groupIds: 'Groups',
  workspaceId: 'Workspace',
  parentId: 'Parent workspace',
  licenseTypeId: 'License',
  roleId: 'Role',
  isDefault: 'Default for new users',
  sessionsEnded: 'Sessions ended',
  memberCount: 'Members',
  addedCount: 'Members added',
  removedCount: 'Members removed',
  lockedUntil: 'Locked until',
  failedLogins: 'Failed sign-ins',
  previousRoles: 'Previous roles',
  removedMovedTo: 'Removed users moved to',
  mergedWithConcurrentChange: 'Merged with a change made meanwhile',
  assetDisposition: 'Their assets',
  transferredTo: 'Assets transferred to',
  ip: 'IP address',
};

/** "firstName" → "First name"; known fields by their console label. */
export function fieldLabel(key: string): string {
  if (FIELD_LABELS[key]) return FIELD_LABELS[key];
  const words = key
    .replace(/_/g, ' ')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const PERMISSION_LABELS = new Map<string, string>(APP_PERMISSIONS.map((p) => [p.key, p.label]));
/** Values shown of a long list (a bulk action's 10,000 usernames); the rest is "and N more". */
const LIST_SHOWN = 20;
const TIME_FIELDS = new Set(['lockedUntil', 'at', 'expiresAt', 'lastLoginAt']);

/** Every id an event's fields hold, by kind, so one page of events is named with a few lookups. */
export function collectIds(values: unknown[], into: Record<NameKind, Set<number>>): void {
  for (const v of values) {
    if (!v || typeof v !== 'object' || Array.isArray(v)) continue;
    for (const [key, value] of Object.entries(v as Record<string, unknown>)) {
      const kind = ID_FIELDS[key];
      if (!kind) continue;
      for (const id of Array.isArray(value) ? value : [value]) if (Number.isInteger(Number(id)) && Number(id) > 0) into[kind].add(Number(id));
    }
  }
}

function formatOne(key: string, value: unknown, names: NameLookup): string {
  if (value === null || value === undefined || value === '') return '—';
  const kind = ID_FIELDS[key];
  if (kind) {
    const name = names[kind].get(Number(value));
    return name ?? `(removed ${kind})`;
  }
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (typeof value === 'number' && TIME_FIELDS.has(key)) return new Date(value).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  if (typeof value === 'number') return value.toLocaleString('en-US');
  if (typeof value === 'string') return key === 'permissions' || key === 'granted' || key === 'revoked' ? (PERMISSION_LABELS.get(value) ?? value) : value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${formatOne(k, v, names)}`)
      .join(', ');
  }
  return JSON.stringify(value);
}

/** A value as text: lists joined (long ones cut with "and N more"), ids as names, booleans as Yes/No. */
export function formatValue(key: string, value: unknown, names: NameLookup): string {
  if (!Array.isArray(value)) return formatOne(key, value, names);
  if (!value.length) return 'none';
  const shown = value.slice(0, LIST_SHOWN).map((v) => formatOne(key, v, names));
  return value.length > LIST_SHOWN ? `${shown.join(', ')} and ${(value.length - LIST_SHOWN).toLocaleString('en-US')} more` : shown.join(', ');
}

export interface ChangeRow {
  field: string;
  before?: string;
  after?: string;
  /** For lists on both sides: what was added and removed, instead of both whole lists. */
  added?: string;
  removed?: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The fields of an event, one row each: for a change (before and after), only the fields that differ; for a
 * creation or removal, every field of the side there is.
 */
export function describeChange(before: unknown, after: unknown, names: NameLookup): ChangeRow[] {
  const b = before && typeof before === 'object' && !Array.isArray(before) ? (before as Record<string, unknown>) : undefined;
  const a = after && typeof after === 'object' && !Array.isArray(after) ? (after as Record<string, unknown>) : undefined;
  if (!b && !a) {
    // A list of changes (license caps): one row per entry.
    const list = (Array.isArray(after) ? after : Array.isArray(before) ? before : []) as unknown[];
    return list.map((entry, i) => ({ field: `Change ${i + 1}`, after: formatOne('', entry, names) }));
  }
  const keys = [...new Set([...Object.keys(b ?? {}), ...Object.keys(a ?? {})])];
  const rows: ChangeRow[] = [];
  for (const key of keys) {
    const inB = !!b && key in b;
    const inA = !!a && key in a;
    if (inB && inA && same(b![key], a![key])) continue;
    const row: ChangeRow = { field: fieldLabel(key) };
    if (inB && inA && Array.isArray(b![key]) && Array.isArray(a![key])) {
      const was = new Set((b![key] as unknown[]).map((v) => JSON.stringify(v)));
      const now = new Set((a![key] as unknown[]).map((v) => JSON.stringify(v)));
      const added = (a![key] as unknown[]).filter((v) => !was.has(JSON.stringify(v)));
      const removed = (b![key] as unknown[]).filter((v) => !now.has(JSON.stringify(v)));
      if (added.length) row.added = formatValue(key, added, names);
      if (removed.length) row.removed = formatValue(key, removed, names);
    } else {
      if (inB) row.before = formatValue(key, b![key], names);
      if (inA) row.after = formatValue(key, a![key], names);
    }
    rows.push(row);
  }
  return rows;
}
