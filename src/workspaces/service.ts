import Joi from 'joi';
import type { Db, Conn, Tx } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { HttpError, ValidationError, conflict, notFound } from '../http/errors';
import { recordChange } from '../changes/service';
import * as audit from '../audit/service';
import * as repo from './repo';
import type { Workspace } from './repo';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import { isForeignKeyViolation, isUniqueViolation } from '../db/errors';

export const NAME_MAX = 100;
/** A path is at most this long when typed into a picker or sent to the API. */
export const PATH_MAX = 2000;

/** A workspace name: trimmed, 1–100 characters, no slash (it separates path segments), no control characters. */
export const nameSchema = Joi.string()
  .trim()
  .min(1)
  .max(NAME_MAX)
  .pattern(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, { name: 'must not contain control characters' })
  .pattern(/^[^/]*$/, { name: 'must not contain "/" (it separates the levels of a path)' })
  .label('Name');

export const EXTERNAL_KEY_MAX = 200;

/**
 * An external key: the suite's own id for the object a workspace stands for (an AuthZEN resource id such
 * as `record-1`). Compared exactly (case matters); no blanks at either end, no control characters.
 */
export const externalKeySchema = Joi.string()
  .trim()
  .min(1)
  .max(EXTERNAL_KEY_MAX)
  .pattern(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, { name: 'must not contain control characters' })
  .label('External key');

/** An external key from a form or the API: empty or null clears it, undefined leaves it as it is. */
function validExternalKey(value: unknown): string | null | undefined {
  if (value === undefined) return undefined;
  if (value === null || (typeof value === 'string' && value.trim() === '')) return null;
  return validate<Record<string, string>>(Joi.object({ externalKey: externalKeySchema.required() }), { externalKey: value }).externalKey.normalize('NFC');
}

async function assertFreeExternalKey(db: Conn, externalKey: string | null | undefined, exceptId?: number): Promise<void> {
  if (!externalKey) return;
  const clash = await repo.findByExternalKey(db, externalKey);
  if (clash && clash.id !== exceptId) {
    throw new ValidationError({ externalKey: `${(await repo.pathOf(db, clash.id)) ?? 'Another workspace'} already has the external key "${externalKey}".` });
  }
}

/** What a picker (or an API caller) submits to name a workspace: its id, its path, or a unique name. */
export interface WorkspaceRef {
  id?: number;
  text?: string;
}

export type Resolution = { ok: true; workspace: Workspace; path: string } | { ok: false; message: string };

function samePath(a: string, b: string): boolean {
  const norm = (p: string) => '/' + p.split('/').map((s) => s.trim().toLowerCase()).filter(Boolean).join('/');
  return norm(a) === norm(b);
}

/**
 * Finds the workspace a person meant. A picker sends the id it chose and the text shown; the id wins when the
 * text still names it. Otherwise the text is read as a path (`/Root/Sales/EMEA`, or `Sales/EMEA` below the
 * root) or as a name that must be unique in the tree.
 */
