import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { $, createTestApp, eachTestStartsFromSetUp, type TestApp } from '../support/app';
import { userEditForm } from '../support/forms';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as roleService from '../../src/roles/service';
import * as groupService from '../../src/groups/service';
import * as permissionService from '../../src/domainPermissions/service';

/**
 * Issue 9, tried as an attacker would: an Administrator (not a Superuser), a custom role with "Manage users"
 * and "Access API", a users-only and an access-only administrator. Every attempt to change a superior
 * account or to raise one's own rights is refused and changes nothing.
 */
let t: TestApp;
const roleIds: Record<string, number> = {};

async function makeRole(name: string, permissions: string[]): Promise<void> {
  const role = await roleService.createRole(t.db, SYSTEM_ACTOR, { name, templateRoleId: roleIds.viewer });
  await roleService.replacePermissions(t.db, SYSTEM_ACTOR, role.id, permissions);
  roleIds[name] = role.id;
}

async function userRow(username: string) {
  return t.db('users').where({ username_lower: username.toLowerCase() }).first();
}

async function groupWithHighAllow(name: string): Promise<number> {
  const g = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name });
  await permissionService.createPermission(t.db, SYSTEM_ACTOR, g.id, {
    effect: 'allow',
    domain: { name: 'Maintenance' },
    workspace: { text: '/Root' },
    transitive: true,
    ops: 'RMCD',
    level: 0,
    priority: 'high',
  });
  return g.id;
}

async function mayDelete(username: string): Promise<boolean> {
  const token = await t.token('root');
  const res = await request(t.server)
    .post('/api/v1/check')
    .set('Authorization', `Bearer ${token}`)
    .send({ user: username, domain: 'Maintenance', operation: 'D', workspace: '/Root' });
  expect(res.status).toBe(200);
  return res.body.allowed;
}

function api(token: string, method: 'get' | 'post' | 'patch' | 'delete', url: string) {
  return request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);
}

beforeAll(async () => {
  t = await createTestApp();
  for (const r of await t.db('roles').whereNotNull('builtin_key').select('id', 'builtin_key')) roleIds[r.builtin_key] = r.id;
  await makeRole('Integrator', ['users.manage', 'api.access']);
  await makeRole('User admin', ['users.manage']);
  await makeRole('Access admin', ['access.manage']);
  await t.makeUser({ username: 'root', role: 'superuser' });
  await t.makeUser({ username: 'adm', role: 'administrator' });
  await t.makeUser({ username: 'peer', role: 'administrator' });
  await t.makeUser({ username: 'integ', role: 'Integrator' });
  await t.makeUser({ username: 'uadmin', role: 'User admin' });
  await t.makeUser({ username: 'aadmin', role: 'Access admin' });
  await t.makeUser({ username: 'plain', role: 'analyst' });
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('account takeover', () => {
  it('an Administrator cannot set a Superuser’s password or email in the console', async () => {
    const adm = await t.signIn('adm');
    const before = await userRow('root');
    const res = await adm.post(`/users/${before.id}`).type('form').send(await userEditForm(adm, before.id, { password: 'the-attackers-password', email: 'attacker@evil.example' }));
    expect(res.status).toBe(403);
    expect($(res.text)('.flash-error, .form-error, .field-error').text()).toMatch(/Superuser/);
    const after = await userRow('root');
    expect(after.email).toBe(before.email);
    expect(after.password_hash).toBe(before.password_hash);
    expect(after.version).toBe(before.version);
    const attacker = await t.anonymous();
    const signIn = await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: 'root', password: 'the-attackers-password' });
    expect(signIn.status).toBe(401);
  });

  it('a custom role with "Access API" cannot change a Superuser or an Administrator through the API', async () => {
    const token = await t.token('integ');
    for (const target of ['root', 'peer']) {
      const before = await userRow(target);
      const res = await api(token, 'patch', `/users/${target}`).send({ password: 'the-attackers-password', email: `${target}@evil.example`, firstName: 'Owned' });
      expect(res.status, target).toBe(403);
      expect(res.body.error.message).toMatch(target === 'root' ? /Superuser/ : /Manage access rights/);
      const after = await userRow(target);
      expect(after).toEqual(before);
      for (const action of ['deactivate', 'unlock', 'end-sessions']) {
        expect((await api(token, 'post', `/users/${target}/${action}`).send({})).status, `${action} ${target}`).toBe(403);
      }
      expect((await api(token, 'delete', `/users/${target}`)).status).toBe(403);
      expect(await userRow(target)).toEqual(before);
    }
  });

  it('an Administrator may still change a peer Administrator and an ordinary user', async () => {
    const adm = await t.signIn('adm');
    const peer = await t.makeUser({ username: 'peer.two', role: 'administrator' });
    const res = await adm.post(`/users/${peer}`).type('form').send(await userEditForm(adm, peer, { firstName: 'Renamed' }));
    expect(res.status).toBe(303);
    expect((await userRow('peer.two')).first_name).toBe('Renamed');
  });

  it('nobody changes their own account through the administration pages', async () => {
    const adm = await t.signIn('adm');
    const me = await userRow('adm');
    const res = await adm.post(`/users/${me.id}`).type('form').send(await userEditForm(adm, me.id, { firstName: 'Myself' }));
    expect(res.status).toBe(403);
    expect(res.text).toContain('My account');
    expect((await userRow('adm')).first_name).toBe(me.first_name);
  });
});

