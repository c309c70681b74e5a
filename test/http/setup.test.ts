import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { seedBase } from '../../seeds/base';
import { migrateLatest, migrateRollback } from '../../src/db/migrate';
import { ensureFirstSuperuser, createSuperuser } from '../../src/setup/bootstrap';
import { verifyPassword } from '../../src/auth/passwords';
import { APP_PERMISSIONS, BUILT_IN_ROLES } from '../../src/permissions/catalog';

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await createTestDatabase();
  await tdb.snapshot();
});
afterAll(async () => tdb?.cleanup());
// Every test starts from the freshly migrated and seeded database (they roll back, reseed, delete users).
beforeEach(() => tdb.restore());

async function snapshot() {
  const db = tdb.db;
  return {
    permissions: await db('app_permissions').orderBy('key').select('*'),
    roles: await db('roles').orderBy('id').select('id', 'name', 'builtin_key', 'is_default', 'license_type_id'),
    rolePermissions: await db('role_permissions').orderBy(['role_id', 'permission_key']).select('*'),
    licenses: await db('license_types').orderBy('id').select('*'),
    caps: await db('license_caps').orderBy(['license_type_id', 'domain_id']).select('*'),
    domains: await db('domains').orderBy('id').select('*'),
    workspaces: await db('workspaces').orderBy('id').select('id', 'name', 'parent_id'),
  };
}

describe('seed data', () => {
  it('holds the 25 permissions, the five built-in roles with their sets, four licenses, the domains and one root', async () => {
    const s = await snapshot();
    expect(s.permissions.map((p: { key: string }) => p.key).sort()).toEqual(APP_PERMISSIONS.map((p) => p.key).sort());
    expect(s.roles.map((r: { name: string }) => r.name).sort()).toEqual(BUILT_IN_ROLES.map((r) => r.name).sort());
    const analyst = s.roles.find((r: { builtin_key: string }) => r.builtin_key === 'analyst');
    expect(Boolean(analyst.is_default)).toBe(true);
    const analystPerms = s.rolePermissions.filter((rp: { role_id: number }) => rp.role_id === analyst.id).map((rp: { permission_key: string }) => rp.permission_key);
    expect(analystPerms).toHaveLength(22);
    expect(analystPerms).not.toContain('users.manage');
    expect(s.licenses).toHaveLength(4);
    expect(s.domains).toHaveLength(20);
    expect(s.caps).toHaveLength(80);
    expect(s.workspaces.filter((w: { parent_id: number | null }) => w.parent_id === null)).toHaveLength(1);
  });

  it('is idempotent and keeps what an administrator edited', async () => {
    await tdb.db('license_types').where({ key: 'process_viewer' }).update({ seat_limit: 7 });
    const before = await snapshot();
    await seedBase(tdb.db);
    await seedBase(tdb.db);
    expect(await snapshot()).toEqual(before);
  });

  it('restores a built-in role whose permissions were tampered with', async () => {
    const viewer = await tdb.db('roles').where({ builtin_key: 'viewer' }).first('id');
    await tdb.db('role_permissions').insert({ role_id: viewer.id, permission_key: 'users.manage' });
    await seedBase(tdb.db);
    expect(await tdb.db('role_permissions').where({ role_id: viewer.id, permission_key: 'users.manage' }).first()).toBeUndefined();
  });
});

describe('migrations', () => {
  it('roll back completely and apply again', async () => {
    const undone = await migrateRollback(tdb.db, true);
    expect(undone.length).toBeGreaterThan(0);
    expect(await tdb.db.schema.hasTable('users')).toBe(false);
    const applied = await migrateLatest(tdb.db);
    expect(applied).toEqual([...undone].reverse());
    await seedBase(tdb.db);
    expect(await tdb.db.schema.hasTable('users')).toBe(true);
  });
});

describe('first superuser', () => {
  it('is created once with the given password, and create-superuser resets an existing account', async () => {
    const first = await ensureFirstSuperuser(tdb.db, tdb.config, { GATEHOUSE_ADMIN_PASSWORD: 'first-admin-password' });
    expect(first).toEqual({ username: 'admin', password: 'first-admin-password' });
    expect(await ensureFirstSuperuser(tdb.db, tdb.config, {})).toBeNull();
    await tdb.db('users').where({ username_lower: 'admin' }).update({ status: 'deactivated', locked_until: Date.now() + 1e6 });
    const again = await createSuperuser(tdb.db, tdb.config, { username: 'ADMIN', password: 'another-admin-password', email: 'ignored@example.com' });
    expect(again.created).toBe(false);
    const row = await tdb.db('users').where({ username_lower: 'admin' }).first();
    expect(row.status).toBe('active');
    expect(row.locked_until).toBeNull();
    expect(await verifyPassword('another-admin-password', row.password_hash)).toBe(true);
  });

  it('generates a password when none is given', async () => {
    await tdb.db('users').delete();
    const made = await ensureFirstSuperuser(tdb.db, tdb.config, {});
    expect(made?.password).toMatch(/^[A-Za-z0-9]{5}(-[A-Za-z0-9]{5}){3}$/);
  });
});
