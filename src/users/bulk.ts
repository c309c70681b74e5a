/**
 * Bulk actions on users: deactivate, reactivate, assign a role, set a license, add to or remove from a
 * group, end sessions, unlock, remove — over ticked rows or every user a filter matches.
 *
 * Every action is first *evaluated* (the preview): which targets change, which are skipped and why
 * (already in that state, an account the actor may not change, the actor's own account, no seats left, the
 * last active Superuser). Confirming *applies* it in one transaction that evaluates the same targets again
 * (under the invariant guards, so a concurrent change cannot slip in between the check and the write),
 * changes what is still eligible, and writes one audit event listing who changed. What differs from the
 * preview is reported, not silently absorbed.
 */
import { randomBytes } from 'node:crypto';
import Joi from 'joi';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { ValidationError } from '../http/errors';
import { fullName } from '../http/format';
import { recordChanges, recordMembershipChanges } from '../changes/service';
import * as sessions from '../sessions/service';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import * as audit from '../audit/service';
import * as roles from '../roles/repo';
import type { Role } from '../roles/repo';
import { assignmentBlocker } from '../roles/service';
import * as licenses from '../licenses/repo';
import type { LicenseType } from '../licenses/repo';
import { assertSeatAvailable } from '../licenses/service';
import * as groups from '../groups/repo';
import * as clients from '../clients/repo';
import { policyFor } from './policy';
import * as users from './repo';
import * as bulkRepo from './bulkRepo';
import type { BulkTarget } from './bulkRepo';

export type { BulkTarget } from './bulkRepo';

/** The bulk actions; `asks`: the preview asks for more (a role, a group, where assets go), so the menu shows an ellipsis. */
export const BULK_ACTIONS = {
  deactivate: { label: 'Deactivate', done: 'deactivated', noun: 'Deactivate users' },
  reactivate: { label: 'Reactivate', done: 'reactivated', noun: 'Reactivate users' },
  assign_role: { label: 'Assign role', asks: true, done: 'given the role', noun: 'Assign a role' },
  set_license: { label: 'Set license', asks: true, done: 'given the license', noun: 'Set the license' },
  add_to_group: { label: 'Add to group', asks: true, done: 'added to', noun: 'Add to a group' },
  remove_from_group: { label: 'Remove from group', asks: true, done: 'removed from', noun: 'Remove from a group' },
  end_sessions: { label: 'End sessions', done: 'signed out everywhere', noun: 'End sessions' },
  unlock: { label: 'Unlock', done: 'unlocked', noun: 'Unlock users' },
  remove: { label: 'Remove', asks: true, done: 'removed', noun: 'Remove users' },
} as const;
export type BulkActionKey = keyof typeof BULK_ACTIONS;
export const BULK_ACTION_KEYS = Object.keys(BULK_ACTIONS) as BulkActionKey[];

/** Targets of one action at most: a filter that matches more is narrowed first. */
export const BULK_MAX_TARGETS = 100_000;
/** Usernames kept in a job's result for its page (the audit event lists every one). */
const RESULT_NAMES = 2000;

const idField = (label: string) => Joi.number().integer().min(1).max(2147483647).empty('').label(label);

export const bulkParamsSchema = Joi.object({
  action: Joi.string()
    .valid(...BULK_ACTION_KEYS)
    .required()
    .label('Action')
    .messages({ 'any.required': 'Choose an action.', 'any.only': 'Choose an action.', 'string.empty': 'Choose an action.' }),
  roleId: idField('Role').when('action', { is: 'assign_role', then: Joi.required() }).messages({ 'any.required': 'Choose the role to assign.' }),
  licenseTypeId: idField('License').when('action', { is: 'set_license', then: Joi.required() }).messages({ 'any.required': 'Choose the license to set.' }),
  group: Joi.string()
    .trim()
    .max(100)
    .allow('')
    .label('Group')
    .when('action', { is: Joi.valid('add_to_group', 'remove_from_group'), then: Joi.required().invalid('') })
    .messages({ 'any.required': 'Choose the group.', 'any.invalid': 'Choose the group.', 'string.empty': 'Choose the group.' }),
  assets: Joi.string()
    .valid('transfer', 'delete')
    .empty('')
    .label('Their assets')
    .when('action', { is: 'remove', then: Joi.required() })
    .messages({ 'any.required': 'Choose what happens to the assets the users own.' }),
  transferTo: Joi.string().trim().max(64).allow('').default('').label('Receiving user'),
});

