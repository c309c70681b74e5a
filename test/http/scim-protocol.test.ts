import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../support/app';
import { unique } from '../support/factories';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as licenseService from '../../src/licenses/service';
import { ERROR_SCHEMA, GATEHOUSE_USER, GROUP_SCHEMA, SCIM, USER_SCHEMA, patchOp, scimClient, type ScimClient } from '../support/scim';

/** The SCIM protocol as RFC 7643/7644 describe it: discovery, filters, paging, projection, versions, errors and the rules of Gatehouse. */
let t: TestApp;
let scim: ScimClient;
let superuser: string;

beforeAll(async () => {
  t = await createTestApp();
  superuser = unique('scim-su');
  await t.makeUser({ username: superuser, role: 'superuser' });
  scim = scimClient(t, await t.make.scimToken(superuser));
});
afterAll(async () => t?.close());

/** A user created through SCIM; returns its id. */
async function provision(spec: { userName?: string; givenName?: string; familyName?: string; email?: string; externalId?: string; active?: boolean; role?: string; license?: string } = {}) {
  const userName = spec.userName ?? unique('p');
  const res = await scim.post('/Users', {
    schemas: [USER_SCHEMA, GATEHOUSE_USER],
    userName,
    name: { givenName: spec.givenName ?? 'Given', familyName: spec.familyName ?? 'Family' },
    emails: [{ value: spec.email ?? `${userName}@example.com`, primary: true }],
    ...(spec.externalId ? { externalId: spec.externalId } : {}),
    ...(spec.active === false ? { active: false } : {}),
    ...(spec.role || spec.license ? { [GATEHOUSE_USER]: { ...(spec.role ? { role: spec.role } : {}), ...(spec.license ? { license: spec.license } : {}) } } : {}),
  });
  if (res.status !== 201) throw new Error(`provision ${userName}: ${res.status} ${res.text}`);
  return res.body.id as string;
}

const filter = async (f: string, extra = '') => {
  const res = await scim.get(`/Users?filter=${encodeURIComponent(f)}${extra}`);
  return res;
};
const ids = (res: { body: { Resources: Array<{ id: string }> } }) => res.body.Resources.map((r) => r.id).sort();

describe('discovery', () => {
  it('describes exactly what is supported', async () => {
    let res = await scim.get('/ServiceProviderConfig');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/scim+json; charset=utf-8');
    expect(res.body).toMatchObject({ patch: { supported: true }, bulk: { supported: false }, filter: { supported: true, maxResults: 1000 }, sort: { supported: true }, etag: { supported: true }, changePassword: { supported: true } });
    expect(res.body.authenticationSchemes[0].type).toBe('oauthbearertoken');
    res = await scim.get('/ResourceTypes');
    expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual(['User', 'Group']);
    expect(res.body.Resources[0].schemaExtensions).toEqual([{ schema: GATEHOUSE_USER, required: false }]);
    res = await scim.get('/Schemas');
    expect(res.body.Resources.map((r: { id: string }) => r.id)).toEqual([USER_SCHEMA, GATEHOUSE_USER, GROUP_SCHEMA]);
    res = await scim.get(`/Schemas/${USER_SCHEMA}`);
    const userName = res.body.attributes.find((a: { name: string }) => a.name === 'userName');
    expect(userName).toMatchObject({ mutability: 'immutable', uniqueness: 'server', caseExact: false });
    expect((await scim.get('/ResourceTypes/Nothing')).status).toBe(404);
  });
});

describe('authentication', () => {
  it('needs a machine client token with the scim scope whose owner may manage users', async () => {
    let res = await request(t.server).get(`${SCIM}/Users`);
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '401' });
    expect(res.headers['www-authenticate']).toContain('Bearer');
    res = await request(t.server).get(`${SCIM}/Users`).set('Authorization', 'Bearer ghc_nonsense');
    expect(res.status).toBe(401);
    res = await request(t.server).get(`${SCIM}/Users`).set('Authorization', `Bearer ${await t.token(superuser)}`);
    expect(res.status).toBe(403);
    const readOnly = await t.make.makeClient({ owner: superuser, scopes: ['read', 'write'] });
    res = await request(t.server).get(`${SCIM}/Users`).set('Authorization', `Bearer ${await t.make.clientToken(readOnly.id)}`);
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('"scim" scope');
    const viewer = unique('viewer-owner');
    await t.makeUser({ username: viewer, role: 'viewer' });
    res = await scimClient(t, await t.make.scimToken(viewer)).get('/Users');
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('may not manage users');
  });
});

