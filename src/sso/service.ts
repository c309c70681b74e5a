import type { Db, Conn, Tx } from '../db/connect';
import type { Actor } from '../http/types';
import { HttpError } from '../http/errors';
import { recordChange } from '../changes/service';
import * as audit from '../audit/service';
import * as users from '../users/repo';
import type { User } from '../users/repo';
import * as roles from '../roles/repo';
import { assertSeatAvailable } from '../licenses/service';
import { canSignIn } from '../auth/service';
import { auditView, emailSchema, usernameSchema } from '../users/service';
import type { SsoConfig } from './config';
import type { SsoIdentity } from './oidc';
import { transaction } from '../db/transaction';
import { isUniqueViolation } from '../db/errors';

/**
 * Just-in-time accounts: the first single sign-on creates the Gatehouse user from the provider's claims
 * (default role, that role's license), later sign-ins refresh names and email. Everything for one sign-in
 * happens in one transaction: a refusal leaves nothing behind.
 */

/** A sign-in refused for a reason the person (or an administrator) can act on. */
export class SsoRefusal extends Error {
  constructor(
    public readonly status: number,
    public readonly reason: string,
    message: string,
    /** The account concerned, when there is one (for the audit trail). */
    public readonly user?: { id: number; username: string },
  ) {
    super(message);
  }
}

export interface SsoProfile {
  username: string | null;
  firstName: string;
  lastName: string;
  email: string | null;
  emailVerified: boolean | null;
}

const SUBJECT_MAX = 255;
const NAME_MAX = 100;

function claimText(claims: Record<string, unknown>, name: string): string | null {
  const v = claims[name];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return null;
}

/** A name for display: no control characters, single spaces, at most 100 characters. */
function cleanName(value: string | null): string {
  if (!value) return '';
  return truncate(value.normalize('NFC').replace(/\p{Cc}/gu, ' ').replace(/\s+/g, ' ').trim(), NAME_MAX).trim();
}

/** Cuts to at most `max` UTF-16 units without splitting a character. */
function truncate(value: string, max: number): string {
  let out = '';
  for (const ch of value) {
    if (out.length + ch.length > max) break;
    out += ch;
  }
  return out;
}

/**
 * Turns a claim into a username that follows the console's rules (letters, digits, . _ @ -, starting with
 * a letter or digit, 2–64 characters), or null when nothing usable is left.
 */
export function usernameFromClaim(value: string | null): string | null {
  if (!value) return null;
  let s = value.normalize('NFC').trim().replace(/\s+/g, '.');
  s = s.replace(/[^\p{L}\p{N}._@-]/gu, '');
  s = s.replace(/^[^\p{L}\p{N}]+/u, '');
  s = truncate(s, 64);
  const { error, value: checked } = usernameSchema.validate(s);
  return error ? null : (checked as string);
}

function validEmail(value: string | null): string | null {
  if (!value) return null;
  const { error, value: checked } = emailSchema.validate(value.trim());
  return error ? null : (checked as string);
}

/** What the claims say about the person, mapped by the configured claim names. */
export function profileFromClaims(sso: SsoConfig, claims: Record<string, unknown>): SsoProfile {
  const email = validEmail(claimText(claims, sso.emailClaim));
  const username = usernameFromClaim(claimText(claims, sso.usernameClaim)) ?? usernameFromClaim(email);
  let firstName = cleanName(claimText(claims, sso.firstNameClaim));
  let lastName = cleanName(claimText(claims, sso.lastNameClaim));
  if (!firstName && !lastName) {
    // Some providers send only `name`: first word as first name, the rest as last name.
    const full = cleanName(claimText(claims, 'name'));
    const cut = full.indexOf(' ');
    firstName = cut > 0 ? full.slice(0, cut) : full;
    lastName = cut > 0 ? full.slice(cut + 1) : '';
  }
  const verified = claims.email_verified;
  return {
    username,
    firstName,
    lastName,
    email,
    emailVerified: verified === true || verified === 'true' ? true : verified === false || verified === 'false' ? false : null,
  };
}

export function subjectKey(identity: Pick<SsoIdentity, 'issuer' | 'subject'>): string {
  return `${identity.issuer}|${identity.subject}`;
}