export interface BulkParamsInput {
  action: BulkActionKey;
  roleId?: number;
  licenseTypeId?: number;
  group?: string;
  assets?: 'transfer' | 'delete';
  transferTo: string;
}

/** The action with its parameters looked up (and allowed to this actor). */
export interface ResolvedAction {
  input: BulkParamsInput;
  action: BulkActionKey;
  role?: Role;
  license?: LicenseType;
  group?: { id: number; name: string; permissionCount: number };
  receiver?: { id: number; username: string };
}

export type SkipCode = 'self' | 'forbidden' | 'already' | 'receiver' | 'owns_clients' | 'last_superuser' | 'no_seats' | 'gone';

export const SKIP_LABELS: Record<SkipCode, string> = {
  self: 'your own account',
  forbidden: 'you may not change them',
  already: 'already in that state',
  receiver: 'receives the assets',
  owns_clients: 'owns machine clients',
  last_superuser: 'last active Superuser',
  no_seats: 'no seats left',
  gone: 'no longer exists',
};
const SKIP_ORDER: SkipCode[] = ['gone', 'self', 'forbidden', 'last_superuser', 'no_seats', 'owns_clients', 'receiver', 'already'];

export interface Skipped {
  id: number;
  username: string;
  name: string;
  code: SkipCode;
  reason: string;
}

export interface BulkPlan {
  resolved: ResolvedAction;
  change: BulkTarget[];
  skipped: Skipped[];
  /** Assets owned by the users who would be removed. */
  assets?: number;
}


/** Validates the action's parameters and resolves them; refuses what this actor may not do at all. */
export async function resolveAction(db: Conn, actor: Actor, raw: unknown): Promise<ResolvedAction> {
  const input = validate<BulkParamsInput>(bulkParamsSchema, raw);
  const out: ResolvedAction = { input, action: input.action };
  const fields: Record<string, string> = {};
  if (input.action === 'assign_role') {
    const role = await roles.findById(db, input.roleId!);
    if (!role) fields.roleId = 'That role no longer exists.';
    else {
      const blocker = await assignmentBlocker(db, actor, role);
      if (blocker) throw new ValidationError({ roleId: blocker }, blocker, 403);
      out.role = role;
    }
  }
  if (input.action === 'set_license') {
    const license = await licenses.findById(db, input.licenseTypeId!);
    if (!license) fields.licenseTypeId = 'That license type no longer exists.';
    else out.license = license;
  }
  if (input.action === 'add_to_group' || input.action === 'remove_from_group') {
    const group = await groups.findByName(db, input.group!);
    if (!group) fields.group = `There is no group named “${input.group}”.`;
    else {
      out.group = { id: group.id, name: group.name, permissionCount: await bulkRepo.domainPermissionCount(db, group.id) };
      // The same rule as the group page: members of a group that carries domain permissions take both
      // administration permissions to change.
      const blocker = await policyFor(db, actor).membershipBlocker(out.group);
      if (blocker) throw new ValidationError({ group: blocker.message }, blocker.message, 403);
    }
  }
  if (input.action === 'remove' && input.assets === 'transfer') {
    if (!input.transferTo) fields.transferTo = 'Choose the user who receives the assets.';
    else {
      const receiver = await users.findByUsername(db, input.transferTo);
      if (!receiver) fields.transferTo = `There is no user “${input.transferTo}”.`;
      else out.receiver = { id: receiver.id, username: receiver.username };
    }
  }
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return out;
}

