/**
 * Passkeys and security keys (WebAuthn) as a second factor, through @simplewebauthn/server: it builds the
 * options the browser passes to navigator.credentials, and verifies the attestation or assertion (CBOR,
 * COSE keys, signatures, origin and RP id, counters). The relying party is the public address of
 * Gatehouse (GATEHOUSE_BASE_URL): its host name is the RP id, its origin the expected origin.
 */
import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Conn } from '../db/connect';

export interface Passkey {
  id: number;
  userId: number;
  credentialId: string;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

/** How long a registration or sign-in ceremony may take before its challenge is forgotten. */
export const CEREMONY_TTL_MS = 5 * 60_000;

export function relyingParty(baseUrl: string): { rpID: string; origin: string } {
  const u = new URL(baseUrl);
  return { rpID: u.hostname, origin: u.origin };
}

const toPasskey = (r: Record<string, unknown>): Passkey => ({
  id: Number(r.id),
  userId: Number(r.user_id),
  credentialId: String(r.credential_id),
  name: String(r.name),
  createdAt: Number(r.created_at),
  lastUsedAt: r.last_used_at === null || r.last_used_at === undefined ? null : Number(r.last_used_at),
});

export async function listPasskeys(db: Conn, userId: number): Promise<Passkey[]> {
  return (await db('webauthn_credentials').where({ user_id: userId }).orderBy('created_at')).map(toPasskey);
}

export async function findPasskey(db: Conn, userId: number, id: number): Promise<Passkey | undefined> {
  const r = await db('webauthn_credentials').where({ user_id: userId, id }).first();
  return r ? toPasskey(r) : undefined;
}

export async function removePasskey(db: Conn, userId: number, id: number): Promise<number> {
  return db('webauthn_credentials').where({ user_id: userId, id }).delete();
}

async function storedCredentials(db: Conn, userId: number) {
  const rows = await db('webauthn_credentials').where({ user_id: userId }).select('credential_id', 'transports');
  return rows.map((r: { credential_id: string; transports: string }) => ({ id: r.credential_id, transports: r.transports ? r.transports.split(',') : undefined }));
}

export async function registrationOptions(db: Conn, baseUrl: string, user: { id: number; username: string; firstName: string; lastName: string }) {
  const { rpID } = relyingParty(baseUrl);
  return generateRegistrationOptions({
    rpName: 'Gatehouse',
    rpID,
    userName: user.username,
    userDisplayName: [user.firstName, user.lastName].filter(Boolean).join(' ') || user.username,
    userID: new TextEncoder().encode(`gatehouse-user-${user.id}`),
    attestationType: 'none',
    excludeCredentials: (await storedCredentials(db, user.id)) as never,
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
    timeout: CEREMONY_TTL_MS,
  });
}

/** Verifies a new credential against the challenge this session was given; stores it under `name`. */
export async function register(db: Conn, baseUrl: string, userId: number, name: string, challenge: string, response: unknown): Promise<Passkey | null> {
  const { rpID, origin } = relyingParty(baseUrl);
  let verified;
  try {
    verified = await verifyRegistrationResponse({ response: response as RegistrationResponseJSON, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, requireUserVerification: false });
  } catch {
    return null;
  }
  if (!verified.verified) return null;
  const { credential } = verified.registrationInfo;
  await db('webauthn_credentials').insert({
    user_id: userId,
    credential_id: credential.id,
    public_key: Buffer.from(credential.publicKey).toString('base64url'),
    counter: credential.counter,
    transports: (credential.transports ?? []).join(',').slice(0, 255),
    name,
    created_at: Date.now(),
  });
  return toPasskey(await db('webauthn_credentials').where({ credential_id: credential.id }).first());
}

export async function authenticationOptions(db: Conn, baseUrl: string, userId: number) {
  const { rpID } = relyingParty(baseUrl);
  return generateAuthenticationOptions({ rpID, allowCredentials: (await storedCredentials(db, userId)) as never, userVerification: 'preferred', timeout: CEREMONY_TTL_MS });
}

/** Verifies an assertion by one of the user's credentials; returns that credential, or null. */
export async function authenticate(db: Conn, baseUrl: string, userId: number, challenge: string, response: unknown): Promise<Passkey | null> {
  const { rpID, origin } = relyingParty(baseUrl);
  const credentialId = typeof (response as { id?: unknown })?.id === 'string' ? (response as { id: string }).id : '';
  const row = credentialId ? await db('webauthn_credentials').where({ user_id: userId, credential_id: credentialId }).first() : undefined;
  if (!row) return null;
  let verified;
  try {
    verified = await verifyAuthenticationResponse({
      response: response as AuthenticationResponseJSON,
      expectedChallenge: challenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
      credential: { id: row.credential_id, publicKey: new Uint8Array(Buffer.from(row.public_key, 'base64url')), counter: Number(row.counter), transports: row.transports ? row.transports.split(',') : undefined },
      requireUserVerification: false,
    });
  } catch {
    return null;
  }
  if (!verified.verified) return null;
  // A signature counter that does not grow means a cloned authenticator (counters of 0 are not kept by passkeys that sync).
  const updated = await db('webauthn_credentials')
    .where({ id: row.id })
    .andWhere((w) => w.where('counter', '<', verified.authenticationInfo.newCounter).orWhere('counter', 0))
    .update({ counter: verified.authenticationInfo.newCounter, last_used_at: Date.now() });
  if (!updated) return null;
  return toPasskey(row);
}
