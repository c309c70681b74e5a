import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import request from 'supertest';
import { createTestApp, eachTestStartsFromSetUp, $, type Agent, type TestApp } from '../support/app';

/**
 * Roles: list, create from a template, view/edit, clone, default role, removal with moving users,
 * assignment with the dual list, the matrix, and the /api/v1/roles API. Runs on SQLite and MariaDB.
 */
let t: TestApp;
let su: Agent;
let su2: Agent;
let adm: Agent;
const ids: Record<string, number> = {};

async function role(name: string) {
  return t.db('roles').where('name_lower', name.toLowerCase()).first();
}
async function permsOf(id: number): Promise<string[]> {
  return ((await t.db('role_permissions').where({ role_id: id }).pluck('permission_key')) as string[]).sort();
}
async function roleOf(username: string): Promise<string> {
  const r = await t.db('users').join('roles', 'roles.id', 'users.role_id').where('users.username_lower', username.toLowerCase()).first('roles.name as name');
  return r.name;
}
async function countRoles(): Promise<number> {
  return Number((await t.db('roles').count({ n: '*' }).first())!.n);
}
async function audits(action: string) {
  return t.db('audit_events').where({ action }).orderBy('id');
}
/** Creates a role through the page, as a Superuser; returns its id. */
async function createRole(name: string, template = 'analyst', agent = su): Promise<number> {
  const res = await agent.post('/roles/new').type('form').send({ _csrf: agent.csrf, name, description: '', templateRoleId: String(ids[template]) });
  expect(res.status, res.text.slice(0, 400)).toBe(303);
  return Number(res.headers.location.split('/').pop());
}
/** A matrix cell answered by the server (a <td>, parsed in its table context). */
function cell(html: string) {
  return $(`<table><tr>${html}</tr></table>`);
}
function dual(agent: Agent, roleId: number, fields: Record<string, string | string[]>) {
  return agent.post(`/roles/${roleId}/users`).type('form').send({ _csrf: agent.csrf, ...fields });
}

beforeAll(async () => {
  t = await createTestApp();
  for (const r of await t.db('roles').whereNotNull('builtin_key').select('id', 'builtin_key')) ids[r.builtin_key] = r.id;
  await t.makeUser({ username: 'root', role: 'superuser' });
  await t.makeUser({ username: 'root2', role: 'superuser' });
  await t.makeUser({ username: 'adm', role: 'administrator' });
  for (const [u, f, l] of [
    ['anna.berg', 'Anna', 'Berg'],
    ['annika.lund', 'Annika', 'Lund'],
    ['bob.stone', 'Bob', 'Stone'],
    ['carl.viewer', 'Carl', 'Viewer'],
  ]) {
    await t.makeUser({ username: u, firstName: f, lastName: l, role: u === 'carl.viewer' ? 'viewer' : 'analyst' });
  }
  su = await t.signIn('root');
  su2 = await t.signIn('root2');
  adm = await t.signIn('adm');
});
afterAll(async () => t?.close());
eachTestStartsFromSetUp(() => t);

describe('roles list', () => {
  it('lists every role with its user count, license and the checkmark on the default role', async () => {
    const res = await su.get('/roles');
    expect(res.status).toBe(200);
    const $$ = $(res.text);
    const rows = $$('#role-results tbody tr');
    expect(rows.length).toBe(5);
    const analyst = rows.filter((_, r) => $$(r).find('.role-name').text() === 'Analyst');
    expect(analyst.find('.default-mark').length).toBe(1);
    expect($$('#role-results .default-mark').length).toBe(1);
    expect(analyst.find('td.num').last().text().trim()).toBe('3');
    expect(analyst.text()).toContain('Process modeler');
  });

  it('searches by name, as a fragment for htmx and as a whole page without it', async () => {
    const frag = await su.get('/roles?q=VIEW').set('HX-Request', 'true').set('HX-Target', 'section#role-results');
    expect(frag.status).toBe(200);
    expect(frag.text).not.toContain('<html');
    expect($(frag.text)('.role-name').map((_, e) => $(frag.text)(e).text()).get()).toEqual(['Viewer']);
    const full = await su.get('/roles?q=nobody-has-this');
    expect(full.text).toContain('<html');
    expect($(full.text)('#role-results .empty').text()).toContain('No roles match');
  });
});