/** Why this target is already as the action would leave it, or null. */
function alreadyDone(r: ResolvedAction, t: BulkTarget, now: number, members: Set<number>, signedIn: Set<number>): string | null {
  switch (r.action) {
    case 'deactivate':
      return t.status === 'deactivated' ? 'Already deactivated.' : null;
    case 'reactivate':
      return t.status === 'active' ? 'Already active.' : null;
    case 'assign_role':
      return t.roleId === r.role!.id ? `Already has the role ${r.role!.name}.` : null;
    case 'set_license':
      return t.licenseTypeId === r.license!.id ? `Already holds the ${r.license!.name} license.` : null;
    case 'add_to_group':
      return members.has(t.id) ? `Already in ${r.group!.name}.` : null;
    case 'remove_from_group':
      return members.has(t.id) ? null : `Not in ${r.group!.name}.`;
    case 'end_sessions':
      return signedIn.has(t.id) ? null : 'Not signed in anywhere.';
    case 'unlock':
      return t.lockedUntil !== null && t.lockedUntil > now ? null : 'Not locked.';
    case 'remove':
      return null;
  }
}

/** Does the action take users out of the active Superusers? */
function mayLeaveSuperusers(r: ResolvedAction): boolean {
  return r.action === 'deactivate' || r.action === 'remove' || (r.action === 'assign_role' && r.role!.builtinKey !== 'superuser');
}

/**
 * Decides, for each of these users, whether the action changes them or skips them (with the reason).
 * Reads only; `apply` calls it again inside its transaction, after taking the guards.
 */
export async function evaluate(db: Conn, actor: Actor, resolved: ResolvedAction, ids: number[], now = Date.now()): Promise<BulkPlan> {
  const all = await bulkRepo.targets(db, ids);
  const found = new Set(all.map((t) => t.id));
  const skipped: Skipped[] = [];
  for (const id of new Set(ids)) if (!found.has(id)) skipped.push({ id, username: `#${id}`, name: '', code: 'gone', reason: 'This user no longer exists.' });

  const blockers = await policyFor(db, actor).blockers(all);
  const allIds = all.map((t) => t.id);
  const members = resolved.group ? await bulkRepo.membersAmong(db, resolved.group.id, allIds) : new Set<number>();
  const signedIn = resolved.action === 'end_sessions' ? await bulkRepo.signedInAmong(db, allIds, now) : new Set<number>();
  const clientOwners = resolved.action === 'remove' ? await clients.ownersAmong(db, allIds) : new Set<number>();

  let change: BulkTarget[] = [];
  for (const t of all) {
    const skip = (code: SkipCode, reason: string) => skipped.push({ id: t.id, username: t.username, name: fullName(t), code, reason });
    const blocker = blockers.get(t.id);
    if (blocker) {
      skip(actor.id === t.id ? 'self' : 'forbidden', blocker.message);
      continue;
    }
    const already = alreadyDone(resolved, t, now, members, signedIn);
    if (already) {
      skip('already', already);
      continue;
    }
    if (resolved.receiver && resolved.receiver.id === t.id) {
      skip('receiver', `Receives the assets of the others, so stays.`);
      continue;
    }
    if (clientOwners.has(t.id)) {
      skip('owns_clients', `Owns machine clients: give them another owner or delete them first.`);
      continue;
    }
    change.push(t);
  }

  if (mayLeaveSuperusers(resolved) && change.some((t) => t.roleBuiltinKey === 'superuser')) {
    const active = await bulkRepo.activeSuperuserIds(db);
    const leaving = change.filter((t) => active.has(t.id));
    const keep = leaving.length - (active.size - 1);
    if (keep > 0) {
      const kept = new Set(leaving.slice(-keep).map((t) => t.id));
      for (const t of change.filter((c) => kept.has(c.id))) {
        skipped.push({ id: t.id, username: t.username, name: fullName(t), code: 'last_superuser', reason: `${t.username} would be the last active Superuser, so keeps that role and status.` });
      }
      change = change.filter((t) => !kept.has(t.id));
    }
  }

  if (resolved.action === 'set_license' && resolved.license!.seatLimit !== null && change.length) {
    const license = resolved.license!;
    const used = await licenses.seatsAssigned(db, license.id);
    const left = Math.max(0, license.seatLimit! - used);
    if (change.length > left) {
      for (const t of change.slice(left)) {
        skipped.push({
          id: t.id,
          username: t.username,
          name: fullName(t),
          code: 'no_seats',
          reason: `No ${license.name} seats left: ${left ? `the ${left} left go to the users before in the list` : `all ${license.seatLimit} are assigned`}.`,
        });
      }
      change = change.slice(0, left);
    }
  }

  skipped.sort((a, b) => SKIP_ORDER.indexOf(a.code) - SKIP_ORDER.indexOf(b.code) || (a.username.toLowerCase() < b.username.toLowerCase() ? -1 : 1));
  const plan: BulkPlan = { resolved, change, skipped };
  if (resolved.action === 'remove') plan.assets = await bulkRepo.assetsOwnedBy(db, change.map((t) => t.id));
  return plan;
}

