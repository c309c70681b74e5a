import Joi from 'joi';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { collect, fitsLowerCased, validate } from '../http/forms';
import { HttpError, ValidationError, conflict, notFound } from '../http/errors';
import { recordChange, recordMembershipChanges } from '../changes/service';
import * as audit from '../audit/service';
import * as repo from './repo';
import type { Group } from './repo';
import { transaction } from '../db/transaction';
import { isUniqueViolation } from '../db/errors';
import { policyFor } from '../users/policy';

/** The access engine rebuilds its cache when this counter moves (rules carry group names; removal drops rules). */
/** An audit event lists at most this many usernames per direction; the counts are always complete. */
export const AUDIT_NAME_CAP = 1000;
/** Moves accepted in one save (the dual list's "move all" cap is 20,000). */
export const MAX_MOVES = 20_000;

const NAME_RULE = /^[\p{L}\p{N}][\p{L}\p{N} ._&()'+,@#:-]*$/u;

export const groupNameSchema = Joi.string()
  .normalize('NFC')
  .trim()
  .replace(/\s+/g, ' ')
  .min(1)
  .max(100)
  .custom(fitsLowerCased(100))
  .pattern(NAME_RULE, { name: "may contain letters, digits, spaces and . _ - & ( ) ' + , @ # :, and must start with a letter or digit" })
  .label('Name');

export const descriptionSchema = Joi.string()
  .normalize('NFC')
  .trim()
  .max(500)
  .allow('')
  .pattern(/^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$/u, { name: 'must not contain control characters' })
  .default('')
  .label('Description');

const versionSchema = Joi.number().integer().min(1).max(2147483647).empty('').label('Version');

/** A provisioning directory's id for the group (SCIM externalId): kept exactly as sent; null clears it. */
const externalIdSchema = Joi.string().min(1).max(255).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).allow(null).label('External id');

const createSchema = Joi.object({
  name: groupNameSchema.required(),
  description: descriptionSchema,
  externalId: externalIdSchema,
});

const updateSchema = Joi.object({
  name: groupNameSchema.required(),
  description: descriptionSchema,
  version: versionSchema,
  /** The values the editor started from, for a field-by-field merge when someone saved meanwhile. */
  baseName: Joi.string().max(300).allow(''),
  baseDescription: Joi.string().max(2000).allow(''),
  /** Undefined: unchanged. */
  externalId: externalIdSchema,
});

/**
 * Checks a list of user ids by hand: Joi takes about 5 ms per 1,000 items, which a save of 20,000 moves
 * would feel. Accepts numbers or digit strings; the message names the field like the other validations.
 */
function idList(value: unknown, field: 'add' | 'remove', label: string): number[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ValidationError({ [field]: `${label} must be a list.` });
  if (value.length > MAX_MOVES) throw new ValidationError({ [field]: `${label} may hold at most ${MAX_MOVES} items.` });
  const out: number[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const v = value[i];
    const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 2147483647) throw new ValidationError({ [`${field}.${i}`]: `${label} must hold user ids.` });
    out[i] = n;
  }
  return out;
}

function validateMembers(raw: unknown): MembersInput {
  const input = (raw ?? {}) as Record<string, unknown>;
  const { version } = validate<{ version?: number }>(Joi.object({ version: versionSchema }), { version: input.version });
  return { add: idList(input.add, 'add', 'Users to add'), remove: idList(input.remove, 'remove', 'Users to remove'), version };
}

export interface DetailsInput {
  name: string;
  description: string;
  version?: number;
  baseName?: string;
  baseDescription?: string;
  externalId?: string | null;
}

export interface MembersInput {
  add: number[];
  remove: number[];
  /** The version the editor loaded; a different current version means someone saved meanwhile (the moves are merged). */
  version?: number;
}

export interface MembershipResult {
  /** Usernames added / removed (at most AUDIT_NAME_CAP of each). */
  added: string[];
  removed: string[];
  addedCount: number;
  removedCount: number;
  /** Moves that were already in effect (someone else made the same change), and users who no longer exist. */
  alreadyMembers: number;
  alreadyRemoved: number;
  missingUsers: number;
  /** Someone saved the group after the editor loaded it; the moves were applied to the current members. */
  merged: boolean;
  memberCount: number;
  version: number;
}

export interface DetailsResult {
  changed: boolean;
  /** Someone saved the group meanwhile and the fields were merged (their changes kept where this editor did not touch them). */
  merged: boolean;
}

