import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { seedDemo } from '../../seeds/demo';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as workspaceService from '../../src/workspaces/service';
import * as groupService from '../../src/groups/service';
import * as userService from '../../src/users/service';

/**
 * `npm run seed:demo` adds a demo organisation to whatever is there: on a database where administrators
 * already made workspaces, groups and users it must neither crash nor touch their data, and a phase that
 * fails is rolled back whole with a one-line message.
 */
let tdb: TestDatabase;
const count = async (table: string) => Number((await tdb.db(table).count({ n: '*' }).first())!.n);

beforeAll(async () => {
  tdb = await createTestDatabase();
  const db = tdb.db;
  await userService.createUser(db, SYSTEM_ACTOR, { username: 'anna.admin', firstName: 'Anna', lastName: 'Admin', email: 'anna@example.com', password: 'a-long-enough-password' }, 1024);
  // An administrator's own tree, with the same names the demo uses below its departments.
  const sales = await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name: 'Sales', parent: { text: '/Root' } });
  await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name: 'EMEA', parent: { id: sales.workspace.id } });
  await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name: 'Americas', parent: { id: sales.workspace.id } });
  // Names the demo will want: a department (and its "(demo)" variant) and the first team's group.
  await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name: 'Finance', parent: { text: '/Root' } });
  await workspaceService.createWorkspace(db, SYSTEM_ACTOR, { name: 'Finance (demo)', parent: { text: '/Root' } });
  await groupService.createGroup(db, SYSTEM_ACTOR, { name: 'Key Accounts Amsterdam' });
});
afterAll(async () => tdb?.cleanup());

describe('seed:demo on a database administrators already use', () => {
  it('adds users, groups, workspaces and permissions without touching what was there, and can run again', async () => {
    const salesId = (await tdb.db('workspaces').where({ name: 'Sales' }).first('id')).id;
    const childrenBefore = await tdb.db('workspaces').where({ parent_id: salesId }).orderBy('name').pluck('name');
    const usersBefore = await count('users');
    const first = await seedDemo(tdb.db, { users: 40, scryptN: 1024, password: 'demo-password-2026' });
    expect(first.users).toBe(40);
    expect(first.workspaces).toBeGreaterThan(10);
    expect(first.permissions).toBe(first.groups * 2);
    expect(await count('users')).toBe(usersBefore + 40);
    expect(await tdb.db('workspaces').where({ parent_id: salesId }).orderBy('name').pluck('name')).toEqual(childrenBefore);
    // Believable names: a team in a city, departments, regions and processes; "(demo)" only where a name was taken.
    const groupNames: string[] = await tdb.db('groups').orderBy('id').pluck('name');
    expect(groupNames).toContain('Key Accounts Amsterdam (demo)');
    expect(groupNames).toContain('Accounts Payable Amsterdam');
    expect(groupNames.filter((n) => /\d-\d|Demo team/.test(n))).toEqual([]);
    const top: string[] = await tdb.db('workspaces').where({ parent_id: (await tdb.db('workspaces').whereNull('parent_id').first('id')).id }).pluck('name');
    expect(top).toEqual(expect.arrayContaining(['Sales (demo)', 'Operations', 'Engineering']));
    expect(top.some((n) => n.startsWith('Finance (demo '))).toBe(true);
    const second = await seedDemo(tdb.db, { users: 25, scryptN: 1024, password: 'demo-password-2026' });
    expect(second.users).toBe(25);
    expect(await count('users')).toBe(usersBefore + 65);
    expect(await tdb.db('users').where({ username_lower: 'anna.admin' }).first()).toBeTruthy();
  });

  it('rolls a failing phase back whole and says so in one line, without SQL', async () => {
    await tdb.db.schema.renameTable('asset_shares', 'asset_shares_away');
    try {
      const assetsBefore = await count('assets');
      const usersBefore = await count('users');
      const error = await seedDemo(tdb.db, { users: 10, scryptN: 1024, password: 'demo-password-2026' }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/^Demo data: "Creating 5 assets and their shares…" failed and was rolled back/);
      expect(error?.message).not.toMatch(/\n|insert into|select /i);
      expect(await count('assets')).toBe(assetsBefore);
      // Earlier phases stay: they were complete.
      expect(await count('users')).toBe(usersBefore + 10);
    } finally {
      await tdb.db.schema.renameTable('asset_shares_away', 'asset_shares');
    }
  });
});