describe('create a role from a template', () => {
  it('copies the template’s permissions and license type, records the template, audits', async () => {
    const id = await createRole('Auditors', 'viewer');
    const r = await t.db('roles').where({ id }).first();
    expect(r.name).toBe('Auditors');
    expect(r.template_role_id).toBe(ids.viewer);
    expect(r.builtin_key).toBeNull();
    const viewerLicense = (await t.db('roles').where({ id: ids.viewer }).first()).license_type_id;
    expect(r.license_type_id).toBe(viewerLicense);
    expect(await permsOf(id)).toEqual(await permsOf(ids.viewer));
    const ev = (await audits('role.create')).pop();
    expect(ev.object_label).toBe('Auditors');
    expect(JSON.parse(ev.after_json).template).toBe('Viewer');
    const page = await su.get(`/roles/${id}`);
    expect($(page.text)('.flash-success').text()).toContain('created from the template Viewer');
  });

  it('refuses bad names with a message beside the field and writes nothing', async () => {
    await createRole('Auditors', 'viewer');
    const before = await countRoles();
    const cases: Array<[string, RegExp]> = [
      ['', /required/],
      ['   ', /required/],
      ['x'.repeat(101), /at most 100/],
      ['<script>alert(1)</script>', /must not contain/],
      ['auditors', /A role named “Auditors” already exists/],
      ['AUDITORS', /A role named “Auditors” already exists/],
      ['tab\tname', /must not contain/],
    ];
    for (const [name, message] of cases) {
      const res = await su.post('/roles/new').type('form').send({ _csrf: su.csrf, name, templateRoleId: String(ids.analyst) });
      expect(res.status, name).toBe(422);
      const $$ = $(res.text);
      expect($$('#e-name').text(), name).toMatch(message);
      expect($$('#f-name').attr('aria-invalid')).toBe('true');
    }
    expect(await countRoles()).toBe(before);
  });

  it('requires a built-in template', async () => {
    const custom = await t.make.makeRole('Auditors', { template: 'viewer' });
    for (const templateRoleId of ['', 'abc', '999999', String(custom.id), '1 OR 1=1']) {
      const res = await su.post('/roles/new').type('form').send({ _csrf: su.csrf, name: 'Whatever', templateRoleId });
      expect(res.status, templateRoleId).toBe(422);
      expect($(res.text)('#e-templateRoleId').text()).toMatch(/template/i);
    }
    expect(await role('Whatever')).toBeUndefined();
  });

  it('stores unicode and SQL-looking names literally', async () => {
    const id = await createRole('Prüfer – Ωmega 審査', 'viewer');
    expect((await t.db('roles').where({ id }).first()).name).toBe('Prüfer – Ωmega 審査');
    const sql = await createRole("x'; DROP TABLE roles; --", 'viewer');
    expect((await t.db('roles').where({ id: sql }).first()).name).toBe("x'; DROP TABLE roles; --");
    const list = await su.get('/roles?q=%C3%BC');
    expect(list.text).toContain('Prüfer – Ωmega 審査');
  });

  it('offers the Superuser template only to a Superuser', async () => {
    const mine = await su.get('/roles/new');
    expect($(mine.text)(`input[name=templateRoleId][value="${ids.superuser}"]`).attr('disabled')).toBeUndefined();
    const theirs = await adm.get('/roles/new');
    const $$ = $(theirs.text);
    expect($$(`input[name=templateRoleId][value="${ids.superuser}"]`).attr('disabled')).toBe('disabled');
    expect($$('.template.unavailable').first().text()).toContain('Only a Superuser');
  });
});

describe('view and edit a role', () => {
  it('shows a built-in role read-only as “View role”', async () => {
    const res = await su.get(`/roles/${ids.analyst}`);
    const $$ = $(res.text);
    expect($$('h1').text()).toContain('View role');
    expect($$('form.role-form').length).toBe(0);
    expect($$('input[name=permissions]').length).toBe(25);
    expect($$('input[name=permissions]:not([disabled])').length).toBe(0);
    expect($$('input[name=permissions][checked]').length).toBe(22);
    expect($$('a[href$="/delete"]').length).toBe(0);
    const post = await su.post(`/roles/${ids.analyst}`).type('form').send({ _csrf: su.csrf, name: 'Renamed', version: '1' });
    expect(post.status).toBe(409);
    expect(post.text).toContain('built-in role');
    expect((await t.db('roles').where({ id: ids.analyst }).first()).name).toBe('Analyst');
  });

  it('groups permissions by area with their descriptions', async () => {
    const id = (await t.make.makeRole('Area auditors', { template: 'viewer' })).id;
    const $$ = $((await su.get(`/roles/${id}`)).text);
    const legends = $$('fieldset.ap-group legend').map((_, e) => $$(e).text().split('·')[0].trim()).get();
    expect(legends).toEqual(['Models', 'Logs', 'Dashboards', 'Predictive monitoring', 'Data pipelines', 'Administration']);
    expect($$('.ap-desc').first().text()).toBe('Create new process models in the Workspace.');
    expect($$('h1').text()).toContain('Edit role');
  });

  it('lets a Superuser rename and change permissions in one save, audited, version bumped', async () => {
    await t.make.makeRole('Renamed auditors', { template: 'viewer' });
    const r = await role('Renamed auditors');
    const res = await su.post(`/roles/${r.id}`).type('form').send({
      _csrf: su.csrf,
      name: 'Process auditors',
      description: 'Review models',
      version: String(r.version),
      permissions_included: '1',
      permissions: ['models.view', 'models.compare', 'conformance.check'],
    });
    expect(res.status).toBe(303);
    const after = await t.db('roles').where({ id: r.id }).first();
    expect(after.name).toBe('Process auditors');
    expect(after.version).toBe(r.version + 1);
    expect(await permsOf(r.id)).toEqual(['conformance.check', 'models.compare', 'models.view']);
    const ev = (await audits('role.update')).pop();
    expect(JSON.parse(ev.before_json).name).toBe('Renamed auditors');
    expect(JSON.parse(ev.after_json).permissions).toEqual(['conformance.check', 'models.compare', 'models.view']);
  });

  it('can clear every permission (an empty set of ticked boxes)', async () => {
    const id = await createRole('Empty soon', 'viewer');
    const r = await t.db('roles').where({ id }).first();
    const res = await su.post(`/roles/${id}`).type('form').send({ _csrf: su.csrf, name: r.name, version: String(r.version), permissions_included: '1' });
    expect(res.status).toBe(303);
    expect(await permsOf(id)).toEqual([]);
  });

  it('takes more than 20 ticked boxes (the form parser turns long repeats into objects)', async () => {
    const id = await createRole('Wide', 'analyst');
    const r = await t.db('roles').where({ id }).first();
    const wanted = [...(await permsOf(ids.analyst))].filter((k) => k !== 'models.merge');
    expect(wanted.length).toBe(21);
    const res = await su.post(`/roles/${id}`).type('form').send({ _csrf: su.csrf, name: 'Wide', version: String(r.version), permissions_included: '1', permissions: wanted });
    expect(res.status).toBe(303);
    expect(await permsOf(id)).toEqual(wanted.sort());
  });

  it('shows an Administrator the permissions read-only and lets them rename', async () => {
    await t.make.makeRole('Shown auditors', { template: 'viewer', permissions: ['models.view', 'models.compare', 'conformance.check'] });
    const r = await role('Shown auditors');
    const page = await adm.get(`/roles/${r.id}`);
    const $$ = $(page.text);
    expect($$('input[name=permissions_included]').length).toBe(0);
    expect($$('input[name=permissions]:not([disabled])').length).toBe(0);
    expect($$('.role-form .hint').text()).toContain('Only a Superuser may change role permissions');
    const res = await adm.post(`/roles/${r.id}`).type('form').send({ _csrf: adm.csrf, name: 'Shown auditors B', description: 'd', version: String(r.version) });
    expect(res.status).toBe(303);
    expect((await t.db('roles').where({ id: r.id }).first()).name).toBe('Shown auditors B');
    expect(await permsOf(r.id)).toEqual(['conformance.check', 'models.compare', 'models.view']);
  });

  it('refuses a save based on an old version, shows the current state and keeps the input; saving again applies it', async () => {
    await t.make.makeRole('Model auditors', { template: 'viewer', permissions: ['models.view', 'models.compare', 'conformance.check'] });
    const r = await role('Model auditors');
    const form = (agent: Agent, name: string, version: number, permissions: string[]) =>
      agent.post(`/roles/${r.id}`).type('form').send({ _csrf: agent.csrf, name, description: '', version: String(version), permissions_included: '1', permissions });
    expect((await form(su, 'Model auditors', r.version, ['models.view', 'models.compare'])).status).toBe(303);
    const stale = await form(su2, 'Auditors B', r.version, ['models.view', 'logs.filter']);
    expect(stale.status).toBe(409);
    const $$ = $(stale.text);
    expect($$('.conflict').text()).toContain('changed by someone else');
    expect($$('.conflict').text()).toContain('Stored now: name “Model auditors”');
    expect($$('#f-name').attr('value')).toBe('Auditors B');
    expect($$('input[name=permissions][value="logs.filter"]').attr('checked')).toBe('checked');
    const current = await t.db('roles').where({ id: r.id }).first();
    expect($$('input[name=version]').attr('value')).toBe(String(current.version));
    expect(await permsOf(r.id)).toEqual(['models.compare', 'models.view']);
    expect(current.name).toBe('Model auditors');
    expect((await form(su2, 'Auditors B', current.version, ['models.view', 'logs.filter'])).status).toBe(303);
    expect(await permsOf(r.id)).toEqual(['logs.filter', 'models.view']);
  });

  it('answers 404 for unknown roles, never 500', async () => {
    for (const url of ['/roles/999999', '/roles/abc', '/roles/0', '/roles/99999999999', '/roles/999999/clone', '/roles/999999/users']) {
      expect((await su.get(url)).status, url).toBe(404);
    }
    expect((await su.post('/roles/999999').type('form').send({ _csrf: su.csrf, name: 'x' })).status).toBe(404);
  });
});