const actorFor = (u: { id: number; username: string }, ip: string): Actor => ({ id: u.id, username: u.username, ip, isSuperuser: false });

const CANNOT_SIGN_IN =
  'Your Gatehouse account cannot sign in: it is deactivated, locked, or has no role or license. Ask an administrator to check it.';

export interface SsoSignIn {
  user: User;
  /** created: a new account; linked: an existing local account now tied to this identity. */
  outcome: 'existing' | 'created' | 'linked';
}

/**
 * Finds, links or creates the Gatehouse account for this identity and records the sign-in, all in one
 * transaction. Throws SsoRefusal with a clear message when the account may not sign in.
 */
export async function signInWithSso(db: Db, sso: SsoConfig, identity: SsoIdentity, ip: string): Promise<SsoSignIn> {
  const key = subjectKey(identity);
  if (key.length > SUBJECT_MAX) {
    throw new SsoRefusal(400, 'subject_too_long', 'The provider identifies you with an identifier longer than Gatehouse can store. Ask an administrator.');
  }
  const profile = profileFromClaims(sso, identity.claims);
  try {
    return await transaction(db, (trx) => resolveAccount(trx, sso, key, profile, ip));
  } catch (err) {
    // Two first sign-ins of the same person at once: the loser of the race finds the account made by the other.
    if (!isUniqueViolation(err)) throw err;
    return transaction(db, (trx) => resolveAccount(trx, sso, key, profile, ip));
  }
}

async function resolveAccount(trx: Tx, sso: SsoConfig, key: string, profile: SsoProfile, ip: string): Promise<SsoSignIn> {
  const known = await users.findBySsoSubject(trx, key);
  if (known) {
    if (!canSignIn(known)) throw new SsoRefusal(403, 'account_cannot_sign_in', CANNOT_SIGN_IN, known);
    const user = await refreshProfile(trx, known, profile, ip);
    await recordSignIn(trx, user, ip, {});
    return { user, outcome: 'existing' };
  }

  if (!profile.email) {
    throw new SsoRefusal(
      400,
      'missing_email',
      `The provider did not send a valid email address (claim "${sso.emailClaim}"), which Gatehouse needs to create your account. Ask an administrator.`,
    );
  }
  const sameEmail = await users.findByEmail(trx, profile.email);
  if (sameEmail) return link(trx, sso, sameEmail, key, profile, ip);

  if (!profile.username) {
    throw new SsoRefusal(
      400,
      'missing_username',
      `The provider did not send a usable username (claim "${sso.usernameClaim}" or the email address). Ask an administrator.`,
    );
  }
  const sameName = await users.findByUsername(trx, profile.username);
  if (sameName) {
    throw new SsoRefusal(
      409,
      'username_taken',
      `A Gatehouse account named “${sameName.username}” already exists and is not linked to single sign-on, so no account was created for you. Ask an administrator.`,
      sameName,
    );
  }
  return create(trx, key, profile as SsoProfile & { username: string; email: string }, ip);
}

/** An existing account with the same email: taken over only when configuration allows it and nothing speaks against it. */
async function link(trx: Tx, sso: SsoConfig, existing: User, key: string, profile: SsoProfile, ip: string): Promise<SsoSignIn> {
  const refuse = () =>
    new SsoRefusal(
      409,
      'email_in_use',
      `A Gatehouse account with the email address ${profile.email} already exists and is not linked to single sign-on, so no account was created for you. Ask an administrator.`,
      existing,
    );
  if (!sso.linkByEmail || existing.source !== 'local' || existing.ssoSubject !== null) throw refuse();
  if (profile.emailVerified === false) {
    throw new SsoRefusal(
      409,
      'email_not_verified',
      `A Gatehouse account with the email address ${profile.email} exists, but the provider says this address is not verified, so it was not linked. Ask an administrator.`,
      existing,
    );
  }
  if (!canSignIn(existing)) throw new SsoRefusal(403, 'account_cannot_sign_in', CANNOT_SIGN_IN, existing);
  const ok = await users.update(trx, existing.id, { ssoSubject: key }, existing.version);
  if (!ok) throw new SsoRefusal(409, 'changed_meanwhile', 'Your account was changed while you signed in. Try again.', existing);
  await audit.record(trx, actorFor(existing, ip), {
    action: 'user.link_sso',
    objectType: 'user',
    objectId: existing.id,
    objectLabel: existing.username,
    before: { ssoSubject: null },
    after: { ssoSubject: key, matchedBy: 'email' },
  });
  const user = await refreshProfile(trx, (await users.findById(trx, existing.id))!, profile, ip);
  await recordSignIn(trx, user, ip, { linked: true });
  return { user, outcome: 'linked' };
}

