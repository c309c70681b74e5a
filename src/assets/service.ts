import Joi from 'joi';
import type { Db, Conn } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { ValidationError, notFound } from '../http/errors';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import * as groups from '../groups/repo';
import { resolveRef, type WorkspaceRef } from '../workspaces/service';
import * as repo from './repo';
import { ASSET_KINDS, SHARE_ACCESS, type Asset, type AssetKind, type ShareAccess } from './repo';
import { transaction } from '../db/transaction';

export const nameSchema = Joi.string().trim().min(1).max(200).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).label('Name');

async function requireAsset(db: Conn, id: number): Promise<Asset> {
  const a = await repo.findById(db, id);
  if (!a) throw notFound('Asset');
  return a;
}

async function workspaceOrError(db: Conn, ref: WorkspaceRef, field: string): Promise<{ id: number; path: string }> {
  const r = await resolveRef(db, ref);
  if (!r.ok) throw new ValidationError({ [field]: r.message });
  return { id: r.workspace.id, path: r.path };
}

async function userOrError(db: Conn, username: string, field: string) {
  if (!username.trim()) throw new ValidationError({ [field]: 'Choose a user.' });
  const u = await users.findByUsername(db, username.trim());
  if (!u) throw new ValidationError({ [field]: `There is no user "${username.trim()}".` });
  return u;
}

async function groupOrError(db: Conn, name: string, field: string) {
  if (!name.trim()) throw new ValidationError({ [field]: 'Choose a group.' });
  const g = await groups.findByName(db, name.trim());
  if (!g) throw new ValidationError({ [field]: `There is no group "${name.trim()}".` });
  return g;
}

export interface RegisterInput {
  kind: AssetKind;
  name: string;
  owner: string;
  workspace: WorkspaceRef;
}

const registerSchema = Joi.object({
  kind: Joi.string().valid(...ASSET_KINDS).required().label('Kind'),
  name: nameSchema.required(),
  owner: Joi.string().trim().max(64).allow('').default('').label('Owner'),
});

/** Registers an asset (a folder, log, model or dashboard) in a workspace, owned by a user. */
export async function register(db: Db, actor: Actor, raw: Record<string, unknown>, workspace: WorkspaceRef): Promise<Asset> {
  let input: { kind: AssetKind; name: string; owner: string };
  const fields: Record<string, string> = {};
  try {
    input = validate(registerSchema, raw);
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    // Report the owner and workspace problems in the same round trip as the other fields.
    Object.assign(fields, e.fields);
    input = { kind: 'model', name: '', owner: typeof raw.owner === 'string' ? raw.owner.trim().slice(0, 64) : '' };
  }
  return transaction(db, async (trx) => {
    const ws = await resolveRef(trx, workspace);
    if (!ws.ok) fields.workspace = ws.message;
    const owner = input.owner ? await users.findByUsername(trx, input.owner) : undefined;
    if (!fields.owner && !owner) fields.owner = input.owner ? `There is no user "${input.owner}".` : 'Choose the owner.';
    if (Object.keys(fields).length || !ws.ok || !owner) throw new ValidationError(fields);
    const id = await repo.insert(trx, { kind: input.kind, name: input.name, workspaceId: ws.workspace.id, ownerId: owner.id });
    await audit.record(trx, actor, {
      action: 'asset.create',
      objectType: 'asset',
      objectId: id,
      objectLabel: input.name,
      after: { kind: input.kind, name: input.name, workspace: ws.path, owner: owner.username },
    });
    return (await repo.findById(trx, id))!;
  });
}

/** Renames an asset and/or moves it to another workspace. */
export async function update(db: Db, actor: Actor, id: number, raw: Record<string, unknown>, workspace?: WorkspaceRef): Promise<Asset> {
  const input = validate<{ name?: string }>(Joi.object({ name: nameSchema }), raw);
  return transaction(db, async (trx) => {
    const before = await requireAsset(trx, id);
    const target = workspace ? await workspaceOrError(trx, workspace, 'workspace') : undefined;
    // Nothing differs: no write, no audit event.
    if ((input.name === undefined || input.name === before.name) && (!target || target.id === before.workspaceId)) return before;
    await repo.update(trx, id, { name: input.name, workspaceId: target?.id });
    const after = (await repo.findById(trx, id))!;
    await audit.record(trx, actor, {
      action: 'asset.update',
      objectType: 'asset',
      objectId: id,
      objectLabel: after.name,
      before: { name: before.name, workspaceId: before.workspaceId },
      after: { name: after.name, workspaceId: after.workspaceId, ...(target ? { workspace: target.path } : {}) },
    });
    return after;
  });
}

export async function transfer(db: Db, actor: Actor, id: number, toUsername: string): Promise<Asset> {
  return transaction(db, async (trx) => {
    const before = await requireAsset(trx, id);
    const to = await userOrError(trx, toUsername, 'owner');
    if (to.id === before.ownerId) throw new ValidationError({ owner: `${to.username} already owns this asset.` });
    await repo.update(trx, id, { ownerId: to.id });
    await audit.record(trx, actor, {
      action: 'asset.transfer',
      objectType: 'asset',
      objectId: id,
      objectLabel: before.name,
      before: { owner: before.ownerUsername },
      after: { owner: to.username },
    });
    return (await repo.findById(trx, id))!;
  });
}

export async function share(db: Db, actor: Actor, id: number, groupName: string, access: string): Promise<void> {
  if (!SHARE_ACCESS.includes(access as ShareAccess)) throw new ValidationError({ access: 'Choose viewer, editor or owner.' });
  await transaction(db, async (trx) => {
    const asset = await requireAsset(trx, id);
    const group = await groupOrError(trx, groupName, 'group');
    const previous = await repo.setShare(trx, id, group.id, access as ShareAccess);
    await audit.record(trx, actor, {
      action: 'asset.share',
      objectType: 'asset',
      objectId: id,
      objectLabel: asset.name,
      before: previous ? { group: group.name, access: previous } : undefined,
      after: { group: group.name, access },
    });
  });
}

export async function unshare(db: Db, actor: Actor, id: number, groupId: number): Promise<void> {
  await transaction(db, async (trx) => {
    const asset = await requireAsset(trx, id);
    const group = await groups.findById(trx, groupId);
    if (!group || !(await repo.removeShare(trx, id, groupId))) throw notFound('Share');
    await audit.record(trx, actor, { action: 'asset.unshare', objectType: 'asset', objectId: id, objectLabel: asset.name, before: { group: group.name } });
  });
}

export async function remove(db: Db, actor: Actor, id: number): Promise<Asset> {
  return transaction(db, async (trx) => {
    const asset = await requireAsset(trx, id);
    const shares = await repo.sharesOf(trx, id);
    await repo.remove(trx, id);
    await audit.record(trx, actor, {
      action: 'asset.delete',
      objectType: 'asset',
      objectId: id,
      objectLabel: asset.name,
      before: { kind: asset.kind, name: asset.name, owner: asset.ownerUsername, workspaceId: asset.workspaceId, shares },
    });
    return asset;
  });
}