describe('nobody raises their own rights through groups', () => {
  it('a users-only administrator cannot join a group with a High Allow, in the console or the API', async () => {
    const groupId = await groupWithHighAllow('Maintenance crew');
    const uadmin = await t.signIn('uadmin');
    const me = await userRow('uadmin');
    expect(await mayDelete('uadmin')).toBe(false);
    const add = await uadmin.post(`/groups/${groupId}/members/add`).type('form').send({ _csrf: uadmin.csrf, userId: String(me.id) });
    expect([303, 403, 422]).toContain(add.status);
    const form = await uadmin.post(`/groups/${groupId}`).type('form').send({ _csrf: uadmin.csrf, op: 'save', members_add: String(me.id) });
    expect([303, 403, 422]).toContain(form.status);
    expect(await t.db('group_members').where({ group_id: groupId, user_id: me.id }).first()).toBeUndefined();
    expect(await mayDelete('uadmin')).toBe(false);
  });

  it('a users-only administrator cannot put someone else into a group that carries domain permissions either', async () => {
    const groupId = await groupWithHighAllow('Power users');
    const plain = await userRow('plain');
    const uadmin = await t.signIn('uadmin');
    const res = await uadmin.post(`/groups/${groupId}/members/add`).type('form').send({ _csrf: uadmin.csrf, userId: String(plain.id) });
    expect(res.status).toBe(303);
    const page = await uadmin.get(res.headers.location);
    expect(page.text).toContain('carries domain permissions');
    expect(await t.db('group_members').where({ group_id: groupId, user_id: plain.id }).first()).toBeUndefined();
    // A group without domain permissions is theirs to manage.
    const plainGroup = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Book club' });
    await uadmin.post(`/groups/${plainGroup.id}/members/add`).type('form').send({ _csrf: uadmin.csrf, userId: String(plain.id) });
    expect(await t.db('group_members').where({ group_id: plainGroup.id, user_id: plain.id }).first()).toBeTruthy();
  });

  it('nobody adds themself to a group, even a Superuser-free one through the API', async () => {
    const g = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Integrators' });
    const token = await t.token('integ');
    const res = await api(token, 'post', `/groups/${encodeURIComponent(g.name)}/members`).send({ add: ['integ'] });
    expect(res.status).toBe(403);
    expect(await t.db('group_members').where({ group_id: g.id }).first()).toBeUndefined();
  });

  it('an access-only administrator cannot grant a domain permission to a group they belong to', async () => {
    const g = await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Access admins' });
    const me = await userRow('aadmin');
    await groupService.saveMembers(t.db, SYSTEM_ACTOR, g.id, { add: [me.id] });
    const aadmin = await t.signIn('aadmin');
    const domain = await t.db('domains').where({ key: 'maintenance' }).first('id');
    const res = await aadmin.post(`/groups/${g.id}/permissions`).type('form').send({
      _csrf: aadmin.csrf,
      effect: 'allow',
      domain: String(domain.id),
      workspace: '/Root',
      transitive: '1',
      ops: ['R', 'M', 'C', 'D'],
      level: '0',
      priority: 'high',
    });
    expect(res.status).toBe(403);
    expect(await t.db('domain_permissions').where({ group_id: g.id }).first()).toBeUndefined();
    expect(await mayDelete('aadmin')).toBe(false);
  });
});

