import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { unique } from '../support/factories';
import { ERROR_SCHEMA, GROUP_SCHEMA, USER_SCHEMA, patchOp, scimClient, type ScimClient } from '../support/scim';

/**
 * The requests Microsoft Entra ID's provisioning service sends, in the order and shape of Microsoft's
 * "Develop and plan provisioning for a SCIM endpoint" request/response examples: a lookup by userName before
 * creating, capitalised ops, "False" as a string, paths with value filters, groups read without members.
 */
let t: TestApp;
let scim: ScimClient;
let owner: string;
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

beforeAll(async () => {
  t = await createTestApp();
  owner = unique('entra-owner');
  await t.makeUser({ username: owner, role: 'superuser' });
  scim = scimClient(t, await t.make.scimToken(owner));
});
afterAll(async () => t?.close());

/** A user as Entra ID creates it (its test user shape), with a fresh userName. */
function entraUser(stem: string) {
  const userName = `${unique(stem)}@testuser.com`;
  return {
    userName,
    body: {
      schemas: [USER_SCHEMA, ENTERPRISE],
      externalId: unique('0a21f0f2-8d2a'),
      userName,
      active: true,
      emails: [{ primary: true, type: 'work', value: `${unique('work')}@testuser.com` }],
      meta: { resourceType: 'User' },
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      roles: [],
      [ENTERPRISE]: { department: 'Sales' },
    },
  };
}

describe('Entra ID provisions, updates, disables and deletes a user', () => {
  it('looks the user up, creates it, reads it back, updates it and disables it', async () => {
    const { userName, body } = entraUser('entra');
    let res = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/scim+json');
    expect(res.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], totalResults: 0, Resources: [] });

    res = await scim.post('/Users', body);
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.headers.location).toMatch(new RegExp(`/scim/v2/Users/${id}$`));
    expect(res.body).toMatchObject({ userName, externalId: body.externalId, active: true, name: { givenName: 'givenName', familyName: 'familyName' } });
    expect(res.body.emails).toEqual([{ value: body.emails[0].value, type: 'work', primary: true }]);
    expect(res.body.meta).toMatchObject({ resourceType: 'User', version: 'W/"1"' });
    expect(res.headers.etag).toBe('W/"1"');

    res = await scim.get(`/Users/${id}`);
    expect(res.status).toBe(200);
    expect(res.body.userName).toBe(userName);

    // Entra ID's other matching attributes: the work email and externalId.
    res = await scim.get(`/Users?filter=${encodeURIComponent(`emails[type eq "work"].value eq "${body.emails[0].value.toUpperCase()}"`)}`);
    expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual([id]);
    res = await scim.get(`/Users?filter=${encodeURIComponent(`externalId eq "${body.externalId}"`)}&attributes=userName`);
    expect(res.body.Resources).toEqual([{ schemas: [USER_SCHEMA, 'urn:ietf:params:scim:schemas:extension:gatehouse:2.0:User'], id, userName }]);

    // Entra ID matches on userName without regard to case.
    res = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName.toUpperCase()}"`)}`);
    expect(res.body.totalResults).toBe(1);
    expect(res.body.Resources[0].id).toBe(id);

    res = await scim.patch(
      `/Users/${id}`,
      patchOp(
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'updatedEmail@testuser.com' },
        { op: 'Replace', path: 'name.familyName', value: 'updatedFamilyName' },
        { op: 'Add', path: `${ENTERPRISE}:department`, value: 'Ignored' },
      ),
    );
    expect(res.status).toBe(200);
    expect(res.body.emails[0].value).toBe('updatedEmail@testuser.com');
    expect(res.body.name.familyName).toBe('updatedFamilyName');
    const stored = await t.make.user(userName);
    expect(stored).toMatchObject({ email: 'updatedEmail@testuser.com', lastName: 'updatedFamilyName' });

    // A value object with dotted keys and booleans as "True"/"False" strings.
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'Replace', value: { 'name.givenName': 'Newgiven', active: 'True' } }));
    expect(res.status).toBe(200);
    expect(res.body.name.givenName).toBe('Newgiven');

    const console = await t.signIn(owner);
    const page = await console.get(`/users/${id}`);
    expect(page.text).toContain('Provisioned by a directory');
    expect(page.text).toContain(body.externalId);

    const signedIn = await t.signIn(userName).catch(() => undefined);
    expect(signedIn, 'a provisioned account has no password until it sets one').toBeUndefined();

    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'Replace', path: 'active', value: 'False' }));
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    expect((await t.make.user(userName)).status).toBe('deactivated');

    res = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}" and active eq False`)}`);
    expect(res.body.totalResults).toBe(1);

    const audit = await t.db('audit_events').where({ object_id: id, object_type: 'user' }).andWhere('action', 'like', 'user.%').orderBy('id').select('action', 'actor_username');
    expect(audit.map((a: { action: string }) => a.action)).toEqual(['user.create', 'user.update', 'user.update', 'user.deactivate']);
    expect(new Set(audit.map((a: { actor_username: string }) => a.actor_username)).size).toBe(1);
    expect(audit[0].actor_username).toMatch(/^client:directory/);
  });

  it('refuses a change of userName with a mutability error, and deletes the user', async () => {
    const { body } = entraUser('entra-del');
    const id = (await scim.post('/Users', body)).body.id;
    let res = await scim.patch(`/Users/${id}`, patchOp({ op: 'Replace', path: 'userName', value: body.userName.toUpperCase() }));
    expect(res.status, 'the same userName in another case changes nothing').toBe(200);
    expect(res.body.userName).toBe(body.userName);
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'Replace', path: 'userName', value: 'someone.else@testuser.com' }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '400', scimType: 'mutability' });

    res = await scim.delete(`/Users/${id}`);
    expect(res.status).toBe(204);
    res = await scim.get(`/Users/${id}`);
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '404' });
  });
});