export async function resolveRef(db: Conn, ref: WorkspaceRef, label = 'workspace'): Promise<Resolution> {
  const text = (ref.text ?? '').trim();
  if (ref.id !== undefined) {
    const byId = await repo.findById(db, ref.id);
    if (byId) {
      const path = (await repo.pathOf(db, byId.id))!;
      if (!text || samePath(text, path)) return { ok: true, workspace: byId, path };
    } else if (!text) {
      return { ok: false, message: `The chosen ${label} no longer exists.` };
    }
  }
  if (!text) return { ok: false, message: `Choose a ${label}.` };
  if (text.length > PATH_MAX) return { ok: false, message: `There is no ${label} with such a long path.` };
  if (text.includes('/')) {
    const segments = text.split('/').map((s) => s.trim()).filter(Boolean);
    const root = await repo.findRoot(db);
    if (!segments.length) return { ok: false, message: `Type a path such as /${root.name}/…` };
    // `/Root/Sales` is absolute; `Sales/EMEA` is read below the root unless it starts with the root's name.
    let i = segments[0].toLowerCase() === root.name.toLowerCase() ? 1 : 0;
    if (text.startsWith('/') && i === 0) return { ok: false, message: `There is no ${label} "${text}": paths start with /${root.name}.` };
    let current: Workspace = root;
    for (; i < segments.length; i++) {
      const next = await repo.findChildByName(db, current.id, segments[i]);
      if (!next) return { ok: false, message: `There is no ${label} "${text}".` };
      current = next;
    }
    return { ok: true, workspace: current, path: (await repo.pathOf(db, current.id))! };
  }
  const named = await repo.findByName(db, text, 4);
  if (!named.length) return { ok: false, message: `There is no ${label} named "${text}".` };
  if (named.length > 1) {
    const paths = await repo.pathsOf(db, named.slice(0, 3).map((w) => w.id));
    const examples = [...paths.values()].sort().join(', ');
    return { ok: false, message: `Several workspaces are named "${text}" (${examples}${named.length > 3 ? ', …' : ''}): type the full path.` };
  }
  return { ok: true, workspace: named[0], path: (await repo.pathOf(db, named[0].id))! };
}

/** Resolves a reference or throws a ValidationError on `field`. */
export async function requireRef(db: Conn, ref: WorkspaceRef, field: string, label = 'workspace'): Promise<{ workspace: Workspace; path: string }> {
  const r = await resolveRef(db, ref, label);
  if (!r.ok) throw new ValidationError({ [field]: r.message });
  return r;
}

function checkLowerLength(name: string, field: string): void {
  // Lower-casing can lengthen a name (İ → i̇); the case-insensitive key has the same limit.
  if ([...name.toLowerCase()].length > NAME_MAX) throw new ValidationError({ [field]: `Name must be at most ${NAME_MAX} characters.` });
}

async function assertFreeName(db: Conn, parentId: number, name: string, field: string, parentPath: string, exceptId?: number): Promise<void> {
  const clash = await repo.findChildByName(db, parentId, name);
  if (clash && clash.id !== exceptId) {
    throw new ValidationError({ [field]: `${parentPath} already has a sub-workspace named "${clash.name}" (names are compared without regard to case).` });
  }
}

/**
 * Creates, moves and renames serialise on the tree's guard: two concurrent moves could otherwise each pass
 * the cycle check and together make a loop (src/db/guards.ts).
 */
async function lockTree(trx: Tx): Promise<void> {
  await guard(trx, 'workspace_tree');
}

export interface CreateInput {
  name: unknown;
  parent: WorkspaceRef;
  externalKey?: unknown;
}

/** Validates a name as the field `field` (so the message is shown beside it). */
function validName(value: unknown, field: string): string {
  const name = validate<Record<string, string>>(Joi.object({ [field]: nameSchema.required() }), { [field]: value ?? '' })[field].normalize('NFC');
  checkLowerLength(name, field);
  return name;
}

export async function createWorkspace(db: Db, actor: Actor, input: CreateInput): Promise<{ workspace: Workspace; path: string }> {
  const name = validName(input.name, 'name');
  const externalKey = validExternalKey(input.externalKey) ?? null;
  try {
    return await transaction(db, async (trx) => {
      await lockTree(trx);
      await assertFreeExternalKey(trx, externalKey);
      const { workspace: parentRef } = await requireRef(trx, input.parent, 'parent', 'parent workspace');
      // Lock the parent so it cannot be deleted while the child is added.
      const parent = await repo.findForUpdate(trx, parentRef.id);
      if (!parent) throw new ValidationError({ parent: 'The parent workspace no longer exists.' });
      const parentPath = (await repo.pathOf(trx, parent.id))!;
      await assertFreeName(trx, parent.id, name, 'name', parentPath);
      const id = await repo.insert(trx, name, parent.id, Date.now(), externalKey);
      const created = (await repo.findById(trx, id))!;
      const path = `${parentPath}/${name}`;
      await recordChange(trx, { kind: 'workspace', id });
      await audit.record(trx, actor, { action: 'workspace.create', objectType: 'workspace', objectId: id, objectLabel: path, after: { name, path, parentId: parent.id, externalKey } });
      return { workspace: created, path };
    });
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    if (isUniqueViolation(e)) throw new ValidationError({ name: `A sub-workspace with this name already exists there.` });
    throw e;
  }
}

