/**
 * Authenticated encryption of short secrets (AES-256-GCM with a fresh 96-bit IV each time), as one string
 * `v1.<iv>.<ciphertext>.<tag>` (base64url) that says its format, so it can be stored in a column or a session.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const FORMAT = 'v1';

export function seal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [FORMAT, iv.toString('base64url'), data.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
}

/** The plaintext; throws when the format is unknown, or the key or the sealed text is wrong (tampered). */
export function unseal(key: Buffer, sealed: string): string {
  const [format, iv, data, tag] = sealed.split('.');
  if (format !== FORMAT || !iv || !data || !tag) throw new Error('The sealed value has an unknown format.');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
