import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { unique } from '../support/factories';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as csvImport from '../../src/users/csvImport';
import * as groupRepo from '../../src/groups/repo';
import { GATEHOUSE_USER, USER_SCHEMA, patchOp, scimClient, type ScimClient } from '../support/scim';

/** A directory's PATCH of a very large group, and directories racing to create the same user. */
let t: TestApp;
let scim: ScimClient;

beforeAll(async () => {
  t = await createTestApp();
  const owner = unique('scale-owner');
  await t.makeUser({ username: owner, role: 'superuser' });
  scim = scimClient(t, await t.make.scimToken(owner));
});
afterAll(async () => t?.close());

/** Users imported from a CSV file (the console's import, without passwords), all members of `group`. */
async function importMembers(stem: string, n: number, group: string): Promise<void> {
  const lines = ['username,first_name,last_name,email,groups'];
  for (let i = 0; i < n; i++) lines.push(`${stem}${i},Member,${i},${stem}${i}@example.com,${group}`);
  const id = await csvImport.checkFile(t.db, SYSTEM_ACTOR, { filename: 'members.csv', stream: Readable.from([lines.join('\n')]) }, { withGroups: true });
  await csvImport.confirmImport(t.db, SYSTEM_ACTOR, id);
}

describe('a group of 20,000 members', () => {
  it('adds one member and removes another by PATCH without reading the members', async () => {
    const name = unique('Everyone');
    const group = await t.make.makeGroup(name);
    const stem = unique('big').replace(/[^a-z0-9]/g, '');
    await importMembers(stem, 20_000, name);
    expect(await groupRepo.memberCount(t.db, group.id)).toBe(20_000);
    const newcomer = (await scim.post('/Users', { schemas: [USER_SCHEMA], userName: unique('newcomer'), name: { givenName: 'New', familyName: 'Comer' }, emails: [{ value: `${unique('nc')}@example.com` }] })).body.id;
    const leaver = String(await t.make.userId(`${stem}123`));

    const queries: string[] = [];
    let rowsRead = 0;
    const onQuery = (q: { sql: string }) => queries.push(q.sql);
    const onResponse = (response: unknown) => {
      if (Array.isArray(response)) rowsRead += response.length;
    };
    t.db.on('query', onQuery).on('query-response', onResponse);
    const res = await scim.patch(`/Groups/${group.id}`, patchOp({ op: 'Add', path: 'members', value: [{ value: newcomer }] }, { op: 'Remove', path: `members[value eq "${leaver}"]` }));
    t.db.off('query', onQuery).off('query-response', onResponse);

    expect(res.status).toBe(200);
    expect(res.body.members, 'the answer leaves the 20,000 members out').toBeUndefined();
    expect(await groupRepo.memberCount(t.db, group.id)).toBe(20_000);
    const rows = await t.db('group_members').where({ group_id: group.id }).whereIn('user_id', [Number(newcomer), Number(leaver)]).select('user_id');
    expect(rows.map((r: { user_id: number }) => String(r.user_id))).toEqual([newcomer]);
    if (process.env.SCIM_SCALE_REPORT) console.log(`PATCH of a 20,000-member group: ${queries.length} queries, ${rowsRead} rows read`);
    expect(queries.length, queries.join('\n')).toBeLessThan(60);
    expect(rowsRead, 'rows read by the PATCH').toBeLessThan(200);

    const audit = await t.db('audit_events').where({ object_type: 'group', object_id: String(group.id), action: 'group.members' }).orderBy('id', 'desc').first('after_json');
    expect(JSON.parse(audit.after_json)).toMatchObject({ addedCount: 1, removedCount: 1, memberCount: 20_000 });
  }, 240_000);
});

describe('directories racing', () => {
  it('creates a user once when the same create arrives eight times at once', async () => {
    const userName = unique('racer');
    const body = { schemas: [USER_SCHEMA, GATEHOUSE_USER], userName, name: { givenName: 'Race', familyName: 'Condition' }, emails: [{ value: `${userName}@example.com`, primary: true }] };
    const answers = await Promise.all(Array.from({ length: 8 }, () => scim.post('/Users', body)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
    for (const r of answers.filter((a) => a.status === 409)) expect(r.body).toMatchObject({ status: '409', scimType: 'uniqueness' });
    expect(Number((await t.db('users').where({ username_lower: userName.toLowerCase() }).count({ n: '*' }).first())?.n)).toBe(1);
  });
});
