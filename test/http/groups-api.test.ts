import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { headPosition } from '../../src/changes/service';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as groupService from '../../src/groups/service';

/** /api/v1/groups, /api/v1/groups/:name/members, /api/v1/group-relations and /api/v1/users/:username/approvers. */
let t: TestApp;
let token: string;

const api = () => request(t.server);
const auth = () => ({ Authorization: `Bearer ${token}` });
const get = (url: string) => api().get(`/api/v1${url}`).set(auth());
const post = (url: string, body: unknown) => api().post(`/api/v1${url}`).set(auth()).send(body as object);
const patch = (url: string, body: unknown) => api().patch(`/api/v1${url}`).set(auth()).send(body as object);
const del = (url: string) => api().delete(`/api/v1${url}`).set(auth());

async function memberNames(name: string): Promise<string[]> {
  const g = await t.db('groups').where({ name_lower: name.toLowerCase() }).first('id');
  const rows = await t.db('users').join('group_members', 'group_members.user_id', 'users.id').where('group_members.group_id', g.id).orderBy('users.username_lower').select('users.username');
  return rows.map((r: { username: string }) => r.username);
}

/** The groups a test starts from, made through the services. */
const engineering = (members: string[] = []) => t.make.makeGroup('Engineering', members, 'Builds things');
async function engineeringApprovedByApprovers() {
  await engineering(['anna', 'bob', 'dave']);
  await t.make.makeGroup('Approvers', ['bob', 'carla']);
  await groupService.addRelation(t.db, SYSTEM_ACTOR, { requester: 'Engineering', approver: 'Approvers' });
}

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  for (const u of ['anna', 'bob', 'carla', 'dave']) await t.makeUser({ username: u });
  token = await t.token('admin');
});
afterAll(async () => t?.close());
// Every test starts without groups (the users stay): it makes the ones it works on.
beforeEach(async () => {
  for (const g of await t.db('groups').select('id')) await groupService.deleteGroup(t.db, SYSTEM_ACTOR, g.id);
});

describe('groups', () => {
  it('creates groups, refusing duplicates, bad names and unknown fields', async () => {
    let res = await post('/groups', { name: 'Engineering', description: 'Builds things' });
    expect(res.status).toBe(201);
    expect(res.headers.location).toBe('/api/v1/groups/Engineering');
    expect(res.body).toMatchObject({ name: 'Engineering', description: 'Builds things', memberCount: 0, version: 1 });
    res = await post('/groups', { name: 'ENGINEERING' });
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.name).toContain('already exists');
    res = await post('/groups', { name: '<script>' });
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.name).toContain('may contain letters');
    res = await post('/groups', { name: 42 });
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.name).toBe('Name must be text.');
    res = await post('/groups', { name: 'X', admin: true });
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields.admin).toBe('admin is not a known field.');
    res = await post('/groups', ['Engineering']);
    expect(res.status).toBe(400);
    res = await api().post('/api/v1/groups').set(auth()).set('Content-Type', 'application/json').send('{"name": ');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('malformed_body');
    expect(Number((await t.db('groups').count({ n: '*' }).first())?.n)).toBe(1);
  });

  it('lists with search and paging, and gets one by name', async () => {
    for (const n of ['Finance', 'Field service', 'Facilities']) expect((await post('/groups', { name: n })).status).toBe(201);
    let res = await get('/groups?q=f&limit=2');
    expect(res.status).toBe(200);
    expect(res.body.items.map((g: { name: string }) => g.name)).toEqual(['Facilities', 'Field service']);
    expect(res.body).toMatchObject({ total: 3, limit: 2, offset: 0, nextOffset: 2 });
    res = await get('/groups?q=f&limit=2&offset=2');
    expect(res.body.items.map((g: { name: string }) => g.name)).toEqual(['Finance']);
    expect(res.body.nextOffset).toBeNull();
    // A value out of range is a 422; a parameter the list does not know is a 400.
    for (const [bad, status] of [['limit=0', 422], ['limit=501', 422], ['offset=-1', 422], ['sort=name', 400], [`q=${'x'.repeat(101)}`, 422]] as const) {
      res = await get(`/groups?${bad}`);
      expect(res.status, bad).toBe(status);
      expect(res.body.error.code).toBe('validation_failed');
    }
    res = await get('/groups/field%20SERVICE');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Field service', approverGroups: [], requesterGroups: [] });
    expect((await get('/groups/Nope')).status).toBe(404);
    expect((await get(`/groups/${'x'.repeat(300)}`)).status).toBe(404);
  });

  it('updates name and description; a stale version is a conflict', async () => {
    await t.make.makeGroup('Finance');
    await t.make.makeGroup('Facilities');
    let res = await patch('/groups/Finance', { description: 'Money' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: 'Finance', description: 'Money', version: 2 });
    res = await patch('/groups/Finance', { name: 'Finance & Control', version: 2 });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe('Finance & Control');
    res = await patch('/groups/Finance%20%26%20Control', { description: 'late', version: 2 });
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('conflict');
    expect((await t.db('groups').where({ name: 'Finance & Control' }).first()).description).toBe('Money');
    res = await patch('/groups/Finance%20%26%20Control', { name: 'facilities' });
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.name).toContain('already exists');
    res = await patch('/groups/Finance%20%26%20Control', { owner: 'x' });
    expect(res.status).toBe(400);
    expect(res.body.error.details.fields.owner).toBeDefined();
    expect((await patch('/groups/Ghost', { description: 'x' })).status).toBe(404);
  });

  it('deletes a group with its memberships and permissions, bumping the access cache counter', async () => {
    await engineering();
    await post('/groups', { name: 'Temp' });
    await post('/groups/Temp/members', { add: ['anna'] });
    const before = await headPosition(t.db);
    let res = await del('/groups/Temp');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: 'Temp', removed: { memberships: 1, domainPermissions: 0, assetShares: 0, relations: 0 } });
    expect(await headPosition(t.db)).toBe(before + 1);
    expect((await get('/groups/Temp')).status).toBe(404);
    res = await del('/groups/Temp');
    expect(res.status).toBe(404);
    expect((await del('/groups/Engineering?cascade=1')).status).toBe(400);
  });
});

