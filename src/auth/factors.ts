/**
 * Second factors of local accounts: a TOTP authenticator (RFC 6238, through `otpauth`), ten one-time
 * recovery codes (only their SHA-256 is stored: each holds 80 random bits), and passkeys (src/auth/passkeys.ts).
 * Reads and writes of the factor tables live here.
 */
import { createHash, randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { Conn } from '../db/connect';
import { getSetting } from '../db/settings';
import { P, type AppPermission } from '../permissions/catalog';

export const TOTP_PERIOD_S = 30;
export const RECOVERY_CODE_COUNT = 10;
const ISSUER = 'Gatehouse';

export interface FactorSummary {
  totp: boolean;
  passkeys: number;
  recoveryCodesLeft: number;
}

export const hasSecondFactor = (f: FactorSummary) => f.totp || f.passkeys > 0;

export async function factorsOf(db: Conn, userId: number): Promise<FactorSummary> {
  const [totp, passkeys, codes] = await Promise.all([
    db('totp_factors').where({ user_id: userId }).first('user_id'),
    db('webauthn_credentials').where({ user_id: userId }).count({ n: '*' }).first(),
    db('recovery_codes').where({ user_id: userId }).whereNull('used_at').count({ n: '*' }).first(),
  ]);
  return { totp: !!totp, passkeys: Number(passkeys?.n ?? 0), recoveryCodesLeft: Number(codes?.n ?? 0) };
}

// --- TOTP ---------------------------------------------------------------------------------------------

/** A new random secret (160 bits, as RFC 4226 recommends), in base32 as authenticator apps type it. */
export const newTotpSecret = () => new Secret({ size: 20 }).base32;

function totpFor(secret: string, account: string) {
  return new TOTP({ issuer: ISSUER, label: account, algorithm: 'SHA1', digits: 6, period: TOTP_PERIOD_S, secret: Secret.fromBase32(secret) });
}

/** The otpauth:// URI and its QR code as an SVG data URI (an <img>, allowed by the CSP's img-src data:). */
export async function enrolmentCode(secret: string, account: string): Promise<{ uri: string; qrDataUri: string }> {
  const uri = totpFor(secret, account).toString();
  const svg = await QRCode.toString(uri, { type: 'svg', margin: 2, errorCorrectionLevel: 'M' });
  return { uri, qrDataUri: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}` };
}

/** The time step of a code valid now (±1 step for clocks that drift), or null. */
export function matchingStep(secret: string, code: string, now = Date.now()): number | null {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totpFor(secret, '').validate({ token, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 1000 / TOTP_PERIOD_S) + delta;
}

/** The current code: for tests and for nothing else. */
export const currentCode = (secret: string, now = Date.now()) => totpFor(secret, '').generate({ timestamp: now });

export async function totpSecretOf(db: Conn, userId: number): Promise<string | null> {
  const row = await db('totp_factors').where({ user_id: userId }).first('secret');
  return row?.secret ?? null;
}

/**
 * Accepts a code at most once: the step must be later than the last accepted one, and the conditional
 * update makes two requests carrying the same code race for one success.
 */
export async function acceptTotp(db: Conn, userId: number, code: string, now = Date.now()): Promise<boolean> {
  const secret = await totpSecretOf(db, userId);
  if (!secret) return false;
  const step = matchingStep(secret, code, now);
  if (step === null) return false;
  const n = await db('totp_factors').where({ user_id: userId }).andWhere('last_used_step', '<', step).update({ last_used_step: step });
  return n === 1;
}

export async function saveTotp(db: Conn, userId: number, secret: string, acceptedStep: number): Promise<void> {
  await db('totp_factors').where({ user_id: userId }).delete();
  await db('totp_factors').insert({ user_id: userId, secret, last_used_step: acceptedStep, created_at: Date.now() });
}

export async function removeTotp(db: Conn, userId: number): Promise<number> {
  return db('totp_factors').where({ user_id: userId }).delete();
}

// --- Recovery codes -------------------------------------------------------------------------------------

const CODE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789'; // 31 letters and digits, none easily confused
const normalise = (code: string) => code.toLowerCase().replace(/[^a-z0-9]/g, '');
const hashCode = (code: string) => createHash('sha256').update(normalise(code)).digest('hex');

function newRecoveryCode(): string {
  let raw = '';
  for (let i = 0; i < 16; i++) raw += CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return raw.match(/.{4}/g)!.join('-');
}

/** Replaces the user's recovery codes with ten new ones, returned once. */
export async function replaceRecoveryCodes(db: Conn, userId: number): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await db('recovery_codes').where({ user_id: userId }).delete();
  await db('recovery_codes').insert(codes.map((c) => ({ user_id: userId, code_hash: hashCode(c) })));
  return codes;
}

/** Removes the user's recovery codes (their last second factor went). */
export async function removeRecoveryCodes(db: Conn, userId: number): Promise<void> {
  await db('recovery_codes').where({ user_id: userId }).delete();
}

/** Spends one recovery code; true when it was unused (two requests with one code: one wins). */
export async function spendRecoveryCode(db: Conn, userId: number, code: string): Promise<boolean> {
  if (normalise(code).length !== 16) return false;
  const n = await db('recovery_codes').where({ user_id: userId, code_hash: hashCode(code) }).whereNull('used_at').update({ used_at: Date.now() });
  return n === 1;
}

/** Removes every second factor of a user (administrator's reset, or the user removing their last one). */
export async function removeAllFactors(db: Conn, userId: number): Promise<FactorSummary> {
  const before = await factorsOf(db, userId);
  await db('totp_factors').where({ user_id: userId }).delete();
  await db('webauthn_credentials').where({ user_id: userId }).delete();
  await db('recovery_codes').where({ user_id: userId }).delete();
  return before;
}

// --- Policy ---------------------------------------------------------------------------------------------

const POLICY_KEY = 'require_two_factor_for_admins';
/** The permissions that make a role an administration role for the two-factor policy. */
export const ADMIN_FACTOR_PERMISSIONS: readonly AppPermission[] = [P.usersManage, P.accessManage];

export async function adminsMustUseTwoFactor(db: Conn): Promise<boolean> {
  return (await getSetting(db, POLICY_KEY)) === 'true';
}

export async function setAdminsMustUseTwoFactor(db: Conn, value: boolean): Promise<void> {
  const stored = value ? 'true' : 'false';
  const updated = await db('settings').where({ key: POLICY_KEY }).update({ value: stored });
  if (!updated) await db('settings').insert({ key: POLICY_KEY, value: stored });
}

/** Must this account hold a second factor? SSO accounts never (their provider owns their factors). */
export async function secondFactorRequired(db: Conn, user: { source: string; permissions: ReadonlySet<AppPermission> }): Promise<boolean> {
  if (user.source !== 'local') return false;
  if (!ADMIN_FACTOR_PERMISSIONS.some((p) => user.permissions.has(p))) return false;
  return adminsMustUseTwoFactor(db);
}
