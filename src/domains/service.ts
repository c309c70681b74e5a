/**
 * The domain catalog: the seeded domains of PRODUCT.md (built in, read-only, like the built-in roles) and
 * those a Superuser adds for other applications of the suite (name, key, whether levels apply).
 *
 * A domain is found by its key or its name, case-insensitively (the check API, AuthZEN resource types), so
 * no key or name may equal another domain's key or name ignoring case: a rule over two columns and many
 * rows, kept by the `domain_catalog` guard (src/db/guards.ts). A new domain gets the caps the license
 * table gives "every domain" (src/licenses/catalog.ts). Every change appends to the change log in its
 * transaction (the domains, and the caps that come and go with a domain), so every server's decision index
 * follows.
 */
import Joi from 'joi';
import type { Conn, Db } from '../db/connect';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { HttpError, ValidationError, forbidden, notFound } from '../http/errors';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';
import { isForeignKeyViolation } from '../db/errors';
import { recordChange } from '../changes/service';
import * as audit from '../audit/service';
import { DOMAINS } from '../access/catalog';
import { defaultCap } from '../licenses/catalog';
import * as repo from './repo';
import type { Domain } from './repo';

export const KEY_MAX = 40;
export const NAME_MAX = 100;

const BUILT_IN_KEYS: ReadonlySet<string> = new Set(DOMAINS.map((d) => d.key));

/** Seeded with the product: read-only, never removed. */
export const isBuiltIn = (d: Pick<Domain, 'key'>) => BUILT_IN_KEYS.has(d.key);

export const keySchema = Joi.string()
  .trim()
  .lowercase()
  .max(KEY_MAX)
  .pattern(/^[a-z][a-z0-9_.-]*$/, { name: 'starts with a letter and holds only lower-case letters, digits, "_", "-" and "."' })
  .label('Key')
  .messages({ 'string.pattern.name': 'Key must start with a letter and hold only lower-case letters, digits, "_", "-" and ".".' });

export const nameSchema = Joi.string()
  .trim()
  .min(1)
  .max(NAME_MAX)
  .pattern(/^[^\p{Cc}\p{Cf}\u2028\u2029]*$/u, { name: 'must not contain control characters' })
  .label('Name');

export interface DomainInput {
  key?: unknown;
  name?: unknown;
  usesLevels?: unknown;
}

interface CleanInput {
  key?: string;
  name?: string;
  usesLevels?: boolean;
}

function clean(input: DomainInput, creating: boolean): CleanInput {
  const req = <S extends Joi.Schema>(s: S) => (creating ? s.required() : s);
  return validate<CleanInput>(
    Joi.object({ key: req(keySchema), name: req(nameSchema), usesLevels: Joi.boolean().truthy('on', 'true', '1').falsy('', 'false', '0').label('Uses levels') }),
    Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)),
  );
}

/** A key or name that another domain already answers to (ignoring case). */
async function assertFree(db: Conn, wanted: { key?: string; name?: string }, exceptId?: number): Promise<void> {
  const others = (await repo.identifiers(db)).filter((d) => d.id !== exceptId);
  const fields: Record<string, string> = {};
  const clash = (value: string) => others.find((d) => d.key === value.toLowerCase() || d.name === value.toLowerCase());
  if (wanted.key !== undefined && clash(wanted.key)) fields.key = `Another domain already answers to "${wanted.key}" (keys and names are compared without regard to case).`;
  if (wanted.name !== undefined && clash(wanted.name)) fields.name = `Another domain already answers to "${wanted.name}" (keys and names are compared without regard to case).`;
  if (Object.keys(fields).length) throw new ValidationError(fields);
}

function onlySuperusers(actor: Actor): void {
  if (!actor.isSuperuser) throw forbidden('Only a Superuser may change the domain catalog.');
}

/** The domains changed, and with them the caps (a domain's caps come and go with it). */
async function recordDomainChange(trx: Conn): Promise<void> {
  await recordChange(trx, { kind: 'domain' });
  await recordChange(trx, { kind: 'license' });
}

const snapshot = (d: Pick<Domain, 'key' | 'name' | 'usesLevels'>) => ({ key: d.key, name: d.name, usesLevels: d.usesLevels });