describe('filters', () => {
  it('compares with every operator, combines with and/or/not and parentheses, and follows the case rules', async () => {
    const tag = unique('flt').replace(/[^a-z0-9]/g, '');
    const a = await provision({ userName: `${tag}-alice`, givenName: 'Alice', familyName: 'Zeta', externalId: `${tag}-EXT-a` });
    const b = await provision({ userName: `${tag}-bob`, givenName: 'Bob', familyName: 'Young', externalId: `${tag}-ext-b` });
    const c = await provision({ userName: `${tag}-carol`, givenName: 'Carol', familyName: 'Xavier', active: false });
    const within = (f: string) => filter(`userName sw "${tag}" and (${f})`);

    expect(ids(await within(`userName eq "${tag.toUpperCase()}-ALICE"`))).toEqual([a]);
    expect(ids(await within('name.givenName ne "alice"'))).toEqual([b, c].sort());
    expect(ids(await within('name.familyName co "AV"'))).toEqual([c]);
    expect(ids(await within('userName ew "-BOB"'))).toEqual([b]);
    expect(ids(await within('externalId pr'))).toEqual([a, b].sort());
    expect(ids(await within(`externalId eq "${tag}-ext-a"`)), 'externalId is caseExact').toEqual([]);
    expect(ids(await within(`externalId eq "${tag}-EXT-a"`))).toEqual([a]);
    expect(ids(await within(`externalId co "EXT"`))).toEqual([a]);
    expect(ids(await within(`userName gt "${tag}-b" and userName lt "${tag}-c"`))).toEqual([b]);
    expect(ids(await within(`userName ge "${tag}-bob" and userName le "${tag}-carol"`))).toEqual([b, c].sort());
    expect(ids(await within('active eq false'))).toEqual([c]);
    expect(ids(await within('not (active eq true) or name.givenName eq "Alice"'))).toEqual([a, c].sort());
    expect(ids(await within(`emails[type eq "work" and value co "-bob@"]`))).toEqual([b]);
    expect(ids(await within(`emails.value ew "-carol@example.com"`))).toEqual([c]);
    expect(ids(await within(`urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "young"`))).toEqual([b]);
    expect(ids(await within(`meta.created gt "2000-01-01T00:00:00Z" and name.givenName eq "bob"`))).toEqual([b]);
    expect(ids(await within(`${GATEHOUSE_USER}:role eq "analyst"`))).toEqual([a, b, c].sort());
  });

  it('answers bad filters with 400 invalidFilter', async () => {
    for (const bad of ['userName eq', 'userName xx "a"', '(userName eq "a"', 'nickName eq "x"', 'active gt true', 'meta.created gt "yesterday"', 'userName eq 42']) {
      const res = await filter(bad);
      expect(res.status, bad).toBe(400);
      expect(res.body, bad).toMatchObject({ schemas: [ERROR_SCHEMA], status: '400', scimType: 'invalidFilter' });
    }
  });
});

describe('paging, sorting and projection', () => {
  it('pages with startIndex and count, sorts, and returns only the attributes asked for', async () => {
    const tag = unique('pg').replace(/[^a-z0-9]/g, '');
    const made = [];
    for (const n of ['d', 'b', 'e', 'a', 'c']) made.push(await provision({ userName: `${tag}-${n}`, familyName: n.toUpperCase() }));
    const f = `&filter=${encodeURIComponent(`userName sw "${tag}"`)}`;
    let res = await scim.get(`/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2${f}`);
    expect(res.body).toMatchObject({ totalResults: 5, startIndex: 2, itemsPerPage: 2 });
    expect(res.body.Resources.map((r: { userName: string }) => r.userName)).toEqual([`${tag}-d`, `${tag}-c`]);
    res = await scim.get(`/Users?sortBy=name.familyName&count=1${f}`);
    expect(res.body.Resources[0].userName).toBe(`${tag}-a`);
    res = await scim.get(`/Users?count=0${f}`);
    expect(res.body).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
    res = await scim.get(`/Users?startIndex=9${f}`);
    expect(res.body).toMatchObject({ totalResults: 5, itemsPerPage: 0 });

    res = await scim.get(`/Users/${made[0]}?attributes=userName,name.familyName`);
    expect(res.body).toEqual({ schemas: [USER_SCHEMA, GATEHOUSE_USER], id: made[0], userName: `${tag}-d`, name: { familyName: 'D' } });
    res = await scim.get(`/Users/${made[0]}?excludedAttributes=groups,meta,emails,${GATEHOUSE_USER}:license`);
    expect(Object.keys(res.body).sort()).toEqual(['active', 'id', 'name', 'schemas', 'userName', GATEHOUSE_USER].sort());
    expect(res.body[GATEHOUSE_USER]).toEqual({ role: 'Analyst' });
    expect((await scim.get(`/Users?sortBy=nickName${f}`)).body.scimType).toBe('invalidValue');
  });
});

