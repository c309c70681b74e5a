/**
 * One's own second factors, under My account: set up an authenticator app, add and remove passkeys, make
 * new recovery codes. Each change is audited; a role that requires a second factor keeps at least one.
 */
import type { Db } from '../db/connect';
import type { Actor, CurrentUser } from '../http/types';
import { HttpError, ValidationError } from '../http/errors';
import * as audit from '../audit/service';
import * as sessions from '../sessions/service';
import { transaction } from '../db/transaction';
import * as factors from '../auth/factors';
import * as passkeys from '../auth/passkeys';

const event = (actor: Actor, action: string, after?: unknown) => ({ action, objectType: 'user', objectId: actor.id ?? undefined, objectLabel: actor.username, after });

/** Confirms the authenticator app with its first code; returns the recovery codes when the user had none. */
export async function enrolTotp(db: Db, actor: Actor, userId: number, secret: string, code: string): Promise<string[] | null> {
  const step = factors.matchingStep(secret, code);
  if (step === null) throw new ValidationError({ code: 'This code does not match. Check the time on your phone, and type the code shown now.' });
  return transaction(db, async (trx) => {
    await factors.saveTotp(trx, userId, secret, step);
    await audit.record(trx, actor, event(actor, 'auth.totp_enrolled'));
    if ((await factors.factorsOf(trx, userId)).recoveryCodesLeft > 0) return null;
    const codes = await factors.replaceRecoveryCodes(trx, userId);
    await audit.record(trx, actor, event(actor, 'auth.recovery_codes_generated', { count: codes.length }));
    return codes;
  });
}

async function assertKeepsRequiredFactor(db: Db, user: CurrentUser, remaining: factors.FactorSummary) {
  if (factors.hasSecondFactor(remaining)) return;
  if (await factors.secondFactorRequired(db, user)) {
    throw new HttpError(409, 'second_factor_required', 'Your role requires a second factor: add another one (an authenticator app or a passkey) before removing this one.');
  }
}

export async function removeTotp(db: Db, actor: Actor, user: CurrentUser): Promise<void> {
  await transaction(db, async (trx) => {
    const now = await factors.factorsOf(trx, user.id);
    if (!now.totp) throw new HttpError(409, 'not_enrolled', 'You have no authenticator app set up.');
    await assertKeepsRequiredFactor(db, user, { ...now, totp: false });
    await factors.removeTotp(trx, user.id);
    if (!now.passkeys) await factors.removeRecoveryCodes(trx, user.id);
    await audit.record(trx, actor, event(actor, 'auth.totp_removed'));
  });
}

export async function newRecoveryCodes(db: Db, actor: Actor, userId: number): Promise<string[]> {
  return transaction(db, async (trx) => {
    if (!factors.hasSecondFactor(await factors.factorsOf(trx, userId))) throw new HttpError(409, 'not_enrolled', 'Recovery codes come with a second factor: set one up first.');
    const codes = await factors.replaceRecoveryCodes(trx, userId);
    await audit.record(trx, actor, event(actor, 'auth.recovery_codes_generated', { count: codes.length }));
    return codes;
  });
}

/** Stores a verified passkey; returns recovery codes when these are the user's first. */
export async function addPasskey(db: Db, actor: Actor, userId: number, baseUrl: string, name: string, challenge: string, response: unknown): Promise<{ passkey: passkeys.Passkey; codes: string[] | null }> {
  return transaction(db, async (trx) => {
    const passkey = await passkeys.register(trx, baseUrl, userId, name, challenge, response);
    if (!passkey) throw new ValidationError({ passkey: 'The passkey could not be verified. Try again.' });
    await audit.record(trx, actor, event(actor, 'auth.passkey_added', { name }));
    if ((await factors.factorsOf(trx, userId)).recoveryCodesLeft > 0) return { passkey, codes: null };
    const codes = await factors.replaceRecoveryCodes(trx, userId);
    await audit.record(trx, actor, event(actor, 'auth.recovery_codes_generated', { count: codes.length }));
    return { passkey, codes };
  });
}

export async function removePasskey(db: Db, actor: Actor, user: CurrentUser, id: number): Promise<string> {
  return transaction(db, async (trx) => {
    const key = await passkeys.findPasskey(trx, user.id, id);
    if (!key) throw new HttpError(404, 'not_found', 'Passkey not found.');
    const now = await factors.factorsOf(trx, user.id);
    const remaining = { ...now, passkeys: now.passkeys - 1 };
    await assertKeepsRequiredFactor(db, user, remaining);
    await passkeys.removePasskey(trx, user.id, id);
    if (!factors.hasSecondFactor(remaining)) await factors.removeRecoveryCodes(trx, user.id);
    await audit.record(trx, actor, event(actor, 'auth.passkey_removed', { name: key.name }));
    return key.name;
  });
}

/** Ends one of one's own sessions. */
export async function endOwnSession(db: Db, actor: Actor, userId: number, sessionId: string, handle: string): Promise<void> {
  await transaction(db, async (trx) => {
    await sessions.endOneOf(trx, userId, sessionId);
    await audit.record(trx, actor, event(actor, 'auth.session_revoked', { session: handle }));
  });
}
