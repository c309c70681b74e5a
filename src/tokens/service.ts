import { createHash, randomBytes } from 'node:crypto';
import Joi from 'joi';
import type { Db } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { HttpError, notFound } from '../http/errors';
import * as audit from '../audit/service';
import * as repo from './repo';
import { recordChange } from '../changes/service';
import { transaction } from '../db/transaction';

export const TOKEN_PREFIX = 'gh_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const createSchema = Joi.object({
  name: Joi.string().trim().min(1).max(100).pattern(/^[^\p{Cc}]*$/u, { name: 'must not contain control characters' }).required().label('Name'),
  expiresInDays: Joi.number().integer().min(1).max(3650).empty('').label('Expires in (days)'),
});

/**
 * Creates a personal API token. The token is returned once and only its SHA-256 is stored: a token is
 * 32 random bytes, so a fast hash is enough (no dictionary to guess from).
 */
export async function createToken(db: Db, actor: Actor, userId: number, raw: unknown): Promise<{ token: string; id: number; name: string }> {
  const input = validate<{ name: string; expiresInDays?: number }>(createSchema, raw);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const expiresAt = input.expiresInDays ? Date.now() + input.expiresInDays * 86400_000 : null;
  return transaction(db, async (trx) => {
    const id = await repo.insert(trx, { userId, name: input.name, hash: hashToken(token), prefix: token.slice(0, 10), expiresAt });
    await recordChange(trx, { kind: 'token', id });
    await audit.record(trx, actor, { action: 'token.create', objectType: 'api_token', objectId: id, objectLabel: input.name, after: { userId, name: input.name, expiresAt } });
    return { token, id, name: input.name };
  });
}

export async function revokeToken(db: Db, actor: Actor, userId: number, tokenId: number): Promise<void> {
  await transaction(db, async (trx) => {
    const t = await repo.findById(trx, tokenId);
    if (!t || t.userId !== userId) throw notFound('Token');
    if (t.revokedAt) throw new HttpError(409, 'already_revoked', 'This token is already revoked.');
    await repo.revoke(trx, tokenId, Date.now());
    await recordChange(trx, { kind: 'token', id: tokenId });
    await audit.record(trx, actor, { action: 'token.revoke', objectType: 'api_token', objectId: tokenId, objectLabel: t.name });
  });
}