describe('identifiers compare byte for byte', () => {
  it('a username with trailing spaces is not another spelling of it', async () => {
    await t.makeUser({ username: 'spacey' });
    const token = await t.token('root');
    expect((await api(token, 'get', '/users/spacey')).status).toBe(200);
    expect((await api(token, 'get', '/users/spacey%20%20')).status).toBe(404);
  });

  it('an SSO subject differing in case or trailing spaces is another identity', async () => {
    const users = await import('../../src/users/repo');
    const id = await t.makeUser({ username: 'sso.person' });
    await t.db('users').where({ id }).update({ source: 'sso', sso_subject: 'https://idp.example|AbC' });
    expect((await users.findBySsoSubject(t.db, 'https://idp.example|AbC'))?.id).toBe(id);
    expect(await users.findBySsoSubject(t.db, 'https://idp.example|abc')).toBeUndefined();
    expect(await users.findBySsoSubject(t.db, 'https://idp.example|AbC  ')).toBeUndefined();
  });

  it('a session id in another case is not the session', async () => {
    const sessions = await import('../../src/sessions/repo');
    const agent = await t.signIn('plain');
    expect(agent).toBeTruthy();
    const row = await t.db('sessions').whereNotNull('user_id').first('id');
    const flipped = row.id.replace(/[a-z]/, (c: string) => c.toUpperCase()).replace(/^[A-Z]/, (c: string) => c.toLowerCase());
    if (flipped !== row.id) expect(await sessions.findLive(t.db, flipped, Date.now())).toBeUndefined();
    expect(await sessions.findLive(t.db, `${row.id}  `, Date.now())).toBeUndefined();
  });
});

describe('lengths are checked on the stored, lower-cased form', () => {
  it('answers 422 (not 500, not a silent truncation) when lower-casing lengthens a name past its limit', async () => {
    const token = await t.token('root');
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['/users', { username: 'İ'.repeat(40), firstName: 'A', lastName: 'B', email: 'dotted.i@example.com', password: 'a-long-enough-password' }, 'username'],
      ['/users', { username: 'dotted.name', firstName: 'İ'.repeat(60), lastName: 'B', email: 'dotted.name@example.com', password: 'a-long-enough-password' }, 'firstName'],
      ['/groups', { name: 'İ'.repeat(60) }, 'name'],
      ['/roles', { name: 'İ'.repeat(60), template: 'Viewer' }, 'name'],
    ];
    for (const [url, body, field] of cases) {
      const res = await api(token, 'post', url).send(body);
      expect(res.status, `${url} ${field}`).toBe(422);
      expect(Object.keys(res.body.error.details.fields), `${url} ${field}`).toContain(field);
    }
    expect(await t.db('users').where({ email_lower: 'dotted.i@example.com' }).first()).toBeUndefined();
  });
});

describe('every field’s problem at once', () => {
  it('reports a taken username, a taken email, a weak password and a missing name together (form and API)', async () => {
    await t.makeUser({ username: 'taken.name', email: 'taken@example.com' });
    const root = await t.signIn('root');
    const res = await root.post('/users/new').type('form').send({
      _csrf: root.csrf,
      op: 'save',
      username: 'taken.name',
      firstName: '',
      lastName: 'Person',
      email: 'taken@example.com',
      password: 'short',
    });
    expect(res.status).toBe(422);
    const doc = $(res.text);
    expect(doc('#e-username').text()).toMatch(/taken/);
    expect(doc('#e-email').text()).toMatch(/already/);
    expect(doc('#e-password').text()).toMatch(/at least/);
    expect(doc('#e-firstName').text()).toMatch(/required/);

    const token = await t.token('root');
    const apiRes = await api(token, 'post', '/users').send({ username: 'taken.name', firstName: '', lastName: 'P', email: 'TAKEN@example.com', password: 'short' });
    expect(apiRes.status).toBe(422);
    expect(Object.keys(apiRes.body.error.details.fields).sort()).toEqual(['email', 'firstName', 'password', 'username']);
  });

  it('reports a taken role name together with a wrong template, and a taken group name with a bad description', async () => {
    const root = await t.signIn('root');
    await roleService.createRole(t.db, SYSTEM_ACTOR, { name: 'Taken role', templateRoleId: roleIds.viewer });
    const role = await root.post('/roles/new').type('form').send({ _csrf: root.csrf, name: 'taken ROLE', templateRoleId: '999999' });
    expect(role.status).toBe(422);
    expect($(role.text)('#e-name').text()).toMatch(/A role named “Taken role” already exists/);
    expect($(role.text)('#e-templateRoleId').text()).toMatch(/template/);
    await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Taken group' });
    const token = await t.token('root');
    const group = await api(token, 'post', '/groups').send({ name: 'TAKEN group', description: 'bad \u0007 bell' });
    expect(group.status).toBe(422);
    expect(Object.keys(group.body.error.details.fields).sort()).toEqual(['description', 'name']);
  });
});