describe('versions, mutability and malformed requests', () => {
  it('honours If-Match, refuses read-only changes and answers malformed requests in the error schema', async () => {
    const id = await provision();
    let res = await scim.get(`/Users/${id}`);
    const etag = res.headers.etag;
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'replace', path: 'name.givenName', value: 'First' })).set('If-Match', etag);
    expect(res.status).toBe(200);
    expect(res.headers.etag).not.toBe(etag);
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'replace', path: 'name.givenName', value: 'Second' })).set('If-Match', etag);
    expect(res.status).toBe(412);
    expect(res.body.status).toBe('412');
    expect((await scim.delete(`/Users/${id}`).set('If-Match', etag)).status).toBe(412);

    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'add', path: 'groups', value: [{ value: '1' }] }));
    expect(res.body).toMatchObject({ status: '400', scimType: 'mutability' });
    res = await scim.put(`/Users/${id}`, { schemas: [USER_SCHEMA], userName: 'renamed-user' });
    expect(res.body).toMatchObject({ status: '400', scimType: 'mutability' });
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'jump', path: 'active', value: true }));
    expect(res.body).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'replace', path: 'active', value: 'maybe' }));
    expect(res.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
    res = await scim.patch(`/Users/${id}`, patchOp({ op: 'remove', path: 'emails' }));
    expect(res.body).toMatchObject({ status: '400', scimType: 'invalidValue' });

    res = await request(t.server).post(`${SCIM}/Users`).set('Authorization', scim.authorization).set('Content-Type', 'application/scim+json').send('{"userName": ');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ status: '400', scimType: 'invalidSyntax' });
    res = await request(t.server).post(`${SCIM}/Users`).set('Authorization', scim.authorization).type('form').send({ userName: 'x' });
    expect(res.status).toBe(415);
    expect((await scim.get('/Nothing')).status).toBe(404);
    expect((await scim.get('/Users/not-a-number')).status).toBe(404);
    expect((await scim.post('/Bulk', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [] })).status).toBe(501);
    res = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: unique('Ghosts'), members: [{ value: '999999' }] });
    expect(res.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect(res.body.detail).toContain('999999');
    res = await scim.post('/Users', { schemas: [USER_SCHEMA], userName: '<bad>', name: { givenName: 'a', familyName: 'b' }, emails: [{ value: 'x@example.com' }] });
    expect(res.body).toMatchObject({ status: '400', scimType: 'invalidValue' });
    expect(res.body.detail).toContain('userName');
  });
});