export interface UpdateInput {
  name?: unknown;
  parent?: WorkspaceRef;
  /** A new external key; null or empty clears it. */
  externalKey?: unknown;
  /** The version the editor saw; a different current version refuses the change. */
  version?: number;
}

const versionSchema = Joi.number().integer().min(1).max(2147483647).label('Version');

/**
 * Renames and/or moves a workspace in one transaction. Refuses cycles (into itself or below itself), moving
 * the root, a clashing name among the new siblings, and a stale version.
 */
export async function updateWorkspace(db: Db, actor: Actor, id: number, input: UpdateInput): Promise<{ workspace: Workspace; path: string }> {
  const name = input.name === undefined ? undefined : validName(input.name, 'name');
  const externalKey = validExternalKey(input.externalKey);
  const version = input.version === undefined ? undefined : validate<number>(versionSchema, input.version);
  try {
    return await transaction(db, async (trx) => {
      await lockTree(trx);
      const before = await repo.findForUpdate(trx, id);
      if (!before) throw notFound('Workspace');
      await assertFreeExternalKey(trx, externalKey, id);
      const beforePath = (await repo.pathOf(trx, id))!;
      if (input.parent !== undefined && before.parentId === null) throw new ValidationError({ parent: 'The root workspace cannot be moved.' });
      if (version !== undefined && version !== before.version) {
        throw conflict(`${beforePath} was changed by someone else after you opened this page. Its current values are shown; apply your change again if it still makes sense.`);
      }
      let parentId = before.parentId;
      let parentPath = beforePath.slice(0, beforePath.lastIndexOf('/')) || '';
      if (input.parent !== undefined) {
        if (before.parentId === null) throw new ValidationError({ parent: 'The root workspace cannot be moved.' });
        const { workspace: target, path: targetPath } = await requireRef(trx, input.parent, 'parent', 'workspace');
        if (target.id === id) throw new ValidationError({ parent: `${before.name} cannot be moved into itself.` });
        const chain = (await repo.chainsOf(trx, [target.id])).get(target.id) ?? [];
        if (chain.some((c) => c.id === id)) {
          throw new ValidationError({ parent: `${before.name} cannot be moved into ${targetPath}: that is one of its own sub-workspaces.` });
        }
        const locked = await repo.findForUpdate(trx, target.id);
        if (!locked) throw new ValidationError({ parent: 'The chosen workspace no longer exists.' });
        if (target.id !== before.parentId) {
          parentId = target.id;
          parentPath = targetPath;
        } else if (name === undefined || name === before.name) {
          throw new ValidationError({ parent: `${before.name} is already directly under ${targetPath}.` });
        }
      }
      const newName = name ?? before.name;
      if (parentId !== null && (newName.toLowerCase() !== before.name.toLowerCase() || parentId !== before.parentId)) {
        await assertFreeName(trx, parentId, newName, input.parent !== undefined && parentId !== before.parentId && name === undefined ? 'parent' : 'name', parentPath);
      } else if (parentId === null && newName.toLowerCase() !== before.name.toLowerCase()) {
        const other = await repo.findChildByName(trx, null, newName);
        if (other && other.id !== id) throw new ValidationError({ name: 'Another top-level workspace has this name.' });
      }
      const keyChanged = externalKey !== undefined && externalKey !== before.externalKey;
      if (newName === before.name && parentId === before.parentId && !keyChanged) {
        return { workspace: before, path: beforePath };
      }
      const ok = await repo.update(
        trx,
        id,
        { ...(newName !== before.name ? { name: newName } : {}), ...(parentId !== before.parentId ? { parentId: parentId! } : {}), ...(keyChanged ? { externalKey } : {}) },
        before.version,
      );
      if (!ok) throw conflict(`${beforePath} was changed by someone else while saving. Reload and try again.`);
      const after = (await repo.findById(trx, id))!;
      const afterPath = (await repo.pathOf(trx, id))!;
      await recordChange(trx, { kind: 'workspace', id });
      const moved = parentId !== before.parentId;
      const renamed = newName !== before.name;
      await audit.record(trx, actor, {
        action: moved && renamed ? 'workspace.update' : moved ? 'workspace.move' : renamed ? 'workspace.rename' : 'workspace.external_key',
        objectType: 'workspace',
        objectId: id,
        objectLabel: afterPath,
        before: { name: before.name, path: beforePath, parentId: before.parentId, externalKey: before.externalKey },
        after: { name: after.name, path: afterPath, parentId: after.parentId, externalKey: after.externalKey },
      });
      return { workspace: after, path: afterPath };
    });
  } catch (e) {
    if (e instanceof ValidationError) throw e;
    if (isUniqueViolation(e)) {
      throw new ValidationError({ [input.name !== undefined ? 'name' : 'parent']: 'A sub-workspace with this name already exists there.' });
    }
    throw e;
  }
}

