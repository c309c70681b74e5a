import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

const KEY_LENGTH = 32;

/**
 * scrypt, memory-hard; OWASP recommends N=2^17, r=8, p=1 (128 MiB). The parameters are stored with
 * the hash so a later change of cost still verifies old hashes.
 * Format: scrypt$N$r$p$saltB64$hashB64
 */
export async function hashPassword(password: string, N: number): Promise<string> {
  const r = 8;
  const p = 1;
  const salt = randomBytes(16);
  const key = await scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return ['scrypt', N, r, p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  if (!stored) return false;
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const salt = Buffer.from(parts[4], 'base64');
  const expected = Buffer.from(parts[5], 'base64');
  const key = await scrypt(password.normalize('NFC'), salt, expected.length, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 });
  return timingSafeEqual(key, expected);
}

/** A hash no password matches, verified anyway so unknown usernames cost the same time as known ones. */
export async function dummyVerify(password: string, N: number): Promise<void> {
  dummyHashes[N] ??= await hashPassword(randomBytes(12).toString('hex'), N);
  await verifyPassword(password, dummyHashes[N]);
}
const dummyHashes: Record<number, string> = {};

/** A readable random password for the first superuser. */
export function generatePassword(): string {
  const alphabet = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += alphabet[b % alphabet.length];
  return `${out.slice(0, 5)}-${out.slice(5, 10)}-${out.slice(10, 15)}-${out.slice(15, 20)}`;
}