describe('clone a role', () => {
  it('suggests a free name the administrator can change, and copies permissions, template and license', async () => {
    const form = await su.get(`/roles/${ids.analyst}/clone`);
    expect($(form.text)('#f-name').attr('value')).toBe('Analyst (copy)');
    let res = await su.post(`/roles/${ids.analyst}/clone`).type('form').send({ _csrf: su.csrf, name: 'Analyst (copy)', description: 'c' });
    expect(res.status).toBe(303);
    const copy = await role('Analyst (copy)');
    expect(copy.template_role_id).toBe(ids.analyst);
    expect(copy.license_type_id).toBe((await t.db('roles').where({ id: ids.analyst }).first()).license_type_id);
    expect(await permsOf(copy.id)).toEqual(await permsOf(ids.analyst));
    expect($((await su.get(`/roles/${ids.analyst}/clone`)).text)('#f-name').attr('value')).toBe('Analyst (copy 2)');
    res = await su.post(`/roles/${ids.analyst}/clone`).type('form').send({ _csrf: su.csrf, name: 'Analysts EMEA', description: '' });
    expect(res.status).toBe(303);
    expect(await role('Analysts EMEA')).toBeDefined();
    expect((await audits('role.clone')).length).toBe(2);
  });

  it('a clone of a custom role keeps that role’s template', async () => {
    const src = await t.make.makeRole('Auditors B', { template: 'viewer', permissions: ['models.view', 'logs.filter'] });
    const res = await su.post(`/roles/${src.id}/clone`).type('form').send({ _csrf: su.csrf, name: 'Model auditors 2' });
    expect(res.status).toBe(303);
    const copy = await role('Model auditors 2');
    expect(copy.template_role_id).toBe(ids.viewer);
    expect(await permsOf(copy.id)).toEqual(await permsOf(src.id));
  });

  it('refuses a taken or bad name beside the field', async () => {
    await t.make.makeRole('Analyst (copy)');
    for (const [name, msg] of [
      ['analyst (COPY)', /A role named “Analyst \(copy\)” already exists/],
      ['', /required/],
      ['a<b>', /must not contain/],
    ] as const) {
      const res = await su.post(`/roles/${ids.analyst}/clone`).type('form').send({ _csrf: su.csrf, name });
      expect(res.status).toBe(422);
      expect($(res.text)('#e-name').text()).toMatch(msg);
    }
  });

  it('keeps the suggested name within 100 characters', async () => {
    const long = 'L'.repeat(100);
    const id = await createRole(long, 'viewer');
    const name = $((await su.get(`/roles/${id}/clone`)).text)('#f-name').attr('value')!;
    expect(name.length).toBeLessThanOrEqual(100);
    expect(name.endsWith(' (copy)')).toBe(true);
  });
});