describe('a save that changes nothing', () => {
  it('answers 200 through the API without a new version or an audit event', async () => {
    const id = await t.makeUser({ username: 'unchanged' });
    const token = await t.token('root');
    const before = await userRow('unchanged');
    const events = async () => Number((await t.db('audit_events').where({ object_type: 'user', object_id: String(id) }).count({ n: '*' }).first())!.n);
    const eventsBefore = await events();
    const res = await api(token, 'patch', '/users/unchanged').send({});
    expect(res.status).toBe(200);
    expect(res.body.version).toBe(before.version);
    const same = await api(token, 'patch', '/users/unchanged').send({ firstName: before.first_name, email: before.email });
    expect(same.status).toBe(200);
    expect((await userRow('unchanged')).version).toBe(before.version);
    expect(await events()).toBe(eventsBefore);
  });

  it('keeps roles and domain permissions at their version when a PATCH repeats their values', async () => {
    const token = await t.token('root');
    const role = (await api(token, 'post', '/roles').send({ name: 'Same again', template: 'viewer' })).body;
    const sameRole = await api(token, 'patch', `/roles/${role.id}`).send({ name: 'Same again', description: role.description });
    expect(sameRole.status).toBe(200);
    expect(sameRole.body.version).toBe(role.version);

    await groupService.createGroup(t.db, SYSTEM_ACTOR, { name: 'Repeaters' });
    const perm = (await api(token, 'post', '/groups/Repeaters/permissions').send({ effect: 'allow', domain: 'Files', workspace: '/Root', operations: 'R' })).body;
    const events = async () => Number((await t.db('audit_events').where({ object_type: 'domain_permission', object_id: String(perm.id) }).count({ n: '*' }).first())!.n);
    const eventsBefore = await events();
    const samePerm = await api(token, 'patch', `/permissions/${perm.id}`).send({ operations: 'R', effect: 'allow' });
    expect(samePerm.status).toBe(200);
    expect((await t.db('domain_permissions').where({ id: perm.id }).first()).version).toBe(1);
    expect(await events()).toBe(eventsBefore);
  });

  it('says "Nothing to save" in the console, and keeps the version', async () => {
    const id = await t.makeUser({ username: 'still.same' });
    const root = await t.signIn('root');
    const before = await userRow('still.same');
    const res = await root.post(`/users/${id}`).type('form').send(await userEditForm(root, id));
    expect(res.status).toBe(303);
    const page = await root.get(res.headers.location);
    expect($(page.text)('.flash-info, .flash-success').text()).toContain('Nothing to save');
    expect((await userRow('still.same')).version).toBe(before.version);
  });
});

describe('the audit log pages by time', () => {
  it('orders by when events happened, not by id (ids need not follow time on a cluster)', async () => {
    const token = await t.token('root');
    const base = Date.now() + 60_000;
    // Inserted in one id order, happened in the other.
    for (const [i, at] of [base + 3000, base + 1000, base + 2000].entries()) {
      await t.db('audit_events').insert({ at, actor_username: 'clock', action: 'test.clock', object_type: 'test', object_id: String(i), object_label: `event ${i}`, ip: '' });
    }
    const res = await api(token, 'get', '/audit?action=test.clock&limit=2');
    expect(res.status).toBe(200);
    expect(res.body.items.map((e: { objectId: string }) => e.objectId)).toEqual(['0', '2']);
    const next = await api(token, 'get', `/audit?action=test.clock&limit=2&cursor=${res.body.nextCursor}`);
    expect(next.body.items.map((e: { objectId: string }) => e.objectId)).toEqual(['1']);
  });
});