async function create(trx: Tx, key: string, profile: SsoProfile & { username: string; email: string }, ip: string): Promise<SsoSignIn> {
  const role = await roles.findDefault(trx);
  if (!role) {
    throw new SsoRefusal(409, 'no_default_role', 'No role is marked as the default for new users, so Gatehouse cannot create your account. Ask an administrator.');
  }
  try {
    await assertSeatAvailable(trx, role.licenseTypeId);
  } catch (err) {
    if (!(err instanceof HttpError) || err.status !== 409) throw err;
    throw new SsoRefusal(
      409,
      'no_seat',
      `Your account could not be created: all ${role.licenseName} licenses are in use. Ask an administrator to free a seat or raise the limit, then sign in again.`,
    );
  }
  const id = await users.insert(trx, {
    username: profile.username,
    firstName: profile.firstName,
    lastName: profile.lastName,
    email: profile.email,
    passwordHash: null,
    roleId: role.id,
    licenseTypeId: role.licenseTypeId,
    source: 'sso',
    ssoSubject: key,
  });
  await recordChange(trx, { kind: 'user', id });
  const user = (await users.findById(trx, id))!;
  await audit.record(trx, actorFor(user, ip), {
    action: 'user.create',
    objectType: 'user',
    objectId: id,
    objectLabel: user.username,
    after: { ...auditView(user, []), source: 'sso', ssoSubject: key },
  });
  await recordSignIn(trx, user, ip, {});
  return { user, outcome: 'created' };
}

/** Names and email follow the provider; an email another account already uses is left as it was. */
async function refreshProfile(trx: Conn, user: User, profile: SsoProfile, ip: string): Promise<User> {
  const patch: { firstName?: string; lastName?: string; email?: string } = {};
  if (profile.firstName && profile.firstName !== user.firstName) patch.firstName = profile.firstName;
  if (profile.lastName && profile.lastName !== user.lastName) patch.lastName = profile.lastName;
  let emailKept: string | undefined;
  if (profile.email && profile.email !== user.email) {
    if (await users.emailTaken(trx, profile.email, user.id)) emailKept = profile.email;
    else patch.email = profile.email;
  }
  if (!Object.keys(patch).length) return user;
  await users.update(trx, user.id, patch);
  await recordChange(trx, { kind: 'user', id: user.id });
  const after = (await users.findById(trx, user.id))!;
  await audit.record(trx, actorFor(user, ip), {
    action: 'user.update',
    objectType: 'user',
    objectId: user.id,
    objectLabel: user.username,
    before: Object.fromEntries(Object.keys(patch).map((k) => [k, user[k as keyof typeof patch]])),
    after: { ...patch, source: 'sso', ...(emailKept ? { emailNotChanged: `${emailKept} belongs to another account` } : {}) },
  });
  return after;
}

async function recordSignIn(trx: Conn, user: User, ip: string, extra: Record<string, unknown>): Promise<void> {
  await users.recordLogin(trx, user.id, Date.now());
  await audit.record(trx, actorFor(user, ip), {
    action: 'auth.sign_in',
    objectType: 'user',
    objectId: user.id,
    objectLabel: user.username,
    after: { method: 'sso', ...extra },
  });
}

/** Records a refused single sign-on; nothing else was written. */
export async function recordFailure(
  db: Db,
  ip: string,
  failure: { reason: string; message: string; detail?: string; user?: { id: number; username: string }; issuer?: string },
): Promise<void> {
  await audit.record(db, { id: null, username: 'anonymous', ip, isSuperuser: false }, {
    action: 'auth.sso_failed',
    objectType: failure.user ? 'user' : 'sso',
    objectId: failure.user?.id,
    objectLabel: failure.user?.username ?? failure.issuer ?? '',
    after: { reason: failure.reason, message: failure.message, ...(failure.detail ? { detail: failure.detail.slice(0, 500) } : {}) },
  });
}
