import type { Db, Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { ValidationError, conflict, notFound } from '../http/errors';
import { recordChange } from '../changes/service';
import * as audit from '../audit/service';
import { MAX_LEVEL, OPERATIONS, type Operation } from '../access/catalog';
import * as workspaces from '../workspaces/service';
import * as workspaceRepo from '../workspaces/repo';
import * as repo from './repo';
import type { DomainPermission, PermissionRow } from './repo';
import { transaction } from '../db/transaction';
import { policyFor } from '../users/policy';

/**
 * What a form or the API submits for a permission, before validation. Each field is checked here and every
 * problem is reported at once, beside its field; nothing is written unless all are right.
 */
export interface PermissionInput {
  effect: unknown;
  /** The form sends the domain's id; the API its name or key. */
  domain: { id?: unknown; name?: unknown };
  workspace: workspaces.WorkspaceRef;
  transitive: unknown;
  /** Letters R, M, C, D: an array (form checkboxes) or a string such as "RM" (API). */
  ops: unknown;
  /** Absent means 0. */
  level: unknown;
  priority: unknown;
}

export interface PermissionView {
  permission: DomainPermission;
  workspacePath: string;
}

/** A permission as JSON, the same shape the check API uses for its matches. */
export function permissionJson(p: DomainPermission, workspacePath: string) {
  return {
    id: p.id,
    group: p.groupName,
    effect: p.effect,
    domain: p.domainName,
    workspace: workspacePath,
    transitive: p.transitive,
    operations: opsString(p.ops),
    level: p.level,
    priority: p.priority,
  };
}

export function opsString(ops: Record<Operation, boolean>): string {
  return OPERATIONS.filter((o) => ops[o]).join('');
}

function asBool(v: unknown): boolean | undefined {
  if (v === true || v === 'true' || v === '1' || v === 1 || v === 'on') return true;
  if (v === false || v === 'false' || v === '0' || v === 0 || v === '' || v === undefined || v === null) return false;
  return undefined;
}

function letters(v: unknown): string[] | undefined {
  if (v === undefined || v === null || v === '') return [];
  if (typeof v === 'string') return v.length <= 8 ? [...v.toUpperCase()] : undefined;
  if (Array.isArray(v) && v.length <= 8 && v.every((x) => typeof x === 'string' && x.length === 1)) return (v as string[]).map((x) => x.toUpperCase());
  return undefined;
}

/** Validates every field, resolving the domain and workspace; throws one ValidationError with all messages. */
async function validateInput(db: Conn, input: PermissionInput, groupId: number): Promise<{ row: PermissionRow; domain: repo.Domain; workspacePath: string }> {
  const fields: Record<string, string> = {};
  const allDomains = await repo.domains(db);
  const levelDomains = allDomains.filter((d) => d.usesLevels).map((d) => d.name);

  const effect = input.effect === 'allow' || input.effect === 'deny' ? input.effect : undefined;
  if (!effect) fields.effect = 'Choose Allow or Deny.';

  let domain: repo.Domain | undefined;
  const { id: domainId, name: domainName } = input.domain;
  if (domainId !== undefined && domainId !== '') {
    domain = allDomains.find((d) => String(d.id) === String(domainId));
    if (!domain) fields.domain = 'Choose one of the offered domains.';
  } else if (typeof domainName === 'string' && domainName.trim()) {
    const n = domainName.trim().toLowerCase();
    domain = allDomains.find((d) => d.name.toLowerCase() === n || d.key === n);
    if (!domain) fields.domain = `There is no domain "${domainName.trim().slice(0, 100)}". Domains: ${allDomains.map((d) => d.name).join(', ')}.`;
  } else {
    fields.domain = 'Choose a domain.';
  }

  const ws = await workspaces.resolveRef(db, input.workspace, 'workspace');
  if (!ws.ok) fields.workspace = ws.message;

  const transitive = asBool(input.transitive);
  if (transitive === undefined) fields.transitive = 'Transitive must be true or false.';

  const ops = letters(input.ops);
  let opFlags: Record<Operation, boolean> | undefined;
  if (!ops || ops.some((o) => !(OPERATIONS as readonly string[]).includes(o)) || new Set(ops).size !== ops.length) {
    fields.ops = 'Operations are a selection of R (Read), M (Modify), C (Create) and D (Delete), each at most once.';
  } else if (!ops.length) {
    fields.ops = 'Tick at least one operation: R, M, C or D.';
  } else {
    opFlags = { R: ops.includes('R'), M: ops.includes('M'), C: ops.includes('C'), D: ops.includes('D') };
  }

  let level = 0;
  if (input.level !== undefined && input.level !== null && input.level !== '') {
    const n = typeof input.level === 'number' ? input.level : typeof input.level === 'string' && /^\s*\d{1,3}\s*$/.test(input.level) ? Number(input.level) : NaN;
    if (!Number.isInteger(n) || n < 0 || n > MAX_LEVEL) fields.level = `Level must be a whole number from 0 to ${MAX_LEVEL}.`;
    else level = n;
  }
  if (!fields.level && domain && !domain.usesLevels && level !== 0) {
    fields.level = `Levels apply only to ${levelDomains.join(', ') || 'domains with levels'}; for ${domain.name} leave the level at 0.`;
  }

  const priority = input.priority === 'high' || input.priority === 'low' ? input.priority : undefined;
  if (!priority) fields.priority = 'Choose High or Low priority.';

  if (Object.keys(fields).length) throw new ValidationError(fields);
  const resolved = ws as { ok: true; workspace: workspaceRepo.Workspace; path: string };
  return {
    row: { groupId, effect: effect!, domainId: domain!.id, workspaceId: resolved.workspace.id, transitive: transitive!, ops: opFlags!, level, priority: priority! },
    domain: domain!,
    workspacePath: resolved.path,
  };
}

function label(p: { effect: string; priority: string }, domainName: string, path: string): string {
  return `${p.priority === 'high' ? 'High' : 'Low'} ${p.effect === 'allow' ? 'Allow' : 'Deny'} ${domainName} on ${path}`;
}

async function assertNotOwnGroup(trx: Conn, actor: Actor, group: { id: number; name: string }): Promise<void> {
  const blocker = await policyFor(trx, actor).ownGroupBlocker(group);
  if (blocker) throw blocker;
}

async function lockTargets(trx: Conn, actor: Actor, groupId: number, workspaceId: number): Promise<repo.GroupRef> {
  const group = await repo.lockGroup(trx, groupId);
  if (!group) throw notFound('Group');
  await assertNotOwnGroup(trx, actor, group);
  // Lock the workspace so it cannot be deleted while a permission on it is written.
  if (!(await workspaceRepo.findForUpdate(trx, workspaceId))) throw new ValidationError({ workspace: 'The chosen workspace no longer exists.' });
  return group;
}

/** Would saving `row` change nothing (then no write, no new version, no audit event)? */
function samePermission(p: DomainPermission, row: PermissionRow): boolean {
  return (
    p.effect === row.effect &&
    p.domainId === row.domainId &&
    p.workspaceId === row.workspaceId &&
    p.transitive === row.transitive &&
    p.level === row.level &&
    p.priority === row.priority &&
    OPERATIONS.every((o) => p.ops[o] === row.ops[o])
  );
}

async function assertNotDuplicate(trx: Conn, row: PermissionRow, exceptId?: number): Promise<void> {
  const same = await repo.findIdentical(trx, row, exceptId);
  if (same !== undefined) throw new ValidationError({ rule: `This group already has exactly this permission (#${same}). Change an attribute or edit that one.` });
}

export async function createPermission(db: Db, actor: Actor, groupId: number, input: PermissionInput): Promise<PermissionView> {
  return transaction(db, async (trx) => {
    const { row, domain, workspacePath } = await validateInput(trx, input, groupId);
    const group = await lockTargets(trx, actor, groupId, row.workspaceId);
    await assertNotDuplicate(trx, row);
    const id = await repo.insert(trx, row);
    const created = (await repo.findById(trx, id))!;
    await recordChange(trx, { kind: 'rule', id });
    await audit.record(trx, actor, {
      action: 'permission.create',
      objectType: 'domain_permission',
      objectId: id,
      objectLabel: `${group.name}: ${label(row, domain.name, workspacePath)}`,
      after: permissionJson(created, workspacePath),
    });
    return { permission: created, workspacePath };
  });
}

export async function updatePermission(db: Db, actor: Actor, id: number, input: PermissionInput, version?: number): Promise<PermissionView> {
  return transaction(db, async (trx) => {
    const before = await repo.findForUpdate(trx, id);
    if (!before) throw notFound('Permission');
    const beforePath = (await workspaceRepo.pathOf(trx, before.workspaceId)) ?? `#${before.workspaceId}`;
    if (version !== undefined && version !== before.version) {
      throw conflict(`Permission #${id} was changed by someone else after you opened it. The form shows your input; the list shows the current values. Save again to apply yours.`);
    }
    const { row, domain, workspacePath } = await validateInput(trx, input, before.groupId);
    const group = await lockTargets(trx, actor, before.groupId, row.workspaceId);
    if (samePermission(before, row)) return { permission: before, workspacePath: beforePath };
    await assertNotDuplicate(trx, row, id);
    const ok = await repo.update(trx, id, row, before.version);
    if (!ok) throw conflict(`Permission #${id} was changed by someone else while saving. Reload and try again.`);
    const after = (await repo.findById(trx, id))!;
    await recordChange(trx, { kind: 'rule', id });
    await audit.record(trx, actor, {
      action: 'permission.update',
      objectType: 'domain_permission',
      objectId: id,
      objectLabel: `${group.name}: ${label(row, domain.name, workspacePath)}`,
      before: permissionJson(before, beforePath),
      after: permissionJson(after, workspacePath),
    });
    return { permission: after, workspacePath };
  });
}

export async function deletePermission(db: Db, actor: Actor, id: number): Promise<PermissionView> {
  return transaction(db, async (trx) => {
    const before = await repo.findForUpdate(trx, id);
    if (!before) throw notFound('Permission');
    await assertNotOwnGroup(trx, actor, { id: before.groupId, name: before.groupName });
    const path = (await workspaceRepo.pathOf(trx, before.workspaceId)) ?? `#${before.workspaceId}`;
    await repo.remove(trx, id);
    await recordChange(trx, { kind: 'rule', id });
    await audit.record(trx, actor, {
      action: 'permission.delete',
      objectType: 'domain_permission',
      objectId: id,
      objectLabel: `${before.groupName}: ${label(before, before.domainName, path)}`,
      before: permissionJson(before, path),
    });
    return { permission: before, workspacePath: path };
  });
}

/** A page of a group's permissions with their workspace paths. */
export async function listForGroup(db: Conn, groupId: number, limit: number, offset: number) {
  const { rows, total } = await repo.listForGroup(db, groupId, limit, offset);
  const paths = await workspaceRepo.pathsOf(db, rows.map((r) => r.workspaceId));
  return { rows: rows.map((permission) => ({ permission, workspacePath: paths.get(permission.workspaceId) ?? `#${permission.workspaceId}` })), total };
}

export async function findView(db: Conn, id: number): Promise<PermissionView | undefined> {
  const permission = await repo.findById(db, id);
  if (!permission) return undefined;
  return { permission, workspacePath: (await workspaceRepo.pathOf(db, permission.workspaceId)) ?? `#${permission.workspaceId}` };
}