describe("Gatehouse's rules", () => {
  it('sets role and license through the extension, and refuses when seats run out', async () => {
    const licenseId = await t.make.licenseId('process_participant');
    const used = Number((await t.db('users').where({ license_type_id: licenseId }).count({ n: '*' }).first())?.n ?? 0);
    await licenseService.setSeatLimit(t.db, SYSTEM_ACTOR, licenseId, { seatLimit: used + 1 });
    const first = await provision({ role: 'Viewer', license: 'Process participant' });
    expect((await scim.get(`/Users/${first}`)).body[GATEHOUSE_USER]).toEqual({ role: 'Viewer', license: 'process_participant' });
    let changed = await scim.patch(`/Users/${first}`, patchOp({ op: 'replace', path: `${GATEHOUSE_USER}:role`, value: 'model_designer' }));
    expect(changed.body[GATEHOUSE_USER]).toEqual({ role: 'Model Designer', license: 'process_participant' });
    changed = await scim.patch(`/Users/${first}`, patchOp({ op: 'Replace', value: { [GATEHOUSE_USER]: { role: 'Viewer' }, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User': { department: 'Ignored' } } }));
    expect(changed.status).toBe(200);
    expect(changed.body[GATEHOUSE_USER].role).toBe('Viewer');
    const userName = unique('no-seat');
    const res = await scim.post('/Users', { schemas: [USER_SCHEMA], userName, name: { givenName: 'No', familyName: 'Seat' }, emails: [{ value: `${userName}@example.com` }], [GATEHOUSE_USER]: { license: 'process_participant' } });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ schemas: [ERROR_SCHEMA], status: '400', scimType: 'invalidValue' });
    expect(res.body.detail).toContain('seats');
    expect(await t.db('users').where({ username_lower: userName.toLowerCase() }).first()).toBeUndefined();
    expect((await scim.post('/Users', { schemas: [USER_SCHEMA], userName, name: { givenName: 'a', familyName: 'b' }, emails: [{ value: `${userName}@example.com` }], [GATEHOUSE_USER]: { role: 'No such role' } })).body.scimType).toBe('invalidValue');
    await licenseService.setSeatLimit(t.db, SYSTEM_ACTOR, licenseId, { seatLimit: null });
  });

  it('acts as the client owner: an administrator client may not change a Superuser, hand out the Superuser role, or change a group with domain permissions without both rights', async () => {
    const admin = unique('usermgr');
    const role = await t.make.makeRole(unique('Users only'), { permissions: ['users.manage'] });
    await t.makeUser({ username: admin, role: role.name });
    const asAdmin = scimClient(t, await t.make.scimToken(admin));
    const target = await t.make.user(superuser);
    let res = await asAdmin.patch(`/Users/${target.id}`, patchOp({ op: 'replace', path: 'active', value: false }));
    expect(res.status).toBe(403);
    expect(res.body.status).toBe('403');
    expect((await t.make.user(superuser)).status).toBe('active');

    const userName = unique('climber');
    res = await asAdmin.post('/Users', { schemas: [USER_SCHEMA], userName, name: { givenName: 'a', familyName: 'b' }, emails: [{ value: `${userName}@example.com` }], [GATEHOUSE_USER]: { role: 'Superuser' } });
    expect(res.status).toBe(403);

    const member = await provision();
    const powerful = unique('Powerful');
    await t.make.makeGroup(powerful);
    await t.make.grant(powerful, { domain: 'Files', workspace: `/Root/${unique('ws')}`, operations: 'R' });
    const groupId = await t.make.groupId(powerful);
    res = await asAdmin.patch(`/Groups/${groupId}`, patchOp({ op: 'add', path: 'members', value: [{ value: member }] }));
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain('domain permissions');
    res = await scim.patch(`/Groups/${groupId}`, patchOp({ op: 'add', path: 'members', value: [{ value: member }] }));
    expect(res.status).toBe(200);
  });

  it('deletes a user who owns assets only when a receiving user is set, who then owns them', async () => {
    const id = await provision();
    const owner = (await scim.get(`/Users/${id}`)).body.userName as string;
    const asset = await t.make.makeAsset({ name: unique('Model'), owner, workspace: `/Root/${unique('assets')}` });
    let res = await scim.delete(`/Users/${id}`);
    expect(res.status).toBe(409);
    expect(res.body.detail).toContain('receiving user');
    expect((await scim.get(`/Users/${id}`)).status).toBe(200);

    const receiver = unique('receiver');
    await t.makeUser({ username: receiver });
    const console = await t.signIn(superuser);
    let page = await console.get('/settings/scim');
    expect(page.status).toBe(200);
    page = await console.post('/settings/scim').type('form').send({ _csrf: console.csrf, receiver: 'nobody-at-all' });
    expect(page.status).toBe(422);
    expect(page.text).toContain('There is no user');
    page = await console.post('/settings/scim').type('form').send({ _csrf: console.csrf, receiver });
    expect(page.status).toBe(303);

    res = await scim.delete(`/Users/${id}`);
    expect(res.status).toBe(204);
    const moved = await t.db('assets').where({ id: asset.id }).first('owner_id');
    expect(moved.owner_id).toBe(await t.make.userId(receiver));
    const event = await t.db('audit_events').where({ action: 'user.delete', object_id: id }).first('after_json', 'actor_username');
    expect(JSON.parse(event.after_json)).toMatchObject({ disposition: 'transfer', transferredTo: receiver });
    expect(event.actor_username).toMatch(/^client:/);
  });
});