/** The message for a group name that is taken. */
export const nameTakenMessage = (name: string) => `A group named "${name}" already exists (names are compared without regard to case).`;

function groupAuditView(g: Pick<Group, 'name' | 'description'> & { externalId?: string | null }) {
  return { name: g.name, description: g.description, ...(g.externalId ? { externalId: g.externalId } : {}) };
}

const externalIdTakenMessage = 'Another group already has this external id.';

async function requireGroup(db: Conn, id: number, lock = false): Promise<Group> {
  const g = lock ? await repo.lockById(db, id) : await repo.findById(db, id);
  if (!g) throw notFound('Group');
  return g;
}

// ----------------------------------------------------------------------------------------- create / edit

export async function createGroup(db: Conn, actor: Actor, raw: unknown): Promise<Group> {
  const { value: input, fields } = collect<{ name: string; description: string; externalId?: string | null }>(createSchema, raw);
  // A taken name is reported together with the other fields' problems.
  if (!fields.name && (await repo.nameTaken(db, input.name))) fields.name = nameTakenMessage(input.name);
  if (!fields.externalId && input.externalId && (await repo.externalIdTaken(db, input.externalId))) fields.externalId = externalIdTakenMessage;
  if (Object.keys(fields).length) throw new ValidationError(fields);
  try {
    return await transaction(db, async (trx) => {
      if (await repo.nameTaken(trx, input.name)) throw new ValidationError({ name: nameTakenMessage(input.name) });
      const id = await repo.insert(trx, input);
      const created = (await repo.findById(trx, id))!;
      await audit.record(trx, actor, { action: 'group.create', objectType: 'group', objectId: id, objectLabel: created.name, after: groupAuditView(created) });
      return created;
    });
  } catch (e) {
    if (isUniqueViolation(e)) throw e instanceof ValidationError ? e : new ValidationError({ name: nameTakenMessage(input.name) });
    throw e;
  }
}

/**
 * Field-by-field three-way merge of name/description: a field this editor left as it found it keeps the
 * current value (another administrator's change survives); a field both changed differently is a conflict.
 */
function mergeDetails(current: Group, input: DetailsInput): { name: string; description: string; merged: boolean } {
  if (input.version === undefined || input.version === current.version) return { name: input.name, description: input.description, merged: false };
  if (input.baseName === undefined || input.baseDescription === undefined) {
    throw conflict(`Group "${current.name}" was changed by someone else after you loaded it (version ${input.version}, now ${current.version}). Load it again and repeat your change.`);
  }
  const norm = (s: string) => s.normalize('NFC').trim().replace(/\s+/g, ' ');
  const pick = (field: 'name' | 'description', base: string, mine: string, theirs: string, label: string, clashes: Record<string, string>) => {
    if (norm(mine) === norm(base)) return theirs;
    if (norm(theirs) === norm(base) || theirs === mine) return mine;
    clashes[field] = `Someone else changed the ${label} to "${theirs}" while you were editing. Keep yours by saving again, or take theirs.`;
    return mine;
  };
  const clashes: Record<string, string> = {};
  const name = pick('name', input.baseName, input.name, current.name, 'name', clashes);
  const description = pick('description', input.baseDescription, input.description, current.description, 'description', clashes);
  if (Object.keys(clashes).length) {
    throw conflict('This group was changed by someone else while you were editing it, in the same fields as you. Nothing was saved; check the fields marked below.', clashes);
  }
  return { name, description, merged: true };
}

async function applyDetails(trx: Conn, actor: Actor, before: Group, input: DetailsInput): Promise<DetailsResult> {
  const merged = mergeDetails(before, input);
  const externalId = input.externalId !== undefined && input.externalId !== before.externalId ? input.externalId : undefined;
  if (merged.name === before.name && merged.description === before.description && externalId === undefined) return { changed: false, merged: merged.merged };
  if (merged.name !== before.name && (await repo.nameTaken(trx, merged.name, before.id))) {
    throw new ValidationError({ name: nameTakenMessage(merged.name) });
  }
  if (externalId && (await repo.externalIdTaken(trx, externalId, before.id))) throw new ValidationError({ externalId: externalIdTakenMessage });
  await repo.update(trx, before.id, { name: merged.name, description: merged.description, externalId });
  // Rules in the decision state carry the group's name for their explanations.
  if (merged.name !== before.name) await recordChange(trx, { kind: 'group', id: before.id });
  await audit.record(trx, actor, {
    action: 'group.update',
    objectType: 'group',
    objectId: before.id,
    objectLabel: merged.name,
    before: groupAuditView(before),
    after: groupAuditView({ name: merged.name, description: merged.description, externalId: externalId === undefined ? before.externalId : externalId }),
  });
  return { changed: true, merged: merged.merged };
}