describe('the default role', () => {
  it('moves the checkmark in one transaction: exactly one default role', async () => {
    const designer = ids.model_designer;
    const res = await adm.post(`/roles/${designer}/default`).type('form').send({ _csrf: adm.csrf });
    expect(res.status).toBe(303);
    const defaults = await t.db('roles').where('is_default', true).pluck('id');
    expect(defaults).toEqual([designer]);
    const list = $((await adm.get('/roles')).text);
    expect(list('tr.is-default .role-name').text()).toBe('Model Designer');
    const ev = (await audits('role.set_default')).pop();
    expect(JSON.parse(ev.before_json).defaultRole).toBe('Analyst');
    // Back to Analyst, from the role page this time.
    const back = await su.post(`/roles/${ids.analyst}/default`).type('form').send({ _csrf: su.csrf, back: 'role' });
    expect(back.headers.location).toBe(`/roles/${ids.analyst}`);
    expect(await t.db('roles').where('is_default', true).pluck('id')).toEqual([ids.analyst]);
  });

  it('never makes the Superuser role the default, not even for a Superuser', async () => {
    const res = await su.post(`/roles/${ids.superuser}/default`).type('form').send({ _csrf: su.csrf });
    expect(res.status).toBe(303);
    const page = await su.get('/roles');
    expect($(page.text)('.flash-error').text()).toContain('cannot be the default');
    expect(await t.db('roles').where('is_default', true).pluck('id')).toEqual([ids.analyst]);
  });

  it('new users get the default role', async () => {
    await su.post(`/roles/${ids.model_designer}/default`).type('form').send({ _csrf: su.csrf });
    const res = await su.post('/users/new').type('form').send({
      _csrf: su.csrf,
      username: 'newbie',
      firstName: 'New',
      lastName: 'Bie',
      email: 'newbie@example.com',
      password: 'a-long-test-password-1',
      op: 'save',
    });
    expect(res.status).toBe(303);
    expect(await roleOf('newbie')).toBe('Model Designer');
    await su.post(`/roles/${ids.analyst}/default`).type('form').send({ _csrf: su.csrf });
  });
});

describe('remove a role', () => {
  it('confirms as a page without JavaScript and as a dialog fragment with htmx', async () => {
    const id = (await t.make.makeRole('Model auditors 2', { template: 'viewer' })).id;
    const full = await su.get(`/roles/${id}/delete`);
    expect(full.text).toContain('<html');
    expect($(full.text)('.confirm h2').text()).toBe('Remove role Model auditors 2?');
    const frag = await su.get(`/roles/${id}/delete`).set('HX-Request', 'true').set('HX-Target', 'div#modal-content');
    expect(frag.text).not.toContain('<html');
    expect($(frag.text)('form[action$="/delete"] button.danger').text()).toBe('Remove role');
  });

  it('removes a role nobody holds', async () => {
    const id = (await t.make.makeRole('Model auditors 2', { template: 'viewer' })).id;
    const res = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf });
    expect(res.status).toBe(303);
    expect(await t.db('roles').where({ id }).first()).toBeUndefined();
    expect(await t.db('role_permissions').where({ role_id: id }).first()).toBeUndefined();
  });

  it('asks where holders go, then moves them and removes the role in one transaction', async () => {
    const id = await createRole('Temporary', 'viewer');
    await t.db('users').whereIn('username_lower', ['anna.berg', 'bob.stone']).update({ role_id: id });
    const confirm = $((await su.get(`/roles/${id}/delete`)).text);
    expect(confirm('.confirm p').first().text()).toContain('2 users hold Temporary');
    expect(confirm('select[name=moveTo] option[selected]').text()).toContain('Analyst');
    expect(confirm('.hint').first().text()).toContain('anna.berg');
    const missing = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf, moveTo: '' });
    expect(missing.status).toBe(422);
    expect($(missing.text)('#e-moveTo').text()).toContain('choose the role they move to');
    const self = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf, moveTo: String(id) });
    expect(self.status).toBe(422);
    const gone = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf, moveTo: '999999' });
    expect(gone.status).toBe(422);
    expect(await t.db('roles').where({ id }).first()).toBeDefined();
    const ok = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf, moveTo: String(ids.viewer) });
    expect(ok.status).toBe(303);
    expect(await roleOf('anna.berg')).toBe('Viewer');
    expect(await roleOf('bob.stone')).toBe('Viewer');
    expect(await t.db('roles').where({ id }).first()).toBeUndefined();
    const ev = (await audits('role.delete')).pop();
    expect(JSON.parse(ev.after_json)).toEqual({ usersMoved: 2, movedTo: 'Viewer' });
    await t.db('users').whereIn('username_lower', ['anna.berg', 'bob.stone']).update({ role_id: ids.analyst });
  });

  it('refuses to remove built-in roles, the default role, or the role you hold', async () => {
    for (const id of [ids.viewer, ids.superuser]) {
      const res = await su.post(`/roles/${id}/delete`).type('form').send({ _csrf: su.csrf, moveTo: String(ids.analyst) });
      expect(res.status).toBe(409);
      expect(res.text).toContain('built-in role and cannot be removed');
    }
    const def = await createRole('Default for a moment', 'viewer');
    await su.post(`/roles/${def}/default`).type('form').send({ _csrf: su.csrf });
    const page = $((await su.get(`/roles/${def}/delete`)).text);
    expect(page('.confirm .flash-error').text()).toContain('default role for new users');
    expect(page('.confirm form').length).toBe(0);
    expect((await su.post(`/roles/${def}/delete`).type('form').send({ _csrf: su.csrf })).status).toBe(409);
    await su.post(`/roles/${ids.analyst}/default`).type('form').send({ _csrf: su.csrf });
    const mine = await createRole('Admins of the north', 'administrator');
    await t.db('users').where('username_lower', 'adm').update({ role_id: mine });
    const refused = await adm.post(`/roles/${mine}/delete`).type('form').send({ _csrf: adm.csrf, moveTo: String(ids.viewer) });
    expect(refused.status).toBe(409);
    expect(refused.text).toContain('nobody may change their own role');
    expect(await roleOf('adm')).toBe('Admins of the north');
    await t.db('users').where('username_lower', 'adm').update({ role_id: ids.administrator });
  });
});