export interface BulkResult {
  action: BulkActionKey;
  message: string;
  changed: number;
  /** Up to RESULT_NAMES usernames of those changed. */
  usernames: string[];
  /** Users of the preview that were not changed, because something changed since (with the reason). */
  sinceThePreview: Skipped[];
  details: Record<string, number | string>;
}

function summary(r: ResolvedAction, n: number, details: Record<string, number | string>): string {
  const users = `${n.toLocaleString('en-US')} user${n === 1 ? '' : 's'}`;
  switch (r.action) {
    case 'deactivate':
      return `${users} deactivated and signed out everywhere.`;
    case 'reactivate':
      return `${users} reactivated.`;
    case 'assign_role':
      return `${users} now ${n === 1 ? 'has' : 'have'} the role ${r.role!.name}.`;
    case 'set_license':
      return `${users} now ${n === 1 ? 'holds' : 'hold'} the ${r.license!.name} license.`;
    case 'add_to_group':
      return `${users} added to ${r.group!.name}.`;
    case 'remove_from_group':
      return `${users} removed from ${r.group!.name}.`;
    case 'end_sessions': {
      const s = Number(details.sessionsEnded ?? 0);
      return `${users} signed out: ${s.toLocaleString('en-US')} session${s === 1 ? '' : 's'} ended.`;
    }
    case 'unlock':
      return `${users} unlocked.`;
    case 'remove': {
      const a = Number(details.assets ?? 0);
      const what = a === 0 ? '' : r.receiver ? ` Their ${a.toLocaleString('en-US')} asset${a === 1 ? ' now belongs' : 's now belong'} to ${r.receiver.username}.` : ` Their ${a.toLocaleString('en-US')} asset${a === 1 ? ' was' : 's were'} deleted.`;
      return `${users} removed.${what}`;
    }
  }
}

export type Progress = (done: number, total: number) => void;

/**
 * Applies the action to the users the preview said would change (`plannedIds`), in one transaction, and
 * records the job's result in the same transaction when `jobId` is given.
 */
