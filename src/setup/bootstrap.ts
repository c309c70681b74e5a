import type { Db } from '../db/connect';
import type { Config } from '../config';
import { migrateLatest } from '../db/migrate';
import { seedBase } from '../../seeds/base';
import { generatePassword, hashPassword } from '../auth/passwords';
import * as users from '../users/repo';
import * as roles from '../roles/repo';
import { recordChange } from '../changes/service';
import * as audit from '../audit/service';
import { transaction } from '../db/transaction';
import { clearAccount as clearAccountThrottle } from '../auth/throttle';

/** Migrations and reference data: what `npm start` does before listening, and what tests do per database. */
export async function prepareDatabase(db: Db): Promise<string[]> {
  const applied = await migrateLatest(db);
  await seedBase(db);
  return applied;
}

export interface SuperuserSpec {
  username: string;
  password: string;
  email: string;
  firstName?: string;
  lastName?: string;
}

/** Creates a Superuser (or resets the password of an existing one with that username). */
export async function createSuperuser(db: Db, config: Pick<Config, 'scryptN'>, spec: SuperuserSpec): Promise<{ id: number; created: boolean }> {
  const role = await roles.findByBuiltinKey(db, 'superuser');
  if (!role) throw new Error('The Superuser role is missing: run `npm run seed` first.');
  const hash = await hashPassword(spec.password, config.scryptN);
  return transaction(db, async (trx) => {
    const existing = await users.findByUsername(trx, spec.username);
    if (existing) {
      await users.update(trx, existing.id, { passwordHash: hash, roleId: role.id, status: 'active', lockedUntil: null, failedLogins: 0 });
      await clearAccountThrottle(trx, existing.id);
      await recordChange(trx, { kind: 'user', id: existing.id });
      await audit.record(trx, audit.SYSTEM_ACTOR, { action: 'user.reset_superuser', objectType: 'user', objectId: existing.id, objectLabel: existing.username });
      return { id: existing.id, created: false };
    }
    const id = await users.insert(trx, {
      username: spec.username,
      firstName: spec.firstName ?? 'Gatehouse',
      lastName: spec.lastName ?? 'Administrator',
      email: spec.email,
      passwordHash: hash,
      roleId: role.id,
      licenseTypeId: role.licenseTypeId,
    });
    await recordChange(trx, { kind: 'user', id });
    await audit.record(trx, audit.SYSTEM_ACTOR, { action: 'user.create', objectType: 'user', objectId: id, objectLabel: spec.username, after: { username: spec.username, role: role.name } });
    return { id, created: true };
  });
}

/**
 * On a database with no users, creates the first Superuser `admin` with the password from
 * GATEHOUSE_ADMIN_PASSWORD or a generated one, and returns the credentials to print once.
 */
export async function ensureFirstSuperuser(db: Db, config: Pick<Config, 'scryptN'>, env = process.env): Promise<{ username: string; password: string } | null> {
  if (await users.anyUser(db)) return null;
  const username = env.GATEHOUSE_ADMIN_USERNAME || 'admin';
  const password = env.GATEHOUSE_ADMIN_PASSWORD || generatePassword();
  await createSuperuser(db, config, { username, password, email: env.GATEHOUSE_ADMIN_EMAIL || `${username}@gatehouse.local` });
  return { username, password };
}