describe('members', () => {
  it('adds and removes by username, in one audit event per call', async () => {
    await engineering();
    const since = Number((await t.db('audit_events').max({ id: 'id' }).first())?.id ?? 0);
    let res = await post('/groups/Engineering/members', { add: ['anna', 'BOB', 'carla'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ added: ['anna', 'bob', 'carla'], removed: [], addedCount: 3, memberCount: 3, merged: false });
    res = await post('/groups/Engineering/members', { add: ['dave', 'anna'], remove: ['carla'] });
    expect(res.body).toMatchObject({ added: ['dave'], removed: ['carla'], alreadyMembers: 1, memberCount: 3 });
    expect(await memberNames('Engineering')).toEqual(['anna', 'bob', 'dave']);
    const events = await t.db('audit_events').where({ action: 'group.members', object_label: 'Engineering' }).andWhere('id', '>', since).orderBy('id');
    expect(events.length).toBe(2);
    expect(JSON.parse(events[1].after_json)).toMatchObject({ added: ['dave'], removed: ['carla'] });
  });

  it('merges when the version is stale and says so', async () => {
    await engineering(['anna', 'bob', 'dave']);
    await post('/groups/Engineering/members', { remove: ['dave'] });
    await post('/groups/Engineering/members', { add: ['dave'] });
    const g = await get('/groups/Engineering');
    const stale = g.body.version - 1;
    const res = await post('/groups/Engineering/members', { add: ['carla'], version: stale });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ merged: true, addedCount: 1, memberCount: 4, version: g.body.version + 1 });
    const current = await post('/groups/Engineering/members', { remove: ['carla'], version: res.body.version });
    expect(current.body.merged).toBe(false);
  });

  it('refuses unknown users, contradictions, empty requests and malformed input, changing nothing', async () => {
    await engineering(['anna', 'bob', 'dave']);
    const before = await memberNames('Engineering');
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ add: ['anna', 'ghost', 'phantom'] }, 422, 'add', /Unknown users: ghost, phantom/],
      [{ remove: ['ghost'] }, 422, 'remove', /Unknown user: ghost/],
      [{ add: ['anna'], remove: ['ANNA'] }, 422, 'remove', /both added and removed: anna/],
      [{}, 422, 'add', /at least one username/],
      [{ add: 'anna' }, 422, 'add', /must be a list/],
      [{ add: [42] }, 422, 'add.0', /must be text/],
      [{ add: [''] }, 422, 'add.0', /required/],
      [{ add: ['x'.repeat(65)] }, 422, 'add.0', /at most 64/],
      [{ add: ['anna'], sneaky: 1 }, 400, 'sneaky', /not a known field/],
      [{ add: ['anna'], version: 'latest' }, 422, 'version', /must be a number/],
      [{ add: Array.from({ length: 20_001 }, (_, i) => `u${i}`) }, 422, 'add', /at most 20000/],
    ];
    for (const [payload, status, field, message] of cases) {
      const res = await post('/groups/Engineering/members', payload);
      expect(res.status, JSON.stringify(payload).slice(0, 80)).toBe(status);
      expect(res.body.error.details.fields[field], JSON.stringify(payload).slice(0, 80)).toMatch(message);
    }
    expect(await memberNames('Engineering')).toEqual(before);
    expect((await post('/groups/Nope/members', { add: ['anna'] })).status).toBe(404);
  });

  it('lists members with search and paging', async () => {
    await engineering(['anna', 'bob', 'dave']);
    let res = await get('/groups/Engineering/members?limit=2');
    expect(res.status).toBe(200);
    expect(res.body.items.map((u: { username: string }) => u.username)).toEqual(['anna', 'bob']);
    expect(res.body).toMatchObject({ total: 3, nextOffset: 2 });
    expect(res.body.items[0]).toHaveProperty('addedAt');
    res = await get('/groups/Engineering/members?q=da');
    expect(res.body.items.map((u: { username: string }) => u.username)).toEqual(['dave']);
    expect((await get('/groups/Engineering/members?page=2')).status).toBe(400);
    expect((await get('/groups/Nope/members')).status).toBe(404);
  });
});