export async function createDomain(db: Db, actor: Actor, input: DomainInput): Promise<Domain> {
  onlySuperusers(actor);
  const value = clean(input, true);
  const wanted = { key: value.key!, name: value.name!.normalize('NFC'), usesLevels: value.usesLevels ?? false };
  return transaction(db, async (trx) => {
    await guard(trx, 'domain_catalog');
    await assertFree(trx, wanted);
    const id = await repo.insert(trx, wanted);
    await repo.insertCaps(
      trx,
      id,
      (await repo.licenseTypes(trx)).map((l) => ({ licenseTypeId: l.id, operations: defaultCap(l.key, wanted.key).join('') })),
    );
    await recordDomainChange(trx);
    await audit.record(trx, actor, { action: 'domain.create', objectType: 'domain', objectId: wanted.key, objectLabel: wanted.name, after: snapshot(wanted) });
    return (await repo.findById(trx, id))!;
  });
}

export async function updateDomain(db: Db, actor: Actor, id: number, input: DomainInput): Promise<Domain> {
  onlySuperusers(actor);
  const value = clean(input, false);
  if (value.name !== undefined) value.name = value.name.normalize('NFC');
  return transaction(db, async (trx) => {
    await guard(trx, 'domain_catalog');
    const before = await repo.findForUpdate(trx, id);
    if (!before) throw notFound('Domain');
    if (isBuiltIn(before)) throw new HttpError(409, 'built_in', `${before.name} is a built-in domain: it cannot be changed. Add a domain of your own instead.`);
    await assertFree(trx, { key: value.key, name: value.name }, id);
    const after = { key: value.key ?? before.key, name: value.name ?? before.name, usesLevels: value.usesLevels ?? before.usesLevels };
    if (after.key === before.key && after.name === before.name && after.usesLevels === before.usesLevels) return before;
    await repo.update(trx, id, after);
    await recordDomainChange(trx);
    await audit.record(trx, actor, { action: 'domain.update', objectType: 'domain', objectId: after.key, objectLabel: after.name, before: snapshot(before), after: snapshot(after) });
    return (await repo.findById(trx, id))!;
  });
}

export interface RemovalInfo {
  domain: Domain;
  permissions: number;
  /** Why it cannot be removed now, or null. */
  blocker: string | null;
}

export async function removalInfo(db: Conn, id: number): Promise<RemovalInfo> {
  const domain = await repo.findById(db, id);
  if (!domain) throw notFound('Domain');
  const permissions = await repo.countPermissions(db, id);
  let blocker: string | null = null;
  if (isBuiltIn(domain)) blocker = `${domain.name} is a built-in domain: it cannot be removed.`;
  else if (permissions) {
    blocker = `${domain.name} cannot be removed while ${permissions === 1 ? 'a domain permission is' : `${permissions.toLocaleString('en-US')} domain permissions are`} granted in it. Remove ${permissions === 1 ? 'it' : 'them'} from the groups first.`;
  }
  return { domain, permissions, blocker };
}

/** Removes a domain of one's own that no permission uses, with its license caps. */
export async function removeDomain(db: Db, actor: Actor, id: number): Promise<Domain> {
  onlySuperusers(actor);
  try {
    return await transaction(db, async (trx) => {
      await guard(trx, 'domain_catalog');
      const locked = await repo.findForUpdate(trx, id);
      if (!locked) throw notFound('Domain');
      const info = await removalInfo(trx, id);
      if (info.blocker) throw new HttpError(409, isBuiltIn(locked) ? 'built_in' : 'in_use', info.blocker, {}, { permissions: info.permissions });
      await repo.remove(trx, id);
      await recordDomainChange(trx);
      await audit.record(trx, actor, { action: 'domain.delete', objectType: 'domain', objectId: locked.key, objectLabel: locked.name, before: snapshot(locked) });
      return locked;
    });
  } catch (e) {
    // A permission granted in the domain while it was being removed.
    if (isForeignKeyViolation(e)) throw new HttpError(409, 'in_use', 'A domain permission was granted in this domain meanwhile. Reload and try again.');
    throw e;
  }
}

/** Start-up check: every seeded domain is in the database (the seed puts them there). */
export async function missingBuiltInDomains(db: Conn): Promise<string[]> {
  const stored = new Set(await repo.storedKeys(db));
  return DOMAINS.filter((d) => !stored.has(d.key)).map((d) => d.key);
}