function capped(names: string[]): string[] {
  return names.slice(0, AUDIT_NAME_CAP);
}

/**
 * Memberships decide what people may do, so changing them follows the who-may-change-whom rule for every
 * user moved (nobody moves themself) and, for a group that carries domain permissions, needs both
 * administration permissions. The whole save is refused, naming whom it concerns.
 */
async function assertMayChangeMembers(trx: Conn, actor: Actor, group: Group, moved: repo.Classified[]): Promise<void> {
  const policy = policyFor(trx, actor);
  const [counted] = await repo.permissionCounts(trx, [group.id]);
  const groupBlocker = await policy.membershipBlocker({ name: group.name, permissionCount: counted?.permissionCount ?? 0 });
  if (groupBlocker) throw new ValidationError({ members: groupBlocker.message }, groupBlocker.message, 403);
  const blocked = await policy.blockers(moved);
  if (!blocked.size) return;
  const names = moved.filter((m) => blocked.has(m.id)).map((m) => m.username);
  const first = blocked.values().next().value!;
  const shown = names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
  const message = `Nothing was saved: you may not change the groups of ${shown}. ${first.message}`;
  throw new ValidationError({ members: message }, message, 403);
}

/**
 * Applies pending moves as set operations on the members as they are now (insert the missing, delete the
 * present), so a save made on a stale page never undoes someone else's save: both sets of moves hold.
 */
async function applyMembers(trx: Conn, actor: Actor, group: Group, input: MembersInput): Promise<MembershipResult> {
  const add = [...new Set(input.add)];
  const addSet = new Set(add);
  const remove = [...new Set(input.remove)].filter((id) => !addSet.has(id));
  const merged = input.version !== undefined && input.version !== group.version;
  const known = await repo.classifyUsers(trx, group.id, [...add, ...remove]);
  const byId = new Map(known.map((k) => [k.id, k]));
  const toAdd: repo.Classified[] = [];
  const toRemove: repo.Classified[] = [];
  let alreadyMembers = 0;
  let alreadyRemoved = 0;
  let missingUsers = 0;
  for (const id of add) {
    const k = byId.get(id);
    if (!k) missingUsers++;
    else if (k.member) alreadyMembers++;
    else toAdd.push(k);
  }
  for (const id of remove) {
    const k = byId.get(id);
    if (!k) missingUsers++;
    else if (!k.member) alreadyRemoved++;
    else toRemove.push(k);
  }
  const byName = (a: repo.Classified, b: repo.Classified) => (a.username.toLowerCase() < b.username.toLowerCase() ? -1 : 1);
  toAdd.sort(byName);
  toRemove.sort(byName);
  if (toAdd.length || toRemove.length) await assertMayChangeMembers(trx, actor, group, [...toAdd, ...toRemove]);
  const countBefore = await repo.memberCount(trx, group.id);
  let version = group.version;
  if (toAdd.length || toRemove.length) {
    await repo.insertMembers(trx, group.id, toAdd.map((k) => k.id));
    await repo.deleteMembers(trx, group.id, toRemove.map((k) => k.id));
    await recordMembershipChanges(trx, group.id, [...toAdd, ...toRemove].map((k) => k.id));
    await repo.bumpVersion(trx, group.id);
    version = group.version + 1;
    const countAfter = countBefore + toAdd.length - toRemove.length;
    await audit.record(trx, actor, {
      action: 'group.members',
      objectType: 'group',
      objectId: group.id,
      objectLabel: group.name,
      before: { memberCount: countBefore },
      after: {
        memberCount: countAfter,
        addedCount: toAdd.length,
        removedCount: toRemove.length,
        added: capped(toAdd.map((k) => k.username)),
        removed: capped(toRemove.map((k) => k.username)),
        ...(toAdd.length > AUDIT_NAME_CAP || toRemove.length > AUDIT_NAME_CAP ? { note: `Usernames are listed up to ${AUDIT_NAME_CAP} per direction; the counts are complete.` } : {}),
        ...(merged ? { mergedWithConcurrentChange: true } : {}),
      },
    });
  }
  return {
    added: capped(toAdd.map((k) => k.username)),
    removed: capped(toRemove.map((k) => k.username)),
    addedCount: toAdd.length,
    removedCount: toRemove.length,
    alreadyMembers,
    alreadyRemoved,
    missingUsers,
    merged,
    memberCount: countBefore + toAdd.length - toRemove.length,
    version,
  };
}