describe('Entra ID provisions groups', () => {
  it('creates a group, reads it without members, renames it, adds and removes members, deletes it', async () => {
    const members = await Promise.all(['m1', 'm2'].map(async (s) => (await scim.post('/Users', entraUser(s).body)).body.id as string));
    const displayName = unique('Entra Group');
    let res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], externalId: unique('8aa1a0c0'), displayName, meta: { resourceType: 'Group' }, members: [] });
    expect(res.status).toBe(201);
    const id = res.body.id as string;
    expect(res.body).toMatchObject({ displayName, members: [] });

    res = await scim.get(`/Groups/${id}?excludedAttributes=members`);
    expect(res.status).toBe(200);
    expect(res.body.members).toBeUndefined();
    expect(res.body.displayName).toBe(displayName);

    res = await scim.get(`/Groups?excludedAttributes=members&filter=${encodeURIComponent(`displayName eq "${displayName.toLowerCase()}"`)}`);
    expect(res.body.totalResults).toBe(1);

    const renamed = unique('Renamed Group');
    res = await scim.patch(`/Groups/${id}`, patchOp({ op: 'Replace', path: 'displayName', value: renamed }));
    expect(res.status).toBe(200);
    expect(res.body.displayName).toBe(renamed);

    res = await scim.patch(`/Groups/${id}`, patchOp({ op: 'Add', path: 'members', value: members.map((value) => ({ $ref: null, value })) }));
    expect(res.status).toBe(200);
    res = await scim.get(`/Groups?filter=${encodeURIComponent(`id eq "${id}" and members eq "${members[0]}"`)}&excludedAttributes=members`);
    expect(res.body.totalResults).toBe(1);

    res = await scim.patch(`/Groups/${id}`, patchOp({ op: 'Remove', path: 'members', value: [{ $ref: null, value: members[0] }] }));
    expect(res.status).toBe(200);
    res = await scim.patch(`/Groups/${id}`, patchOp({ op: 'Remove', path: `members[value eq "${members[1]}"]` }));
    expect(res.status).toBe(200);
    res = await scim.get(`/Groups/${id}`);
    expect(res.body.members).toEqual([]);
    res = await scim.get(`/Users/${members[0]}`);
    expect(res.body.groups).toEqual([]);

    res = await scim.delete(`/Groups/${id}`);
    expect(res.status).toBe(204);
    expect((await scim.get(`/Groups/${id}`)).status).toBe(404);
  });
});