describe('assign users with the dual list', () => {
  let target: number;
  beforeEach(async () => {
    target = await createRole('Assignees', 'model_designer');
  });

  it('explains that assigning moves users and where removed users go', async () => {
    const $$ = $((await su.get(`/roles/${target}/users`)).text);
    expect($$('#dl-users h3').map((_, e) => $$(e).text()).get()).toEqual(['Users not assigned to the role', 'Assigned users']);
    expect($$('#dl-users .hint').text()).toContain('moves them out of their current role');
    expect($$('#dl-users .hint').text()).toContain('move to the default role, Analyst');
    expect($$('#dl-users .dl-detail').first().text()).toMatch(/role: \w+/);
  });

  it('moves selected users with > as pending (an htmx fragment), then Save moves them in one transaction', async () => {
    const anna = (await t.db('users').where('username_lower', 'anna.berg').first()).id;
    const annika = (await t.db('users').where('username_lower', 'annika.lund').first()).id;
    const moved = await dual(su, target, { users_lq: 'ann', users_lsel: [String(anna), String(annika)], op: 'users:add' })
      .set('HX-Request', 'true')
      .set('HX-Target', 'fieldset#dl-users');
    expect(moved.status).toBe(200);
    expect(moved.text).not.toContain('<html');
    const $$ = $(moved.text);
    expect($$('input[name=users_add]').attr('value')!.split(',').map(Number).sort()).toEqual([anna, annika].sort());
    expect($$('.pending-summary').text()).toContain('2 users to add');
    expect(await roleOf('anna.berg')).toBe('Analyst');
    const version = (await t.db('roles').where({ id: target }).first()).version;
    const saved = await dual(su, target, { users_add: `${anna},${annika}`, op: 'save' });
    expect(saved.status).toBe(303);
    expect(await roleOf('anna.berg')).toBe('Assignees');
    expect(await roleOf('annika.lund')).toBe('Assignees');
    expect((await t.db('roles').where({ id: target }).first()).version).toBe(version + 1);
    const ev = (await audits('role.assign_users')).pop();
    expect(JSON.parse(ev.after_json).added.sort()).toEqual(['anna.berg', 'annika.lund']);
    expect(JSON.parse(ev.before_json).previousRoles).toEqual({ Analyst: 2 });
    const page = await su.get(`/roles/${target}/users`);
    expect($(page.text)('.flash-success').text()).toContain('2 users moved to Assignees');
  });

  it('removing users moves them to the default role; concurrent saves merge', async () => {
    await dual(su, target, { users_add: String(await t.make.userId('anna.berg')) + ',' + String(await t.make.userId('annika.lund')), op: 'save' });
    const anna = (await t.db('users').where('username_lower', 'anna.berg').first()).id;
    const bob = (await t.db('users').where('username_lower', 'bob.stone').first()).id;
    // Two administrators with pages opened at the same time: one removes anna, the other adds bob.
    const a = await dual(su, target, { users_remove: String(anna), op: 'save' });
    const b = await dual(su2, target, { users_add: String(bob), op: 'save' });
    expect([a.status, b.status]).toEqual([303, 303]);
    expect(await roleOf('anna.berg')).toBe('Analyst');
    expect(await roleOf('bob.stone')).toBe('Assignees');
    expect(await roleOf('annika.lund')).toBe('Assignees');
    // A stale removal of someone who already left does nothing (their new role is kept).
    await t.db('users').where({ id: bob }).update({ role_id: ids.viewer });
    const stale = await dual(su, target, { users_remove: String(bob), op: 'save' });
    expect(stale.status).toBe(303);
    expect(await roleOf('bob.stone')).toBe('Viewer');
    await t.db('users').where({ id: bob }).update({ role_id: ids.analyst });
  });

  it('bumps the version of moved users so an open user form notices', async () => {
    const before = (await t.db('users').where('username_lower', 'carl.viewer').first()).version;
    const carl = (await t.db('users').where('username_lower', 'carl.viewer').first()).id;
    await dual(su, target, { users_add: String(carl), op: 'save' });
    expect((await t.db('users').where({ id: carl }).first()).version).toBe(before + 1);
    await dual(su, ids.viewer, { users_add: String(carl), op: 'save' });
  });

  it('refuses removing users from the default role, with a message in the component', async () => {
    const bob = (await t.db('users').where('username_lower', 'bob.stone').first()).id;
    const page = $((await su.get(`/roles/${ids.analyst}/users`)).text);
    expect(page('#dl-users .dl-noremove').text()).toContain('by being assigned another role');
    const res = await dual(su, ids.analyst, { users_remove: String(bob), op: 'save' });
    expect(res.status).toBe(409);
    expect($(res.text)('#dl-users .field-error').text()).toContain('is the default role');
    expect($(res.text)('input[name=users_remove]').attr('value')).toBe(String(bob));
    expect(await roleOf('bob.stone')).toBe('Analyst');
  });

  it('refuses to move yourself, and to remove the last active Superuser', async () => {
    const root = (await t.db('users').where('username_lower', 'root').first()).id;
    const root2 = (await t.db('users').where('username_lower', 'root2').first()).id;
    const self = await dual(su, target, { users_add: String(root), op: 'save' });
    expect(self.status).toBe(403);
    expect(self.text).toContain('You cannot change your own role');
    expect(await roleOf('root')).toBe('Superuser');
    // root moves root2 out: allowed while root stays. Then root2 (made Superuser again) cannot be removed when
    // root is deactivated.
    expect((await dual(su, target, { users_add: String(root2), op: 'save' })).status).toBe(303);
    expect(await roleOf('root2')).toBe('Assignees');
    await t.db('users').where({ id: root2 }).update({ role_id: ids.superuser });
    await t.db('users').where({ id: root }).update({ status: 'deactivated' });
    const svc = await import('../../src/roles/service');
    await expect(
      svc.assignUsers(t.db, { id: null, username: 'system', ip: 'local', isSuperuser: true }, target, { add: [root2], remove: [] }),
    ).rejects.toThrow(/no active Superuser/);
    expect(await roleOf('root2')).toBe('Superuser');
    await t.db('users').where({ id: root }).update({ status: 'active' });
  });

  it('moves every user matching a search with “All >>” and saves 5,000 users at once', async () => {
    const big = await createRole('Bulk', 'viewer');
    await t.make.bulkUsers('bulk', 5000, 'analyst');
    const all = await dual(su, big, { users_lq: 'bulk', op: 'users:add_all' }).set('HX-Request', 'true').set('HX-Target', 'fieldset#dl-users');
    expect(all.status).toBe(200);
    const add = $(all.text)('input[name=users_add]').attr('value')!;
    expect(add.split(',').length).toBe(5000);
    expect($(all.text)('.pending-summary').text()).toContain('5,000 users to add');
    const saved = await dual(su, big, { users_add: add, op: 'save' });
    expect(saved.status).toBe(303);
    expect(Number((await t.db('users').where({ role_id: big }).count({ n: '*' }).first())!.n)).toBe(5000);
    const ev = (await audits('role.assign_users')).pop();
    expect(JSON.parse(ev.after_json).added.length).toBe(5000);
    // And back out again with "<< All" and Save: they go to the default role.
    const back = await dual(su, big, { op: 'users:remove_all' }).set('HX-Request', 'true').set('HX-Target', 'fieldset#dl-users');
    const remove = $(back.text)('input[name=users_remove]').attr('value')!;
    expect((await dual(su, big, { users_remove: remove, op: 'save' })).status).toBe(303);
    expect(Number((await t.db('users').where({ role_id: big }).count({ n: '*' }).first())!.n)).toBe(0);
  });
});

