import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, $, type Agent, type TestApp } from '../support/app';
import { SYSTEM_ACTOR } from '../../src/audit/service';
import * as roleService from '../../src/roles/service';

/**
 * An Administrator (and an API user holding users.manage + api.access, but not Superuser) tries every way to
 * escalate: role permissions, cloning or templating the Superuser role, assignment to the Superuser role
 * through every door, moving users to it on removal, seats and caps. Each attempt must be refused, and at the
 * end nobody's permissions have changed.
 */
let t: TestApp;
let adm: Agent;
let adm2: Agent;
let integToken: string;
const ids: Record<string, number> = {};
const users: Record<string, number> = {};
let snapshot: Awaited<ReturnType<typeof state>>;

/** The accounts every attempt aims at (made before any test); a test's own accounts are its business. */
const CAST = ['root', 'adm', 'victim', 'friend', 'adm2', 'integ'];

/** Everything an escalation would change: who is Superuser, what each user may do, seats, caps, default role. */
async function state() {
  const rows = await t.db('users')
    .leftJoin('roles', 'roles.id', 'users.role_id')
    .whereIn('users.username_lower', CAST)
    .select('users.username', 'users.role_id', 'roles.builtin_key');
  const perms = new Map<number, string[]>();
  for (const r of await t.db('role_permissions').select('role_id', 'permission_key')) {
    perms.set(r.role_id, [...(perms.get(r.role_id) ?? []), r.permission_key].sort());
  }
  return {
    superusers: rows.filter((r: { builtin_key: string }) => r.builtin_key === 'superuser').map((r: { username: string }) => r.username).sort(),
    userPermissions: Object.fromEntries(rows.map((r: { username: string; role_id: number }) => [r.username, perms.get(r.role_id) ?? []])),
    seats: await t.db('license_types').orderBy('id').select('key', 'seat_limit'),
    caps: await t.db('license_caps').orderBy(['license_type_id', 'domain_id']).select('license_type_id', 'domain_id', 'operations'),
    defaultRole: (await t.db('roles').where('is_default', true).pluck('id')) as number[],
  };
}

async function roleOf(username: string): Promise<string> {
  return (await t.db('users').join('roles', 'roles.id', 'users.role_id').where('users.username_lower', username).first('roles.name as n')).n;
}

