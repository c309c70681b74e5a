/**
 * Signing secrets. A receiver verifies an HMAC with the same secret, so it cannot be stored hashed: it is
 * encrypted at rest with AES-256-GCM under GATEHOUSE_WEBHOOKS_SECRET_KEY (a database dump alone does not
 * reveal it). Outside production, when the key is unset, one is generated and kept in the `settings` table,
 * which protects nothing against a dump and is said so in the README.
 * Secrets have the Standard Webhooks form `whsec_<base64 of 32 random bytes>`.
 */
import { randomBytes } from 'node:crypto';
import type { Config } from '../config';
import type { Conn } from '../db/connect';
import { getOrCreateSetting } from '../db/settings';
import { HttpError } from '../http/errors';

export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** The key that seals secrets: the configured one, or (outside production) one kept in the database. */
export async function sealingKey(db: Conn, config: Config): Promise<Buffer> {
  if (config.webhooks.secretKey) return config.webhooks.secretKey;
  if (config.env === 'production') {
    throw new HttpError(409, 'webhook_key_missing', 'Set GATEHOUSE_WEBHOOKS_SECRET_KEY (32 bytes, e.g. `openssl rand -base64 32`) before using webhooks: it encrypts their signing secrets.');
  }
  return Buffer.from(await getOrCreateSetting(db, 'webhook_secret_key', () => randomBytes(32).toString('base64')), 'base64');
}