describe('relations and approvers', () => {
  it('adds, lists and removes relations by group name', async () => {
    await engineering();
    await post('/groups', { name: 'Approvers' });
    await post('/groups/Approvers/members', { add: ['bob', 'carla'] });
    let res = await post('/group-relations', { requester: 'engineering', approver: 'Approvers' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ requester: 'Engineering', approver: 'Approvers' });
    res = await get('/group-relations?q=appr');
    expect(res.body.items).toMatchObject([{ requester: 'Engineering', approver: 'Approvers' }]);
    expect(res.body.total).toBe(1);
    expect((await get('/groups/Engineering')).body.approverGroups).toEqual(['Approvers']);
    expect((await get('/groups/Approvers')).body.requesterGroups).toEqual(['Engineering']);
  });

  it('refuses self, duplicate, unknown and malformed relations with the field named', async () => {
    await engineeringApprovedByApprovers();
    const cases: Array<[unknown, number, string, RegExp]> = [
      [{ requester: 'Engineering', approver: 'ENGINEERING' }, 422, 'approver', /cannot approve its own/],
      [{ requester: 'Engineering', approver: 'Approvers' }, 422, 'approver', /already approves/],
      [{ requester: 'Nope', approver: 'Approvers' }, 422, 'requester', /no group named "Nope"/],
      [{ requester: 'Engineering' }, 422, 'approver', /Choose the approver group/],
      [{ requester: 'Engineering', approver: 7 }, 422, 'approver', /must be text/],
      [{ requester: 'Engineering', approver: 'Approvers', note: 'x' }, 400, 'note', /not a known field/],
    ];
    for (const [payload, status, field, message] of cases) {
      const res = await post('/group-relations', payload);
      expect(res.status, JSON.stringify(payload)).toBe(status);
      expect(res.body.error.details.fields[field], JSON.stringify(payload)).toMatch(message);
    }
    expect(Number((await t.db('group_relations').count({ n: '*' }).first())?.n)).toBe(1);
  });

  it('tells who approves for a user, and that others publish without approval', async () => {
    await engineeringApprovedByApprovers();
    let res = await get('/users/ANNA/approvers');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      user: 'anna',
      needsApproval: true,
      approverGroups: [{ name: 'Approvers', memberCount: 2, approvesFor: ['Engineering'], includesUser: false }],
      requesterGroups: [{ name: 'Engineering', approvers: ['Approvers'] }],
    });
    res = await get('/users/carla/approvers');
    expect(res.body).toMatchObject({ needsApproval: false, approverGroups: [], requesterGroups: [] });
    expect((await get('/users/ghost/approvers')).status).toBe(404);
    expect((await get(`/users/${'x'.repeat(100)}/approvers`)).status).toBe(404);
  });

  it('removes a relation named in the query string', async () => {
    await engineeringApprovedByApprovers();
    let res = await del('/group-relations?requester=Engineering&approver=Approvers');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: { requester: 'Engineering', approver: 'Approvers' } });
    res = await del('/group-relations?requester=Engineering&approver=Approvers');
    expect(res.status).toBe(404);
    res = await del('/group-relations?requester=Engineering&approver=Nope');
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.approver).toContain('no group named');
    res = await del('/group-relations');
    expect(res.status).toBe(422);
    expect(res.body.error.details.fields.requester).toBeDefined();
    expect((await del('/group-relations?requester=a&approver=b&x=1')).status).toBe(400);
    expect((await get('/users/anna/approvers')).body.needsApproval).toBe(false);
  });

  it('requires a token', async () => {
    expect((await api().get('/api/v1/groups')).status).toBe(401);
    expect((await api().post('/api/v1/group-relations').send({})).status).toBe(401);
  });
});
