import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { unique } from '../support/factories';
import { GROUP_SCHEMA, USER_SCHEMA, patchOp, scimClient, type ScimClient } from '../support/scim';

/**
 * The requests Okta sends, after its "SCIM 2.0 protocol reference": a `userName eq` lookup with startIndex and
 * count before creating, a create with a password, PUT of the whole profile for updates and (older
 * integrations) for deactivation, PATCH `{"active": false}` for deactivation, and Group Push (create with
 * members, rename by PATCH with the id repeated, members added and removed by PATCH, PUT, delete).
 */
let t: TestApp;
let scim: ScimClient;

beforeAll(async () => {
  t = await createTestApp();
  const owner = unique('okta-owner');
  await t.makeUser({ username: owner, role: 'superuser' });
  scim = scimClient(t, await t.make.scimToken(owner));
});
afterAll(async () => t?.close());

function oktaUser(stem: string) {
  const userName = `${unique(stem)}@okta.local`;
  return {
    userName,
    body: {
      schemas: [USER_SCHEMA],
      userName,
      name: { givenName: 'Test', familyName: 'User' },
      emails: [{ primary: true, value: userName, type: 'work' }],
      displayName: 'Test User',
      locale: 'en-US',
      externalId: unique('00ujl29u0le5T6Aj10h7'),
      groups: [],
      password: 'a-long-okta-password-1',
      active: true,
    },
  };
}

describe('Okta provisions, updates, deactivates and reactivates a user', () => {
  it('looks up by userName, creates with a password, reads, updates by PUT and deactivates by PATCH and by PUT', async () => {
    const { userName, body } = oktaUser('okta');
    let res = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    res = await scim.post('/Users', body);
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.body.password).toBeUndefined();
    // The password Okta sent signs the user in.
    await t.signIn(userName, 'a-long-okta-password-1');

    res = await scim.get(`/Users/${id}`);
    expect(res.body).toMatchObject({ id, userName, active: true, groups: [] });

    res = await scim.put(`/Users/${id}`, { ...res.body, name: { givenName: 'Another', familyName: 'Name' } });
    expect(res.status).toBe(200);
    expect(res.body.name).toEqual({ givenName: 'Another', familyName: 'Name' });

    // Okta's deactivation by PATCH ends the user's sessions.
    const session = await t.signIn(userName, 'a-long-okta-password-1');
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'replace', value: { active: false } }));
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    const after = await session.get('/account');
    expect(after.status).toBe(303);

    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'replace', value: { active: true } }));
    expect(res.body.active).toBe(true);

    // Older integrations deactivate with a PUT of the whole profile.
    res = await scim.put(`/Users/${id}`, { ...res.body, active: false });
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    expect((await t.make.user(userName)).status).toBe('deactivated');

    res = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`);
    expect(res.body.totalResults).toBe(1);
    expect(res.body.Resources[0]).toMatchObject({ id, active: false });
  });

  it('answers a duplicate create with 409 uniqueness', async () => {
    const { body } = oktaUser('okta-dup');
    expect((await scim.post('/Users', body)).status).toBe(201);
    const res = await scim.post('/Users', { ...body, externalId: unique('other') });
    expect(res.status).toBe(409);
    expect(res.body).toMatchObject({ status: '409', scimType: 'uniqueness' });
    expect(res.body.detail).toContain('userName');
  });
});

describe('Okta pushes groups', () => {
  it('creates a group with members, renames it, changes members by PATCH and PUT, and deletes it', async () => {
    const ids = await Promise.all(['g1', 'g2', 'g3'].map(async (s) => (await scim.post('/Users', oktaUser(s).body)).body.id as string));
    const displayName = unique('Okta Push');
    let res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName, members: [{ value: ids[0], display: 'g1@okta.local' }] });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([ids[0]]);

    res = await scim.get(`/Groups?filter=${encodeURIComponent(`displayName eq "${displayName}"`)}&startIndex=1&count=100`);
    expect(res.body.totalResults).toBe(1);

    const renamed = unique('Okta Renamed');
    res = await scim.patch(`/Groups/${id}`, patchOp({ op: 'replace', value: { id, displayName: renamed } }));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe(renamed);

    res = await scim.patch(
      `/Groups/${id}`,
      patchOp({ op: 'remove', path: `members[value eq "${ids[0]}"]` }, { op: 'add', path: 'members', value: [{ value: ids[1], display: 'g2' }, { value: ids[2], display: 'g3' }] }),
    );
    expect(res.status).toBe(200);
    res = await scim.get(`/Groups/${id}`);
    expect(res.body.members.map((m: { value: string }) => m.value).sort()).toEqual([ids[1], ids[2]].sort());

    res = await scim.put(`/Groups/${id}`, { schemas: [GROUP_SCHEMA], id, displayName: renamed, members: [{ value: ids[0] }] });
    expect(res.status).toBe(200);
    expect(res.body.members.map((m: { value: string }) => m.value)).toEqual([ids[0]]);

    const audit = await t.db('audit_events').where({ object_type: 'group', object_id: id }).orderBy('id').select('action', 'actor_username');
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['group.create', 'group.members', 'group.update', 'group.members', 'group.members']);
    expect(audit.every((a: { actor_username: string }) => a.actor_username.startsWith('client:directory'))).toBe(true);

    expect((await scim.delete(`/Groups/${id}`)).status).toBe(204);
    expect((await scim.get(`/Groups/${id}`)).status).toBe(404);
  });
});