export async function apply(db: Db, actor: Actor, raw: unknown, plannedIds: number[], options: { jobId?: string; onProgress?: Progress } = {}): Promise<BulkResult> {
  const ids = [...new Set(plannedIds)];
  if (ids.length > BULK_MAX_TARGETS) throw new ValidationError({ ids: `At most ${BULK_MAX_TARGETS.toLocaleString('en-US')} users at once: narrow the selection.` });
  return transaction(db, async (trx) => {
    const now = Date.now();
    const resolved = await resolveAction(trx, actor, raw);
    // Guards first, always in this order (superusers, then a license), before reading what they protect.
    if (mayLeaveSuperusers(resolved)) await guard(trx, 'superusers');
    if (resolved.license) await guard(trx, `license:${resolved.license.id}`);
    const plan = await evaluate(trx, actor, resolved, ids, now);
    const changeIds = plan.change.map((t) => t.id);
    const total = changeIds.length;
    let done = 0;
    const tick = (n: number) => {
      done += n;
      options.onProgress?.(done, total);
    };
    options.onProgress?.(0, total);
    const details: Record<string, number | string> = {};
    let before: unknown;
    if (total) {
      switch (resolved.action) {
        case 'deactivate':
          await bulkRepo.updateUsers(trx, changeIds, { status: 'deactivated' }, now);
          details.sessionsEnded = await bulkRepo.endSessions(trx, changeIds, tick);
          before = { status: 'active' };
          break;
        case 'reactivate':
          await bulkRepo.updateUsers(trx, changeIds, { status: 'active' }, now, tick);
          before = { status: 'deactivated' };
          break;
        case 'assign_role': {
          const from: Record<string, number> = {};
          for (const t of plan.change) from[t.roleName ?? '(none)'] = (from[t.roleName ?? '(none)'] ?? 0) + 1;
          before = { roles: from };
          await bulkRepo.updateUsers(trx, changeIds, { roleId: resolved.role!.id }, now, tick);
          // The role pages detect concurrent edits by version: every role that lost or gained users moved.
          const touched = new Set([resolved.role!.id, ...plan.change.map((t) => t.roleId).filter((r): r is number => r !== null)]);
          for (const roleId of touched) await roles.bumpVersion(trx, roleId);
          details.role = resolved.role!.name;
          break;
        }
        case 'set_license': {
          // The seat rule's own check, under its guard, for exactly the seats this change takes.
          await assertSeatAvailable(trx, resolved.license!.id, 'licenseTypeId', total);
          const all = await licenses.all(trx);
          const from: Record<string, number> = {};
          for (const t of plan.change) {
            const name = all.find((l) => l.id === t.licenseTypeId)?.name ?? '(none)';
            from[name] = (from[name] ?? 0) + 1;
          }
          before = { licenses: from };
          await bulkRepo.updateUsers(trx, changeIds, { licenseTypeId: resolved.license!.id }, now, tick);
          details.license = resolved.license!.name;
          break;
        }
        case 'add_to_group':
          await bulkRepo.addMemberships(trx, resolved.group!.id, changeIds, now, tick);
          await groups.bumpVersion(trx, resolved.group!.id);
          details.group = resolved.group!.name;
          break;
        case 'remove_from_group':
          await bulkRepo.removeMemberships(trx, resolved.group!.id, changeIds, tick);
          await groups.bumpVersion(trx, resolved.group!.id);
          details.group = resolved.group!.name;
          break;
        case 'end_sessions':
          details.sessionsEnded = await bulkRepo.endSessions(trx, changeIds, tick);
          break;
        case 'unlock':
          await bulkRepo.updateUsers(trx, changeIds, { unlock: true }, now, tick);
          break;
        case 'remove': {
          const removed = await bulkRepo.removeUsers(trx, changeIds, resolved.receiver ? { receiverId: resolved.receiver.id } : 'delete', now, tick);
          details.assets = removed.assets;
          details.assetDisposition = resolved.receiver ? 'transfer' : 'delete';
          if (resolved.receiver) details.transferredTo = resolved.receiver.username;
          break;
        }
      }
      // Decisions and API callers follow the change log: an entry per account (or one for very many).
      if (resolved.action === 'add_to_group' || resolved.action === 'remove_from_group') await recordMembershipChanges(trx, resolved.group!.id, changeIds);
      else if (resolved.action !== 'end_sessions') await recordChanges(trx, 'user', changeIds);
      // Ended sessions: every server drops its copies of them (src/sessions/cache.ts; a `user` entry does too).
      else await sessions.announceEnded(trx, changeIds);
      const usernames = plan.change.map((t) => t.username);
      await audit.record(trx, actor, {
        action: `user.bulk_${resolved.action}`,
        objectType: 'user',
        objectId: '',
        objectLabel: `${total.toLocaleString('en-US')} user${total === 1 ? '' : 's'}`,
        before,
        after: { count: total, users: usernames, ...details, ...(plan.skipped.length ? { skipped: plan.skipped.length } : {}) },
      });
    }
    const result: BulkResult = {
      action: resolved.action,
      message: total ? summary(resolved, total, details) : 'Nobody was changed.',
      changed: total,
      usernames: plan.change.slice(0, RESULT_NAMES).map((t) => t.username),
      sinceThePreview: plan.skipped.slice(0, RESULT_NAMES),
      details,
    };
    if (options.jobId) await bulkRepo.finishJob(trx, options.jobId, 'done', result, Date.now());
    return result;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Jobs: an action that takes more than a moment runs on while its page shows how far it got.

const progress = new Map<string, { done: number; total: number }>();
/** A job not finished after this long died with its server: its transaction was rolled back. */
export const JOB_TIMEOUT_MS = 15 * 60_000;
const JOB_KEEP_MS = 7 * 86400_000;

export interface StartedJob {
  id: string;
  /** Settles when the job has finished (its row says how). */
  finished: Promise<void>;
}

/**
 * Starts applying a bulk action. Problems with the action itself (a role that no longer exists, a group
 * the actor may not change) are thrown here, before anything starts.
 */
export async function startJob(db: Db, actor: Actor, raw: unknown, plannedIds: number[]): Promise<StartedJob> {
  const resolved = await resolveAction(db, actor, raw);
  const id = randomBytes(16).toString('hex');
  const now = Date.now();
  await bulkRepo.removeJobsBefore(db, now - JOB_KEEP_MS);
  await bulkRepo.insertJob(db, { id, actorId: actor.id, action: resolved.action, total: plannedIds.length, now });
  progress.set(id, { done: 0, total: plannedIds.length });
  const finished = apply(db, actor, raw, plannedIds, { jobId: id, onProgress: (done, total) => progress.set(id, { done, total }) })
    .then(() => undefined)
    .catch(async (e: unknown) => {
      const message = e instanceof ValidationError ? Object.values(e.fields).join(' ') || e.message : e instanceof Error && 'status' in e ? e.message : 'The action failed; nothing was changed.';
      await bulkRepo.finishJob(db, id, 'failed', { message }, Date.now()).catch(() => undefined);
    })
    .finally(() => progress.delete(id));
  return { id, finished };
}

export interface JobView {
  id: string;
  action: BulkActionKey;
  state: 'running' | 'done' | 'failed' | 'lost';
  total: number;
  done?: number;
  result?: BulkResult;
  message?: string;
  startedAt: number;
}

export async function jobView(db: Conn, id: string, actor: Actor): Promise<JobView | undefined> {
  if (!/^[0-9a-f]{32}$/.test(id)) return undefined;
  const job = await bulkRepo.findJob(db, id);
  if (!job || (job.actorId !== actor.id && !actor.isSuperuser)) return undefined;
  const base = { id, action: job.action as BulkActionKey, total: job.total, startedAt: job.createdAt };
  if (job.state === 'done') return { ...base, state: 'done', result: job.result as BulkResult };
  if (job.state === 'failed') return { ...base, state: 'failed', message: (job.result as { message?: string } | null)?.message };
  const p = progress.get(id);
  if (!p && Date.now() - job.createdAt > JOB_TIMEOUT_MS) return { ...base, state: 'lost' };
  return { ...base, state: 'running', done: p?.done, total: p?.total ?? job.total };
}
