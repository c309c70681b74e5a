/**
 * Machine clients: non-human callers of the API, managed by Superusers. A client acts with its owner's
 * permissions, narrowed by its scopes (src/clients/scopes.ts); each has its own tokens (shown once, stored as
 * SHA-256 like personal tokens) and an optional rate limit. Every change is audited in its transaction.
 */
import { randomBytes } from 'node:crypto';
import Joi from 'joi';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { collect, validate } from '../http/forms';
import { HttpError, ValidationError, notFound } from '../http/errors';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import { recordChange } from '../changes/service';
import { transaction } from '../db/transaction';
import { UNIQUE_KEYS } from '../db/errors';
import { hashToken } from '../tokens/service';
import * as repo from './repo';
import type { ClientRow, ClientStatus, MachineClient } from './repo';
import { SCOPES, type Scope } from './scopes';

/** Client tokens carry their own prefix, so a bearer token says which table to look in. */
export const CLIENT_TOKEN_PREFIX = 'ghc_';
export const MAX_RATE_LIMIT = 1_000_000;
export const NAME_TAKEN = UNIQUE_KEYS['machine_clients.name_lower'].message;

const noControl = { name: 'must not contain control characters' };

export const nameSchema = Joi.string()
  .trim()
  .min(1)
  .max(48)
  .pattern(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { name: 'may hold letters, digits, dots, dashes and underscores, starting with a letter or digit' })
  .label('Name');
export const descriptionSchema = Joi.string().trim().max(500).allow('').pattern(/^[^\p{Cc}]*$/u, noControl).label('Description');
export const scopesSchema = Joi.array()
  .items(Joi.string().valid(...SCOPES))
  .min(1)
  .unique()
  .label('Scopes')
  .messages({ 'array.min': 'Choose at least one scope.', 'any.only': 'Scopes are decisions, read, write and scim.', 'array.unique': 'Name each scope once.' });
export const rateLimitSchema = Joi.number().integer().min(1).max(MAX_RATE_LIMIT).allow(null).empty('').label('Rate limit');
export const ownerSchema = Joi.string().trim().min(1).max(64).label('Owner');

export interface ClientInput {
  name: string;
  description?: string;
  owner: string;
  scopes: Scope[];
  rateLimitPerMinute?: number | null;
}

const createSchema = Joi.object<ClientInput>({
  name: nameSchema.required(),
  description: descriptionSchema.default(''),
  owner: ownerSchema.required().messages({ 'any.required': 'Choose the owner.', 'string.empty': 'Choose the owner.' }),
  scopes: scopesSchema.required().messages({ 'any.required': 'Choose at least one scope.' }),
  rateLimitPerMinute: rateLimitSchema.default(null),
});

const updateSchema = Joi.object<Partial<ClientInput> & { status?: ClientStatus }>({
  name: nameSchema,
  description: descriptionSchema,
  owner: ownerSchema,
  scopes: scopesSchema,
  rateLimitPerMinute: rateLimitSchema,
  status: Joi.string().valid('active', 'disabled').label('Status'),
});

/** A form's checkboxes arrive as one value or a list; the API sends a list. */
export function scopesOf(raw: unknown): unknown {
  if (raw === undefined || Array.isArray(raw)) return raw;
  return raw === '' ? [] : [raw];
}

async function requireClient(db: Conn, id: number): Promise<MachineClient> {
  const c = await repo.findById(db, id);
  if (!c) throw notFound('Client');
  return c;
}

async function ownerOrProblem(db: Conn, username: string | undefined, fields: Record<string, string>) {
  if (username === undefined || fields.owner) return undefined;
  const u = await users.findByUsername(db, username);
  if (!u) fields.owner = `There is no user "${username}".`;
  return u;
}

/** What the audit trail keeps of a client. */
const auditView = (c: Pick<MachineClient, 'name' | 'description' | 'ownerUsername' | 'scopes' | 'rateLimitPerMinute' | 'status'>) => ({
  name: c.name,
  description: c.description,
  owner: c.ownerUsername,
  scopes: c.scopes,
  rateLimitPerMinute: c.rateLimitPerMinute,
  status: c.status,
});

export async function createClient(db: Db, actor: Actor, raw: Record<string, unknown>): Promise<MachineClient> {
  const { value: input, fields } = collect(createSchema, { ...raw, scopes: scopesOf(raw.scopes) });
  return transaction(db, async (trx) => {
    const owner = await ownerOrProblem(trx, input.owner, fields);
    if (!fields.name && input.name && (await repo.findByName(trx, input.name))) fields.name = NAME_TAKEN;
    if (Object.keys(fields).length || !owner) throw new ValidationError(fields);
    const row: ClientRow = {
      name: input.name,
      description: input.description ?? '',
      ownerId: owner.id,
      scopes: input.scopes,
      rateLimitPerMinute: input.rateLimitPerMinute ?? null,
      status: 'active',
    };
    const id = await repo.insert(trx, row);
    await recordChange(trx, { kind: 'client', id });
    const created = (await repo.findById(trx, id))!;
    await audit.record(trx, actor, { action: 'client.create', objectType: 'machine_client', objectId: id, objectLabel: created.name, after: auditView(created) });
    return created;
  });
}