export interface RemovalInfo {
  workspace: Workspace;
  path: string;
  children: number;
  assets: number;
  permissions: number;
  /** Why it cannot be deleted now, or null. */
  blocker: string | null;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

export async function removalInfo(db: Conn, id: number): Promise<RemovalInfo> {
  const workspace = await repo.findById(db, id);
  if (!workspace) throw notFound('Workspace');
  const path = (await repo.pathOf(db, id))!;
  const children = await repo.countChildren(db, id);
  const assets = await repo.countAssets(db, id);
  const permissions = await repo.countPermissionsOn(db, id);
  let blocker: string | null = null;
  if (workspace.parentId === null) blocker = 'The root workspace cannot be deleted.';
  else if (children || assets) {
    const what = [children ? plural(children, 'sub-workspace') : '', assets ? plural(assets, 'asset') : ''].filter(Boolean).join(' and ');
    blocker = `${path} cannot be deleted while it holds ${what}. Move or delete ${children + assets === 1 ? 'it' : 'them'} first.`;
  }
  return { workspace, path, children, assets, permissions, blocker };
}

/** Deletes an empty workspace with the domain permissions granted on it, in one transaction. */
export async function deleteWorkspace(db: Db, actor: Actor, id: number, input: { version?: number } = {}): Promise<{ path: string; parentId: number; permissionsRemoved: number }> {
  const version = input.version === undefined ? undefined : validate<number>(versionSchema, input.version);
  try {
    return await transaction(db, async (trx) => {
      await lockTree(trx);
      const locked = await repo.findForUpdate(trx, id);
      if (!locked) throw notFound('Workspace');
      const info = await removalInfo(trx, id);
      if (info.blocker) {
        throw new HttpError(409, info.workspace.parentId === null ? 'root_workspace' : 'not_empty', info.blocker, {}, { children: info.children, assets: info.assets });
      }
      if (version !== undefined && version !== locked.version) {
        throw conflict(`${info.path} was changed by someone else after you opened this page. Check it and delete again.`);
      }
      const permissions = await repo.permissionsOn(trx, id);
      const removed = await repo.removePermissionsOn(trx, id);
      await repo.remove(trx, id);
      await recordChange(trx, { kind: 'workspace', id });
      await audit.record(trx, actor, {
        action: 'workspace.delete',
        objectType: 'workspace',
        objectId: id,
        objectLabel: info.path,
        before: {
          name: locked.name,
          path: info.path,
          parentId: locked.parentId,
          permissionsRemoved: permissions.map((p) => ({ id: p.id, group: p.groupName, domain: p.domainName, effect: p.effect, priority: p.priority })),
        },
      });
      return { path: info.path, parentId: locked.parentId!, permissionsRemoved: removed };
    });
  } catch (e) {
    if (isForeignKeyViolation(e)) throw conflict('Something was added to this workspace while deleting it. Reload and try again.');
    throw e;
  }
}

// ------------------------------------------------------------------------------------------- the tree view

export interface RenderNode {
  id: number;
  name: string;
  childCount: number;
  /** Children rendered inline (undefined: loaded on demand). */
  children?: RenderNode[];
  /** Children not rendered after the inline ones. */
  more: number;
  open: boolean;
  depth: number;
}

/** Nodes rendered inline on the tree page at most (plus the path to the selected node); the rest load on demand. */
export const TREE_BUDGET = 300;
/** Children shown per level before "show more". */
export const CHILD_PAGE = 200;
/** Trees up to this size are shown fully open. */
export const SMALL_TREE = 60;

/**
 * The part of the tree the page shows: breadth-first from the root while the budget lasts, always with the
 * chain down to the selected workspace open. A closed branch beyond the budget loads when opened (htmx) or
 * by opening that workspace (without JavaScript), so the page stays small at 10,000 workspaces.
 */
export async function treeAround(db: Conn, selectedId: number): Promise<{ root: RenderNode; rendered: number; total: number }> {
  const rootRow = await repo.findRoot(db);
  const total = await repo.countAll(db);
  const chainList = ((await repo.chainsOf(db, [selectedId])).get(selectedId) ?? []).map((c) => c.id);
  const chain = new Set(chainList);
  // A small tree is shown fully open; a large one opens only the root and the way to the selected workspace.
  const openAll = total <= SMALL_TREE;
  const rootCount = (await repo.childCounts(db, [rootRow.id])).get(rootRow.id) ?? 0;
  const root: RenderNode = { id: rootRow.id, name: rootRow.name, childCount: rootCount, more: 0, open: true, depth: 0 };
  let budget = TREE_BUDGET;
  let rendered = 1;
  let frontier: RenderNode[] = [root];
  while (frontier.length) {
    const expand: RenderNode[] = [];
    for (const n of frontier) {
      if (!n.childCount) continue;
      const shown = Math.min(n.childCount, CHILD_PAGE);
      if (chain.has(n.id) || n.depth === 0 || shown <= budget) {
        expand.push(n);
        budget -= shown;
      }
    }
    if (!expand.length) break;
    const kids = await repo.firstChildrenOf(db, expand.map((n) => n.id), CHILD_PAGE);
    const next: RenderNode[] = [];
    for (const n of expand) {
      const list = kids.get(n.id) ?? [];
      n.children = list.map((k) => ({ id: k.id, name: k.name, childCount: k.childCount, more: 0, open: false, depth: n.depth + 1 }));
      n.more = n.childCount - list.length;
      // The way to the selected workspace continues below a child past the first page: show that child too.
      const at = chainList.indexOf(n.id);
      const wanted = at >= 0 ? chainList[at + 1] : undefined;
      if (wanted !== undefined && !n.children.some((c) => c.id === wanted)) {
        const row = await repo.findById(db, wanted);
        if (row && row.parentId === n.id) {
          const count = (await repo.childCounts(db, [row.id])).get(row.id) ?? 0;
          n.children.push({ id: row.id, name: row.name, childCount: count, more: 0, open: false, depth: n.depth + 1 });
          n.more -= 1;
        }
      }
      n.open = openAll || n.depth === 0 || (chain.has(n.id) && n.id !== selectedId) || (n.id === selectedId && n.childCount > 0);
      rendered += n.children.length;
      next.push(...n.children);
    }
    frontier = next;
  }
  return { root, rendered, total };
}
