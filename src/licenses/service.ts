import type { Conn } from '../db/connect';
import { ValidationError } from '../http/errors';
import * as repo from './repo';

/**
 * Refuses to give one more user this license when its seats are all taken. Call inside the transaction
 * that assigns the license; on MySQL the license row stays locked until it commits.
 */
export async function assertSeatAvailable(db: Conn, licenseTypeId: number, field = 'licenseTypeId', extraSeats = 1): Promise<void> {
  const license = await repo.findForUpdate(db, licenseTypeId);
  if (!license) throw new ValidationError({ [field]: 'Choose a license type.' });
  if (license.seatLimit === null) return;
  const used = await repo.seatsAssigned(db, licenseTypeId);
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
    );
  }
}