/** Changes the fields given (status too: `disabled` refuses every token of the client until enabled again). */
export async function updateClient(db: Db, actor: Actor, id: number, raw: Record<string, unknown>): Promise<MachineClient> {
  const { value: input, fields } = collect(updateSchema, 'scopes' in raw ? { ...raw, scopes: scopesOf(raw.scopes) } : raw);
  return transaction(db, async (trx) => {
    const before = await requireClient(trx, id);
    const owner = await ownerOrProblem(trx, input.owner, fields);
    if (!fields.name && input.name && input.name.toLowerCase() !== before.name.toLowerCase() && (await repo.findByName(trx, input.name))) {
      fields.name = NAME_TAKEN;
    }
    if (Object.keys(fields).length) throw new ValidationError(fields);
    const change: Partial<ClientRow> = {
      name: input.name,
      description: input.description,
      ownerId: owner?.id,
      scopes: input.scopes,
      rateLimitPerMinute: input.rateLimitPerMinute,
      status: input.status,
    };
    for (const k of Object.keys(change) as Array<keyof ClientRow>) if (change[k] === undefined) delete change[k];
    await repo.update(trx, id, change);
    await recordChange(trx, { kind: 'client', id });
    const after = (await repo.findById(trx, id))!;
    const [b, a] = [auditView(before), auditView(after)];
    // Nothing differs: no audit event.
    if (JSON.stringify(b) === JSON.stringify(a)) return after;
    const action = b.status !== a.status && Object.keys(change).length === 1 ? (a.status === 'disabled' ? 'client.disable' : 'client.enable') : 'client.update';
    await audit.record(trx, actor, { action, objectType: 'machine_client', objectId: id, objectLabel: after.name, before: b, after: a });
    return after;
  });
}

export const setStatus = (db: Db, actor: Actor, id: number, status: ClientStatus) => updateClient(db, actor, id, { status });

export async function removeClient(db: Db, actor: Actor, id: number): Promise<MachineClient> {
  return transaction(db, async (trx) => {
    const client = await requireClient(trx, id);
    const tokens = await repo.tokensOf(trx, id);
    await repo.remove(trx, id);
    // Its tokens went with it (ON DELETE CASCADE).
    await recordChange(trx, { kind: 'client', id });
    await audit.record(trx, actor, {
      action: 'client.delete',
      objectType: 'machine_client',
      objectId: id,
      objectLabel: client.name,
      before: { ...auditView(client), tokens: tokens.length, liveTokens: tokens.filter((t) => !t.revokedAt).length },
    });
    return client;
  });
}

const tokenSchema = Joi.object<{ name: string; expiresInDays?: number }>({
  name: Joi.string().trim().min(1).max(100).pattern(/^[^\p{Cc}]*$/u, noControl).required().label('Name'),
  expiresInDays: Joi.number().integer().min(1).max(3650).empty('').label('Expires in (days)'),
});

export interface IssuedToken {
  id: number;
  name: string;
  /** The secret: returned once, never stored. */
  token: string;
  prefix: string;
  expiresAt: number | null;
}

/** Issues a token for the client: 32 random bytes, of which only the SHA-256 is stored. */
export async function issueToken(db: Db, actor: Actor, clientId: number, raw: Record<string, unknown>): Promise<IssuedToken> {
  const input = validate(tokenSchema, raw);
  const token = CLIENT_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const expiresAt = input.expiresInDays ? Date.now() + input.expiresInDays * 86400_000 : null;
  const prefix = token.slice(0, 12);
  return transaction(db, async (trx) => {
    const client = await requireClient(trx, clientId);
    const id = await repo.insertToken(trx, { clientId, name: input.name, hash: hashToken(token), prefix, expiresAt });
    await recordChange(trx, { kind: 'client_token', id });
    await audit.record(trx, actor, { action: 'client.token_create', objectType: 'machine_client', objectId: clientId, objectLabel: client.name, after: { token: id, name: input.name, prefix, expiresAt } });
    return { id, name: input.name, token, prefix, expiresAt };
  });
}

export async function revokeToken(db: Db, actor: Actor, clientId: number, tokenId: number): Promise<void> {
  await transaction(db, async (trx) => {
    const client = await requireClient(trx, clientId);
    const t = await repo.findToken(trx, clientId, tokenId);
    if (!t) throw notFound('Token');
    if (t.revokedAt) throw new HttpError(409, 'already_revoked', 'This token is already revoked.');
    await repo.revokeToken(trx, tokenId, Date.now());
    await recordChange(trx, { kind: 'client_token', id: tokenId });
    await audit.record(trx, actor, { action: 'client.token_revoke', objectType: 'machine_client', objectId: clientId, objectLabel: client.name, before: { token: tokenId, name: t.name, prefix: t.prefix } });
  });
}