describe('the role × permission matrix', () => {
  let col: number;
  beforeEach(async () => {
    col = await createRole('Matrix role', 'viewer');
  });

  it('shows roles as columns and permissions as rows grouped by area; built-in columns read-only', async () => {
    const $$ = $((await su.get('/roles/matrix')).text);
    expect($$('thead th.mx-role').length).toBe(await countRoles());
    expect($$('tbody tr:not(.mx-area)').length).toBe(25);
    expect($$('tr.mx-area').length).toBe(6);
    expect($$(`td[id^="mx-${ids.analyst}-"] input`).length).toBe(0);
    expect($$(`td[id^="mx-${ids.analyst}-"][data-granted="true"]`).length).toBe(22);
    expect($$(`td[id^="mx-${col}-"] input[hx-post="/roles/matrix/${col}"]`).length).toBe(25);
    expect($$(`form#mx-col-${col} noscript`).text()).toContain('Save');
    expect($$('.matrix-help').text()).toContain('saved as soon as you tick or clear a box');
  });

  it('saves one cell per htmx request and answers the cell', async () => {
    const version = (await t.db('roles').where({ id: col }).first()).version;
    const on = await su
      .post(`/roles/matrix/${col}`)
      .set('HX-Request', 'true')
      .set('HX-Target', `td#mx-${col}-models-create`)
      .set('X-CSRF-Token', su.csrf)
      .type('form')
      .send({ perm: ['models.view', 'models.create'], cell: 'models.create' });
    expect(on.status).toBe(200);
    const $$ = cell(on.text);
    expect($$('td').attr('id')).toBe(`mx-${col}-models-create`);
    expect($$('td input').attr('checked')).toBe('checked');
    expect($$('.mx-status').text()).toContain('Granted');
    expect(await permsOf(col)).toContain('models.create');
    expect((await t.db('roles').where({ id: col }).first()).version).toBe(version + 1);
    // Unticking: the checkbox's value is absent.
    const off = await su.post(`/roles/matrix/${col}`).set('HX-Request', 'true').set('X-CSRF-Token', su.csrf).type('form').send({ cell: 'models.create' });
    expect(cell(off.text)('td input').attr('checked')).toBeUndefined();
    expect(await permsOf(col)).not.toContain('models.create');
    // Idempotent: unticking again changes nothing and writes no audit event.
    const n = (await audits('role.permissions')).length;
    await su.post(`/roles/matrix/${col}`).set('HX-Request', 'true').set('X-CSRF-Token', su.csrf).type('form').send({ cell: 'models.create' });
    expect((await audits('role.permissions')).length).toBe(n);
  });

  it('refuses a cell of a built-in role and shows the true state in the cell', async () => {
    const res = await su
      .post(`/roles/matrix/${ids.viewer}`)
      .set('HX-Request', 'true')
      .set('X-CSRF-Token', su.csrf)
      .type('form')
      .send({ perm: ['users.manage'], cell: 'users.manage' });
    expect(res.status).toBe(409);
    expect(cell(res.text)('.mx-error').text()).toContain('built-in');
    expect(cell(res.text)('td').attr('data-granted')).toBe('false');
    expect(await permsOf(ids.viewer)).not.toContain('users.manage');
    const bad = await su.post(`/roles/matrix/${col}`).set('HX-Request', 'true').set('X-CSRF-Token', su.csrf).type('form').send({ cell: 'no.such' });
    expect(bad.status).toBe(422);
    expect(cell(bad.text)('.mx-error').text()).toContain('Unknown permission');
  });

  it('without JavaScript, a column’s Save applies only the boxes changed, merging with a concurrent change', async () => {
    const page = $((await su.get('/roles/matrix')).text);
    const was = page(`form#mx-col-${col} input[name=was]`).attr('value')!;
    expect(was.split(',').sort()).toEqual(await permsOf(col));
    // Meanwhile another Superuser grants logs.download through a cell.
    await su2.post(`/roles/matrix/${col}`).set('HX-Request', 'true').set('X-CSRF-Token', su2.csrf).type('form').send({ perm: ['logs.download'], cell: 'logs.download' });
    // The first one ticks dashboards.edit and clears models.compare in the stale page, then saves the column.
    const ticked = was.split(',').filter((k) => k !== 'models.compare').concat('dashboards.edit');
    const res = await su.post(`/roles/matrix/${col}`).type('form').send({ _csrf: su.csrf, was, perm: ticked });
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe(`/roles/matrix#col-${col}`);
    const now = await permsOf(col);
    expect(now).toContain('dashboards.edit');
    expect(now).toContain('logs.download');
    expect(now).not.toContain('models.compare');
    const after = await su.get('/roles/matrix');
    expect($(after.text)('.flash-success').text()).toContain('Saved 2 changes to Matrix role');
  });

  it('is read-only for an Administrator, who cannot post to it', async () => {
    const $$ = $((await adm.get('/roles/matrix')).text);
    expect($$('td.mx-cell input').length).toBe(0);
    expect($$('form[id^=mx-col-]').length).toBe(0);
    expect($$('.flash-info').text()).toContain('Read-only');
    const res = await adm.post(`/roles/matrix/${col}`).set('X-CSRF-Token', adm.csrf).type('form').send({ perm: ['api.access'], cell: 'api.access' });
    expect(res.status).toBe(403);
    expect(await permsOf(col)).not.toContain('api.access');
  });
});

