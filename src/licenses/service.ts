import Joi from 'joi';
import type { Db, Tx } from '../db/connect';
import { isMysql } from '../db/connect';
import { recordChange } from '../changes/service';
import type { Actor } from '../http/types';
import { validate } from '../http/forms';
import { ValidationError, conflict, forbidden, notFound } from '../http/errors';
import { OPERATIONS, type Operation } from '../access/catalog';
import * as audit from '../audit/service';
import * as repo from './repo';
import { transaction } from '../db/transaction';
import { guard } from '../db/guards';

/**
 * Refuses to give `extraSeats` more users this license when its seats would run out. Call inside the
 * transaction that assigns the license. The license's guard row is written first (src/db/guards.ts), so
 * concurrent assignments — and a Superuser lowering the limit — queue or conflict, and the count below sees
 * every assignment committed before.
 */
export async function assertSeatAvailable(trx: Tx, licenseTypeId: number, field = 'licenseTypeId', extraSeats = 1): Promise<void> {
  await guard(trx, `license:${licenseTypeId}`);
  const license = await repo.findById(trx, licenseTypeId);
  if (!license) throw new ValidationError({ [field]: 'Choose a license type.' });
  if (license.seatLimit === null) return;
  const used = await repo.seatsAssigned(trx, licenseTypeId);
  if (used + extraSeats > license.seatLimit) {
    const left = Math.max(0, license.seatLimit - used);
    throw new ValidationError(
      {
        [field]:
          extraSeats === 1
            ? `No ${license.name} seats left: all ${license.seatLimit} are assigned. Free a seat or ask a Superuser to raise the limit.`
            : `Only ${left} ${license.name} seat${left === 1 ? '' : 's'} left, ${extraSeats} needed. Free seats or ask a Superuser to raise the limit.`,
      },
      'License seats exhausted.',
      409,
      'seats_exhausted',
    );
  }
}

// ---------------------------------------------------------------------------------------------------------
// Seat limits and license caps: Superuser only (issue 4).

const SEAT_LIMIT_MAX = 10_000_000;

export const seatLimitSchema = Joi.object({
  seatLimit: Joi.number().integer().min(0).max(SEAT_LIMIT_MAX).allow(null).empty('').default(null).label('Seat limit'),
  version: Joi.number().integer().min(1).max(2147483647).empty('').label('Version'),
});

/**
 * Sets a license type's seat limit (null = unlimited). Never below the seats already assigned; a save
 * based on an old version is refused with the current value.
 */
export async function setSeatLimit(db: Db, actor: Actor, licenseTypeId: number, raw: unknown): Promise<repo.LicenseType> {
  if (!actor.isSuperuser) throw forbidden('Only a Superuser may change license seats.');
  const input = validate<{ seatLimit: number | null; version?: number }>(seatLimitSchema, raw);
  return transaction(db, async (trx) => {
    await guard(trx, `license:${licenseTypeId}`);
    const before = await repo.findById(trx, licenseTypeId);
    if (!before) throw notFound('License type');
    if (input.version !== undefined && input.version !== before.version) {
      throw conflict(
        `The seat limit of ${before.name} was changed by someone else meanwhile: it is now ${before.seatLimit === null ? 'unlimited' : before.seatLimit}. Check it and save again.`,
      );
    }
    const used = await repo.seatsAssigned(trx, licenseTypeId);
    if (input.seatLimit !== null && input.seatLimit < used) {
      throw new ValidationError({
        seatLimit: `${used.toLocaleString('en-US')} ${before.name} seat${used === 1 ? ' is' : 's are'} assigned, so the limit cannot be lower. Give some users another license first.`,
      });
    }
    if (input.seatLimit === before.seatLimit) return before;
    if (!(await repo.setSeatLimit(trx, licenseTypeId, input.seatLimit, before.version))) {
      throw conflict(`The seat limit of ${before.name} was changed by someone else while saving. Reload and try again.`);
    }
    await audit.record(trx, actor, {
      action: 'license.seat_limit',
      objectType: 'license',
      objectId: before.key,
      objectLabel: before.name,
      before: { seatLimit: before.seatLimit, seatsAssigned: used },
      after: { seatLimit: input.seatLimit, seatsAssigned: used },
    });
    return (await repo.findById(trx, licenseTypeId))!;
  });
}

/** "MRD" → "RMD": the operations of a cap, in the catalog's order, without repeats. */
export function normaliseOperations(ops: Iterable<string>): string {
  const set = new Set(ops);
  return OPERATIONS.filter((o) => set.has(o)).join('');
}

export interface CapChange {
  licenseTypeId: number;
  domainKey: string;
  /** Operations to allow / to take away (deltas merge with concurrent edits of other operations). */
  add: Operation[];
  remove: Operation[];
}

/**
 * Changes license caps in one transaction. Decisions are answered from memory: the change is recorded in the
 * change log in the same transaction, and every server reloads the caps from it.
 */
export async function changeCaps(db: Db, actor: Actor, changes: CapChange[]): Promise<number> {
  if (!actor.isSuperuser) throw forbidden('Only a Superuser may change license caps.');
  return transaction(db, async (trx) => {
    const domainByKey = new Map((await repo.domains(trx)).map((d) => [d.key, d]));
    const licenses = new Map((await repo.all(trx)).map((l) => [l.id, l]));
    for (const l of licenses.values()) if (isMysql(trx)) await repo.findForUpdate(trx, l.id);
    const table = await repo.capsTable(trx);
    const changed: Array<{ license: string; domain: string; before: string; after: string }> = [];
    for (const c of changes) {
      const license = licenses.get(c.licenseTypeId);
      if (!license) throw new ValidationError({ license: 'That license type does not exist.' });
      const domain = domainByKey.get(c.domainKey);
      if (!domain) throw new ValidationError({ [`caps.${c.domainKey}`]: `There is no domain "${c.domainKey}".` });
      const before = table.get(license.id)?.get(domain.id) ?? '';
      const now = new Set(before);
      for (const o of c.add) now.add(o);
      for (const o of c.remove) if (!c.add.includes(o)) now.delete(o);
      const after = normaliseOperations(now);
      if (after === before) continue;
      await repo.setCap(trx, license.id, domain.id, after);
      if (!table.has(license.id)) table.set(license.id, new Map());
      table.get(license.id)!.set(domain.id, after);
      changed.push({ license: license.name, domain: domain.name, before, after });
    }
    if (changed.length) {
      await recordChange(trx, { kind: 'license' });
      await audit.record(trx, actor, {
        action: 'license.caps',
        objectType: 'license',
        objectId: [...new Set(changes.map((c) => licenses.get(c.licenseTypeId)!.key))].join(','),
        objectLabel: [...new Set(changed.map((c) => c.license))].join(', '),
        before: changed.map((c) => ({ license: c.license, domain: c.domain, operations: c.before })),
        after: changed.map((c) => ({ license: c.license, domain: c.domain, operations: c.after })),
      });
    }
    return changed.length;
  });
}

/** Sets the caps of one license for the domains given (API PUT); domains left out keep their caps. */
export async function replaceCaps(db: Db, actor: Actor, licenseTypeId: number, caps: Record<string, Operation[]>): Promise<number> {
  const all: Operation[] = [...OPERATIONS];
  return changeCaps(
    db,
    actor,
    Object.entries(caps).map(([domainKey, ops]) => ({ licenseTypeId, domainKey, add: ops, remove: all.filter((o) => !ops.includes(o)) })),
  );
}