/** Saves name/description and membership moves together, in one transaction (the group page's Save). */
export async function saveGroup(
  db: Conn,
  actor: Actor,
  id: number,
  raw: { details?: unknown; members?: unknown },
): Promise<{ group: Group; details?: DetailsResult; members?: MembershipResult }> {
  const details = raw.details === undefined ? undefined : validate<DetailsInput>(updateSchema, raw.details);
  const members = raw.members === undefined ? undefined : validateMembers(raw.members);
  return transaction(db, async (trx) => {
    const before = await requireGroup(trx, id, true);
    const d = details ? await applyDetails(trx, actor, before, details) : undefined;
    // The membership merge judges staleness by the version the editor loaded, before this save's own bump.
    const m = members ? await applyMembers(trx, actor, { ...before, name: (await repo.findById(trx, id))!.name }, members) : undefined;
    const group = (await repo.findById(trx, id))!;
    if (m) m.version = group.version;
    return { group, details: d, members: m };
  });
}

export async function updateDetails(db: Conn, actor: Actor, id: number, raw: unknown): Promise<{ group: Group; details: DetailsResult }> {
  const r = await saveGroup(db, actor, id, { details: raw });
  return { group: r.group, details: r.details! };
}

export async function saveMembers(db: Conn, actor: Actor, id: number, raw: unknown): Promise<MembershipResult> {
  return (await saveGroup(db, actor, id, { members: raw })).members!;
}

/** "+ Add member": adds one user at once. */
export async function addMember(db: Db, actor: Actor, groupId: number, userId: number): Promise<{ username: string; added: boolean; result: MembershipResult }> {
  return transaction(db, async (trx) => {
    const group = await requireGroup(trx, groupId, true);
    const [user] = await repo.classifyUsers(trx, groupId, [userId]);
    if (!user) throw new ValidationError({ user: 'That user no longer exists.' });
    const result = await applyMembers(trx, actor, group, { add: [userId], remove: [] });
    return { username: user.username, added: result.addedCount === 1, result };
  });
}

// ------------------------------------------------------------------------------------------------ remove

export async function deleteGroup(db: Conn, actor: Actor, id: number): Promise<{ name: string; impact: repo.RemovalImpact }> {
  return transaction(db, async (trx) => {
    const group = await requireGroup(trx, id, true);
    const impact = await repo.removalImpact(trx, id);
    if (impact.permissions) {
      // Its domain permissions go with it, changing what its members may do (a removed Deny raises them).
      const policy = policyFor(trx, actor);
      const blocker = (await policy.membershipBlocker({ name: group.name, permissionCount: impact.permissions })) ?? (await policy.ownGroupBlocker(group));
      if (blocker) throw blocker;
    }
    await repo.remove(trx, id);
    // Its domain permissions and memberships went with it (ON DELETE CASCADE).
    await recordChange(trx, { kind: 'group', id });
    await audit.record(trx, actor, {
      action: 'group.delete',
      objectType: 'group',
      objectId: id,
      objectLabel: group.name,
      before: { ...groupAuditView(group), memberCount: impact.memberships },
      after: { removedMemberships: impact.memberships, removedDomainPermissions: impact.permissions, removedAssetShares: impact.shares, removedRelations: impact.relations },
    });
    return { name: group.name, impact };
  });
}

// --------------------------------------------------------------------------------------------- relations

export const relationSchema = Joi.object({
  requester: Joi.string().trim().max(100).required().label('Requester group').messages({ 'string.empty': 'Choose the requester group.', 'any.required': 'Choose the requester group.' }),
  approver: Joi.string().trim().max(100).required().label('Approver group').messages({ 'string.empty': 'Choose the approver group.', 'any.required': 'Choose the approver group.' }),
});

/** Resolves both group names; a message beside each field that names no group. */
async function resolvePair(db: Conn, input: { requester: string; approver: string }): Promise<{ requester: Group; approver: Group }> {
  const requester = await repo.findByName(db, input.requester);
  const approver = await repo.findByName(db, input.approver);
  const fields: Record<string, string> = {};
  if (!requester) fields.requester = `There is no group named "${input.requester}".`;
  if (!approver) fields.approver = `There is no group named "${input.approver}".`;
  if (Object.keys(fields).length) throw new ValidationError(fields);
  return { requester: requester!, approver: approver! };
}