function api(method: 'get' | 'post' | 'patch' | 'put' | 'delete', url: string) {
  return request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${integToken}`);
}

beforeAll(async () => {
  t = await createTestApp();
  for (const r of await t.db('roles').whereNotNull('builtin_key').select('id', 'builtin_key')) ids[r.builtin_key] = r.id;
  users.root = await t.makeUser({ username: 'root', role: 'superuser' });
  users.adm = await t.makeUser({ username: 'adm', role: 'administrator' });
  users.victim = await t.makeUser({ username: 'victim', role: 'analyst' });
  users.friend = await t.makeUser({ username: 'friend', role: 'viewer' });
  // Roles a Superuser made: a copy of Administrator held by adm2, and an integration role with API access.
  const adminCopy = await roleService.cloneRole(t.db, SYSTEM_ACTOR, ids.administrator, { name: 'Admin copy' });
  ids.adminCopy = adminCopy.id;
  const integrator = await roleService.createRole(t.db, SYSTEM_ACTOR, { name: 'Integrator', templateRoleId: ids.viewer });
  await roleService.replacePermissions(t.db, SYSTEM_ACTOR, integrator.id, ['users.manage', 'api.access']);
  ids.integrator = integrator.id;
  users.adm2 = await t.makeUser({ username: 'adm2', role: 'Admin copy' });
  users.integ = await t.makeUser({ username: 'integ', role: 'Integrator' });
  adm = await t.signIn('adm');
  adm2 = await t.signIn('adm2');
  integToken = await t.token('integ');
  snapshot = await state();
});
afterAll(async () => t?.close());

describe('an Administrator cannot change role permissions', () => {
  it('not on the role page, not even of their own role', async () => {
    const r = await t.db('roles').where({ id: ids.adminCopy }).first();
    const res = await adm2.post(`/roles/${r.id}`).type('form').send({
      _csrf: adm2.csrf,
      name: r.name,
      version: String(r.version),
      permissions_included: '1',
      permissions: ['users.manage', 'access.manage', 'api.access'],
    });
    expect(res.status).toBe(403);
    expect($(res.text)('.field-error').text()).toContain('Only a Superuser may change role permissions');
    // Nor by dropping a permission (any change is refused), nor by omitting the marker with extra boxes.
    const drop = await adm2.post(`/roles/${r.id}`).type('form').send({ _csrf: adm2.csrf, name: r.name, version: String(r.version), permissions_included: '1', permissions: ['users.manage'] });
    expect(drop.status).toBe(403);
    const sneaky = await adm2.post(`/roles/${r.id}`).type('form').send({ _csrf: adm2.csrf, name: r.name, version: String(r.version), permissions: ['api.access'] });
    expect(sneaky.status).toBe(303);
    expect(await state()).toEqual(snapshot);
  });

  it('not in the matrix (cell or column)', async () => {
    const cell = await adm2.post(`/roles/matrix/${ids.adminCopy}`).set('X-CSRF-Token', adm2.csrf).set('HX-Request', 'true').type('form').send({ perm: ['api.access'], cell: 'api.access' });
    expect(cell.status).toBe(403);
    const column = await adm2.post(`/roles/matrix/${ids.adminCopy}`).type('form').send({ _csrf: adm2.csrf, was: 'users.manage,access.manage', perm: ['users.manage', 'access.manage', 'api.access'] });
    expect(column.status).toBe(403);
    expect(await state()).toEqual(snapshot);
  });

  it('not through a role created from a template and then edited', async () => {
    const created = await adm.post('/roles/new').type('form').send({ _csrf: adm.csrf, name: 'My admins', templateRoleId: String(ids.administrator) });
    expect(created.status).toBe(303);
    const id = Number(created.headers.location.split('/').pop());
    const r = await t.db('roles').where({ id }).first();
    const res = await adm.post(`/roles/${id}`).type('form').send({ _csrf: adm.csrf, name: r.name, version: String(r.version), permissions_included: '1', permissions: ['users.manage', 'access.manage', 'api.access'] });
    expect(res.status).toBe(403);
    expect((await t.db('role_permissions').where({ role_id: id }).pluck('permission_key')).sort()).toEqual(['access.manage', 'users.manage']);
    expect(await state()).toEqual(snapshot);
  });
});

describe('an Administrator cannot mint a Superuser-like role', () => {
  it('not from the Superuser template', async () => {
    const res = await adm.post('/roles/new').type('form').send({ _csrf: adm.csrf, name: 'Almighty', templateRoleId: String(ids.superuser) });
    expect(res.status).toBe(403);
    expect($(res.text)('#e-templateRoleId').text()).toContain('Only a Superuser may create a role from the Superuser template');
    expect(await t.db('roles').where('name_lower', 'almighty').first()).toBeUndefined();
  });

  it('not by cloning the Superuser role or a role with permissions they lack', async () => {
    const page = await adm.get(`/roles/${ids.superuser}/clone`);
    expect($(page.text)('.flash-error').text()).toContain('Only a Superuser may clone the Superuser role');
    expect($(page.text)(`form[action$="/clone"]`).length).toBe(0);
    const res = await adm.post(`/roles/${ids.superuser}/clone`).type('form').send({ _csrf: adm.csrf, name: 'Super 2' });
    expect(res.status).toBe(403);
    const integ = await adm.post(`/roles/${ids.integrator}/clone`).type('form').send({ _csrf: adm.csrf, name: 'Integrator 2' });
    expect(integ.status).toBe(403);
    expect(integ.text).toContain('“Access API”, which your own role does not include');
    expect(await t.db('roles').whereIn('name_lower', ['super 2', 'integrator 2']).first()).toBeUndefined();
  });
});

describe('nobody becomes Superuser by assignment unless a Superuser does it', () => {
  it('not with the role’s dual list', async () => {
    const res = await adm.post(`/roles/${ids.superuser}/users`).type('form').send({ _csrf: adm.csrf, users_add: `${users.victim},${users.adm}`, op: 'save' });
    expect(res.status).toBe(403);
    const page = await adm.get(`/roles/${ids.superuser}/users`);
    expect($(page.text)('.flash-info').text()).toContain('Only a Superuser may assign the Superuser role');
    expect(await state()).toEqual(snapshot);
  });

  it('not by demoting a Superuser through another role’s dual list', async () => {
    const res = await adm.post(`/roles/${ids.viewer}/users`).type('form').send({ _csrf: adm.csrf, users_add: String(users.root), op: 'save' });
    expect(res.status).toBe(403);
    expect(res.text).toContain('Only a Superuser may change the role of a Superuser');
    const out = await adm.post(`/roles/${ids.superuser}/users`).type('form').send({ _csrf: adm.csrf, users_remove: String(users.root), op: 'save' });
    expect(out.status).toBe(403);
    expect(await roleOf('root')).toBe('Superuser');
  });

  it('not on the user forms (create and edit)', async () => {
    const v = await t.db('users').where({ id: users.victim }).first();
    const edit = await adm.post(`/users/${users.victim}`).type('form').send({
      _csrf: adm.csrf,
      firstName: 'V',
      lastName: 'V',
      email: 'victim@example.com',
      roleId: String(ids.superuser),
      licenseTypeId: String(v.license_type_id),
      version: String(v.version),
      op: 'save',
    });
    expect(edit.status).toBe(403);
    expect($(edit.text)('#e-roleId').text()).toContain('Only a Superuser may assign the Superuser role');
    const create = await adm.post('/users/new').type('form').send({
      _csrf: adm.csrf,
      username: 'sleeper',
      firstName: 'S',
      lastName: 'L',
      email: 'sleeper@example.com',
      password: 'a-long-test-password-1',
      roleId: String(ids.superuser),
      op: 'save',
    });
    expect(create.status).toBe(403);
    expect(await t.db('users').where('username_lower', 'sleeper').first()).toBeUndefined();
    expect(await state()).toEqual(snapshot);
  });

  it('not a role granting administration permissions the actor lacks (Access API)', async () => {
    const v = await t.db('users').where({ id: users.victim }).first();
    const edit = await adm.post(`/users/${users.victim}`).type('form').send({
      _csrf: adm.csrf,
      firstName: 'V',
      lastName: 'V',
      email: 'victim@example.com',
      roleId: String(ids.integrator),
      licenseTypeId: String(v.license_type_id),
      version: String(v.version),
      op: 'save',
    });
    expect(edit.status).toBe(403);
    expect($(edit.text)('#e-roleId').text()).toContain('Only a Superuser may assign the role Integrator');
    const dual = await adm.post(`/roles/${ids.integrator}/users`).type('form').send({ _csrf: adm.csrf, users_add: String(users.victim), op: 'save' });
    expect(dual.status).toBe(403);
    // As the default role, every new (SSO) account would get it.
    await adm.post(`/roles/${ids.integrator}/default`).type('form').send({ _csrf: adm.csrf });
    expect($((await adm.get('/roles')).text)('.flash-error').text()).toContain('Only a Superuser may assign the role Integrator');
    expect(await state()).toEqual(snapshot);
  });

  it('not by moving a role’s users to Superuser when removing it', async () => {
    const created = await adm.post('/roles/new').type('form').send({ _csrf: adm.csrf, name: 'Doomed', templateRoleId: String(ids.viewer) });
    const id = Number(created.headers.location.split('/').pop());
    expect((await adm.post(`/roles/${id}/users`).type('form').send({ _csrf: adm.csrf, users_add: String(users.friend), op: 'save' })).status).toBe(303);
    const confirm = $((await adm.get(`/roles/${id}/delete`)).text);
    expect(confirm(`select[name=moveTo] option[value="${ids.superuser}"]`).attr('disabled')).toBe('disabled');
    const res = await adm.post(`/roles/${id}/delete`).type('form').send({ _csrf: adm.csrf, moveTo: String(ids.superuser) });
    expect(res.status).toBe(403);
    expect($(res.text)('#e-moveTo').text()).toContain('Only a Superuser may assign the Superuser role');
    expect(await roleOf('friend')).toBe('Doomed');
    expect(await t.db('roles').where({ id }).first()).toBeDefined();
    expect((await adm.post(`/roles/${id}/delete`).type('form').send({ _csrf: adm.csrf, moveTo: String(ids.viewer) })).status).toBe(303);
    expect(await state()).toEqual(snapshot);
  });

  it('nobody moves themselves, nor makes the Superuser role the default', async () => {
    const self = await adm.post(`/roles/${ids.analyst}/users`).type('form').send({ _csrf: adm.csrf, users_add: String(users.adm), op: 'save' });
    expect(self.status).toBe(403);
    const out = await adm.post(`/roles/${ids.administrator}/users`).type('form').send({ _csrf: adm.csrf, users_remove: String(users.adm), op: 'save' });
    expect(out.status).toBe(403);
    await adm.post(`/roles/${ids.superuser}/default`).type('form').send({ _csrf: adm.csrf });
    expect(await state()).toEqual(snapshot);
  });
});

describe('an Administrator cannot change seats or caps', () => {
  it('neither on the licenses pages', async () => {
    expect((await adm.post('/licenses/process_modeler/seats').type('form').send({ _csrf: adm.csrf, seatLimit: '0' })).status).toBe(403);
    expect((await adm.get('/licenses/caps')).status).toBe(403);
    expect((await adm.post('/licenses/caps').type('form').send({ _csrf: adm.csrf, 'was:process_viewer:users': 'R', 'cap:process_viewer:users': ['R', 'M', 'C', 'D'] })).status).toBe(403);
    expect(await state()).toEqual(snapshot);
  });
});

describe('through the API, a user with users.manage and api.access (not Superuser) is refused the same', () => {
  it('role permissions', async () => {
    const res = await api('put', `/roles/${ids.integrator}/permissions`).send({ permissions: ['users.manage', 'api.access', 'access.manage'] });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
  });

  it('assigning the Superuser role (user create / update, role users)', async () => {
    expect((await api('patch', '/users/victim').send({ role: 'Superuser' })).status).toBe(403);
    expect((await api('patch', '/users/integ').send({ role: 'Superuser' })).status).toBe(403);
    const create = await api('post', '/users').send({ username: 'api.sleeper', firstName: 'A', lastName: 'S', email: 'api.sleeper@example.com', password: 'a-long-test-password-1', role: 'superuser' });
    expect(create.status).toBe(403);
    expect((await api('post', `/roles/${ids.superuser}/users`).send({ add: ['victim'] })).status).toBe(403);
    expect((await api('post', `/roles/${ids.superuser}/users`).send({ remove: ['root'] })).status).toBe(403);
    expect((await api('post', `/roles/${ids.analyst}/users`).send({ add: ['root'] })).status).toBe(403);
  });

  it('roles from the Superuser template, clones of it, or roles granting what the caller lacks', async () => {
    expect((await api('post', '/roles').send({ name: 'API super', template: 'superuser' })).status).toBe(403);
    expect((await api('post', '/roles').send({ name: 'API super', cloneOf: ids.superuser })).status).toBe(403);
    const admin = await api('post', '/roles').send({ name: 'API admins', template: 'administrator' });
    expect(admin.status).toBe(403);
    expect(admin.body.error.message).toContain('“Manage access rights”');
  });

  it('moving users to Superuser on removal, seats, caps, default role', async () => {
    const r = await api('post', '/roles').send({ name: 'API doomed', template: 'viewer' });
    expect(r.status).toBe(201);
    expect((await api('post', `/roles/${r.body.id}/users`).send({ add: ['friend'] })).status).toBe(200);
    const del = await api('delete', `/roles/${r.body.id}?moveTo=${ids.superuser}`);
    expect(del.status).toBe(403);
    expect(await roleOf('friend')).toBe('API doomed');
    expect((await api('delete', `/roles/${r.body.id}?moveTo=${ids.viewer}`)).status).toBe(200);
    expect((await api('patch', '/licenses/process_modeler').send({ seatLimit: 1 })).status).toBe(403);
    expect((await api('put', '/licenses/process_viewer/caps').send({ caps: { users: 'RMCD' } })).status).toBe(403);
    expect((await api('put', '/roles/default').send({ role: ids.superuser })).status).toBe(409);
  });

  it('nobody’s permissions, seats or caps have changed (whatever ran before)', async () => {
    expect(await state()).toEqual(snapshot);
  });
});

describe('the same requests succeed for a Superuser (the refusals are about who asks)', () => {
  it('a Superuser may make someone Superuser and edit permissions', async () => {
    // Its own user and role: the refusals above compare everyone's rights with how they started.
    const promoted = await t.makeUser({ username: 'promoted', role: 'analyst' });
    const copy = await roleService.cloneRole(t.db, SYSTEM_ACTOR, ids.administrator, { name: 'Admin copy to widen' });
    const root = await t.signIn('root');
    expect((await root.post(`/roles/${ids.superuser}/users`).type('form').send({ _csrf: root.csrf, users_add: String(promoted), op: 'save' })).status).toBe(303);
    expect(await roleOf('promoted')).toBe('Superuser');
    const cell = await root.post(`/roles/matrix/${copy.id}`).set('X-CSRF-Token', root.csrf).set('HX-Request', 'true').type('form').send({ perm: ['api.access'], cell: 'api.access' });
    expect(cell.status).toBe(200);
    expect(await t.db('role_permissions').where({ role_id: copy.id, permission_key: 'api.access' }).first()).toBeDefined();
  });
});