describe('API /api/v1/roles', () => {
  let token: string;
  const api = (method: 'get' | 'post' | 'patch' | 'put' | 'delete', url: string) =>
    request(t.server)[method](`/api/v1${url}`).set('Authorization', `Bearer ${token}`);
  beforeEach(async () => {
    token = await t.token('root');
  });

  it('lists roles with permissions and user counts, searchable and paged', async () => {
    await t.make.makeRole('Analysts EMEA');
    const res = await api('get', '/roles?q=analyst&limit=1');
    expect(res.status).toBe(200);
    expect(res.body.items[0].name).toBe('Analyst');
    expect(res.body.items[0].isDefault).toBe(true);
    expect(res.body.items[0].builtIn).toBe(true);
    expect(res.body.items[0].permissions.length).toBe(22);
    expect(res.body.limit).toBe(1);
    expect(res.body.total).toBeGreaterThan(1);
    expect(res.body.nextOffset).toBe(1);
    const bad = await api('get', '/roles?page=2');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.fields.page).toContain('not a known field');
  });

  it('creates from a template or as a clone; strict validation names the field', async () => {
    const created = await api('post', '/roles').send({ name: 'API auditors', description: 'via API', template: 'viewer' });
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe(`/api/v1/roles/${created.body.id}`);
    expect(created.body.template).toEqual({ id: ids.viewer, name: 'Viewer' });
    expect(created.body.license.key).toBe('process_viewer');
    expect(created.body.permissions).toEqual(await permsOf(ids.viewer));
    const clone = await api('post', '/roles').send({ name: 'API auditors 2', cloneOf: created.body.id });
    expect(clone.status).toBe(201);
    expect(clone.body.template.name).toBe('Viewer');
    const cases: Array<[Record<string, unknown>, number, string]> = [
      [{ name: 'X', template: 'viewer', colour: 'red' }, 400, 'colour'],
      [{ name: 'X' }, 422, '_'],
      [{ name: 'X', template: 'viewer', cloneOf: 1 }, 422, '_'],
      [{ name: 'X', template: 'nonsense' }, 422, 'template'],
      [{ name: 'X', cloneOf: 999999 }, 422, 'cloneOf'],
      [{ name: 'api AUDITORS', template: 'viewer' }, 422, 'name'],
      [{ name: 42, template: 'viewer' }, 422, 'name'],
      [{ name: '<b>x</b>', template: 'viewer' }, 422, 'name'],
    ];
    for (const [body, status, field] of cases) {
      const res = await api('post', '/roles').send(body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(res.body.error.code).toBeTruthy();
      if (field !== '_') expect(Object.keys(res.body.error.details.fields), JSON.stringify(body)).toContain(field);
    }
    const malformed = await api('post', '/roles').set('Content-Type', 'application/json').send('{"name":');
    expect(malformed.status).toBe(400);
    expect((await api('post', '/roles').send([1, 2])).status).toBe(400);
  });

  it('gets, patches (with optimistic version) and deletes with moveTo', async () => {
    const r = (await api('post', '/roles').send({ name: 'API temp', template: 'model_designer' })).body;
    const got = await api('get', `/roles/${r.id}`);
    expect(got.body.userCount).toBe(0);
    const renamed = await api('patch', `/roles/${r.id}`).send({ name: 'API temp 2', version: r.version });
    expect(renamed.status).toBe(200);
    expect(renamed.body.version).toBe(r.version + 1);
    const stale = await api('patch', `/roles/${r.id}`).send({ description: 'late', version: r.version });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('conflict');
    expect((await api('patch', `/roles/${r.id}`).send({ permissions: ['api.access'] })).status).toBe(400);
    expect((await api('patch', `/roles/${ids.viewer}`).send({ name: 'Lookers' })).status).toBe(409);
    await t.db('users').where('username_lower', 'carl.viewer').update({ role_id: r.id });
    const needsTarget = await api('delete', `/roles/${r.id}`);
    expect(needsTarget.status).toBe(422);
    expect(needsTarget.body.error.details.fields.moveTo).toContain('choose the role they move to');
    const del = await api('delete', `/roles/${r.id}?moveTo=${ids.viewer}`);
    expect(del.status).toBe(200);
    expect(del.body).toEqual({ deleted: 'API temp 2', usersMoved: 1, movedTo: 'Viewer' });
    expect((await api('get', `/roles/${r.id}`)).status).toBe(404);
    expect((await api('delete', `/roles/${ids.viewer}?moveTo=${ids.analyst}`)).status).toBe(409);
    expect((await api('delete', `/roles/abc`)).status).toBe(404);
    expect((await api('delete', `/roles/${ids.analyst}?moveTo=x`)).status).toBe(422);
  });

  it('reads and replaces permissions (Superuser)', async () => {
    const r = (await api('post', '/roles').send({ name: 'API perms', template: 'viewer' })).body;
    const got = await api('get', `/roles/${r.id}/permissions`);
    expect(got.body.permissions).toEqual(await permsOf(ids.viewer));
    const put = await api('put', `/roles/${r.id}/permissions`).send({ permissions: ['models.view', 'dashboards.edit'], version: got.body.version });
    expect(put.status).toBe(200);
    expect(put.body.permissions).toEqual(['dashboards.edit', 'models.view']);
    expect(put.body.granted).toEqual(['dashboards.edit']);
    expect(await permsOf(r.id)).toEqual(['dashboards.edit', 'models.view']);
    const stale = await api('put', `/roles/${r.id}/permissions`).send({ permissions: [], version: got.body.version });
    expect(stale.status).toBe(409);
    const unknown = await api('put', `/roles/${r.id}/permissions`).send({ permissions: ['models.view', 'rockets.launch'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details.fields['permissions.1']).toContain('not a permission key');
    expect((await api('put', `/roles/${r.id}/permissions`).send({})).status).toBe(422);
    expect((await api('put', `/roles/${ids.viewer}/permissions`).send({ permissions: [] })).status).toBe(409);
  });

  it('lists a role’s users paged and assigns by username', async () => {
    const r = (await api('post', '/roles').send({ name: 'API assign', template: 'viewer' })).body;
    const add = await api('post', `/roles/${r.id}/users`).send({ add: ['anna.berg', 'ANNIKA.LUND'] });
    expect(add.status).toBe(200);
    expect(add.body.added).toBe(2);
    expect(add.body.userCount).toBe(2);
    const page1 = await api('get', `/roles/${r.id}/users?limit=1`);
    expect(page1.body.total).toBe(2);
    expect(page1.body.items.map((u: { username: string }) => u.username)).toEqual(['anna.berg']);
    expect(page1.body.nextOffset).toBe(1);
    const search = await api('get', `/roles/${r.id}/users?q=lund`);
    expect(search.body.items.map((u: { username: string }) => u.username)).toEqual(['annika.lund']);
    const unknown = await api('post', `/roles/${r.id}/users`).send({ add: ['nobody.here'], remove: ['anna.berg'] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.error.details.fields.add).toContain('nobody.here');
    expect(await roleOf('anna.berg')).toBe('API assign');
    const remove = await api('post', `/roles/${r.id}/users`).send({ remove: ['anna.berg', 'annika.lund'] });
    expect(remove.body.removed).toBe(2);
    expect(remove.body.removedMovedTo.name).toBe('Analyst');
    expect((await api('post', `/roles/${r.id}/users`).send({})).status).toBe(422);
    expect((await api('post', `/roles/${r.id}/users`).send({ add: 'anna.berg' })).status).toBe(422);
  });

  it('changes the default role', async () => {
    const res = await api('put', '/roles/default').send({ role: ids.viewer });
    expect(res.status).toBe(200);
    expect(res.body.isDefault).toBe(true);
    expect(await t.db('roles').where('is_default', true).pluck('id')).toEqual([ids.viewer]);
    expect((await api('put', '/roles/default').send({ role: ids.superuser })).status).toBe(409);
    expect((await api('put', '/roles/default').send({ role: 999999 })).status).toBe(422);
    expect((await api('put', '/roles/default').send({ role: 'Viewer' })).status).toBe(422);
    expect((await api('put', '/roles/default').send({ role: ids.analyst })).status).toBe(200);
  });
});