export async function addRelation(db: Db, actor: Actor, raw: unknown): Promise<{ requester: Group; approver: Group }> {
  const input = validate<{ requester: string; approver: string }>(relationSchema, raw);
  const duplicate = (r: Group, a: Group) => new ValidationError({ approver: `"${a.name}" already approves for "${r.name}".` });
  let pair: { requester: Group; approver: Group } | undefined;
  try {
    return await transaction(db, async (trx) => {
      pair = await resolvePair(trx, input);
      const { requester, approver } = pair;
      if (requester.id === approver.id) throw new ValidationError({ approver: 'A group cannot approve its own requests: choose a different approver group.' });
      if (await repo.relationExists(trx, requester.id, approver.id)) throw duplicate(requester, approver);
      await repo.insertRelation(trx, requester.id, approver.id);
      await audit.record(trx, actor, {
        action: 'group_relation.create',
        objectType: 'group_relation',
        objectId: `${requester.id}:${approver.id}`,
        objectLabel: `${requester.name} → ${approver.name}`,
        after: { requester: requester.name, approver: approver.name },
      });
      return pair;
    });
  } catch (e) {
    if (isUniqueViolation(e) && pair) throw duplicate(pair.requester, pair.approver);
    throw e;
  }
}

export async function removeRelation(db: Db, actor: Actor, requesterId: number, approverId: number): Promise<{ requester: Group; approver: Group }> {
  return transaction(db, async (trx) => {
    const requester = await repo.findById(trx, requesterId);
    const approver = await repo.findById(trx, approverId);
    if (!requester || !approver || !(await repo.relationExists(trx, requesterId, approverId))) throw notFound('Relation');
    await repo.deleteRelation(trx, requesterId, approverId);
    await audit.record(trx, actor, {
      action: 'group_relation.delete',
      objectType: 'group_relation',
      objectId: `${requesterId}:${approverId}`,
      objectLabel: `${requester.name} → ${approver.name}`,
      before: { requester: requester.name, approver: approver.name },
    });
    return { requester, approver };
  });
}

export async function removeRelationByNames(db: Db, actor: Actor, raw: unknown): Promise<{ requester: Group; approver: Group }> {
  const input = validate<{ requester: string; approver: string }>(relationSchema, raw);
  const { requester, approver } = await resolvePair(db, input);
  if (!(await repo.relationExists(db, requester.id, approver.id))) {
    throw notFound('Relation', `"${approver.name}" does not approve for "${requester.name}".`);
  }
  return removeRelation(db, actor, requester.id, approver.id);
}

export interface ApproverSummary {
  /** False when the user publishes without approval. */
  needsApproval: boolean;
  /** The requester groups the user is in, each with its approver groups. */
  requesterGroups: Array<{ id: number; name: string; approvers: Array<{ id: number; name: string }> }>;
  /** The distinct approver groups, with their member counts and the requester groups they approve for. */
  approvers: Array<{ id: number; name: string; memberCount: number; via: string[]; userIsMember: boolean }>;
}

/**
 * Who must approve a model this user publishes: a member of an approver group related to any requester
 * group the user is in. A user in no requester group (or whose groups have no approver) needs nobody.
 */
export async function approversFor(db: Conn, userId: number): Promise<ApproverSummary> {
  const paths = await repo.approverPathsForUser(db, userId);
  const requesters = new Map<number, { id: number; name: string; approvers: Array<{ id: number; name: string }> }>();
  const approvers = new Map<number, { id: number; name: string; memberCount: number; via: string[]; userIsMember: boolean }>();
  for (const p of paths) {
    if (!requesters.has(p.requesterId)) requesters.set(p.requesterId, { id: p.requesterId, name: p.requesterName, approvers: [] });
    requesters.get(p.requesterId)!.approvers.push({ id: p.approverId, name: p.approverName });
    if (!approvers.has(p.approverId)) approvers.set(p.approverId, { id: p.approverId, name: p.approverName, memberCount: p.approverMemberCount, via: [], userIsMember: false });
    approvers.get(p.approverId)!.via.push(p.requesterName);
  }
  const own = await repo.memberOfAny(db, userId, [...approvers.keys()]);
  for (const a of approvers.values()) a.userIsMember = own.has(a.id);
  const requesterGroups = [...requesters.values()].sort((a, b) => a.name.toLowerCase().localeCompare(b.name.toLowerCase()));
  return { needsApproval: approvers.size > 0, requesterGroups, approvers: [...approvers.values()] };
}
