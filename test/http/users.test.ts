import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, createTestApp, PASSWORD, type Agent, type TestApp } from '../support/app';
import { userEditForm } from '../support/forms';

let t: TestApp;
let admin: Agent;

const userId = (username: string) => t.make.userId(username);
const roleId = (key: string) => t.make.roleId(key);
const licenseId = (key: string) => t.make.licenseId(key);
const makeGroup = async (name: string, members: string[] = []) => (await t.make.makeGroup(name, members)).id;

function newUserForm(overrides: Record<string, string | string[]> = {}) {
  return {
    _csrf: admin.csrf,
    op: 'save',
    username: 'new.person',
    firstName: 'New',
    lastName: 'Person',
    email: 'new.person@example.com',
    password: 'a-good-long-password',
    roleId: '',
    licenseTypeId: '',
    ...overrides,
  };
}

const editForm = (id: number, overrides: Record<string, string> = {}) => userEditForm(admin, id, overrides);

beforeAll(async () => {
  t = await createTestApp();
  await t.makeUser({ username: 'admin', role: 'superuser' });
  await t.makeUser({ username: 'administrator', role: 'administrator' });
  admin = await t.signIn('admin');
});
afterAll(async () => t?.close());

describe('sign-in', () => {
  it('lists an account paused by failed sign-ins as locked until an administrator unlocks it (one or in bulk)', async () => {
    const id = await t.makeUser({ username: 'guessed.at' });
    const attacker = await t.anonymous();
    for (let i = 0; i < 7; i++) await attacker.post('/login').type('form').send({ _csrf: attacker.csrf, username: 'guessed.at', password: `wrong-guess-${i}-xxxx` });
    const locked = await admin.get('/users').query({ status: 'locked', q: 'guessed' });
    expect($(locked.text)('#user-results tbody td.user-cell a').text()).toBe('guessed.at');
    expect($(locked.text)('#user-results .badge-warn').text()).toContain('Locked');
    expect($((await admin.get('/users').query({ status: 'active', q: 'guessed' })).text)('#user-results tbody td.user-cell a').length).toBe(0);

    const preview = await admin.get('/users/bulk').query({ ids: String(id), action: 'unlock' });
    const fields: Record<string, string> = {};
    $(preview.text)('form[method=post] input[type=hidden]').each((_, el) => {
      fields[$(preview.text)(el).attr('name')!] = $(preview.text)(el).attr('value') ?? '';
    });
    expect((await admin.post('/users/bulk').type('form').send(fields)).status).toBe(303);
    for (let i = 0; i < 50 && (await admin.get('/users').query({ status: 'locked', q: 'guessed' })).text.includes('guessed.at'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await t.signIn('guessed.at')).toBeTruthy();
  });

  it('shows one message for a wrong password, an unknown user and a deactivated account', async () => {
    await t.makeUser({ username: 'sleeper', status: 'deactivated' });
    const messages = new Set<string>();
    for (const [username, password] of [
      ['admin', 'wrong-password-here'],
      ['nobody-here', PASSWORD],
      ['sleeper', PASSWORD],
    ]) {
      const agent = await t.anonymous();
      const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username, password });
      expect(res.status).toBe(401);
      messages.add($(res.text)('.flash-error').text().trim());
    }
    expect(messages.size).toBe(1);
    expect([...messages][0]).toContain('Sign-in failed');
  });

  it('asks for both fields beside them', async () => {
    const agent = await t.anonymous();
    const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: '', password: '' });
    expect(res.status).toBe(422);
    const doc = $(res.text);
    expect(doc('#e-username').text()).toContain('Enter your username');
    expect(doc('#e-password').text()).toContain('Enter your password');
  });

  it('sets an HttpOnly SameSite session cookie, regenerates the session id at sign-in, and records the login', async () => {
    await t.makeUser({ username: 'cookie.check' });
    const agent = await t.anonymous();
    const before = await agent.get('/login');
    const beforeId = /gh_sid=([^;]+)/.exec(String(before.headers['set-cookie'] ?? ''))?.[1];
    const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'COOKIE.check', password: PASSWORD });
    expect(res.status).toBe(303);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/gh_sid=[^;]+;.*httponly/i);
    expect(cookie).toMatch(/samesite=lax/i);
    const afterId = /gh_sid=([^;]+)/.exec(cookie)?.[1];
    expect(afterId).toBeTruthy();
    expect(afterId).not.toBe(beforeId);
    const row = await t.db('users').where({ username_lower: 'cookie.check' }).first();
    expect(Number(row.last_login_at)).toBeGreaterThan(Date.now() - 60_000);
    const session = await t.db('sessions').where({ id: afterId }).first();
    expect(session.user_id).toBe(row.id);
  });

  it('slows guessing after five failures without locking the account, and an administrator can allow sign-in at once', async () => {
    const id = await t.makeUser({ username: 'forgetful' });
    const agent = await t.anonymous();
    for (let i = 0; i < 5; i++) {
      await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'forgetful', password: 'not-the-password' });
    }
    const waiting = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'forgetful', password: PASSWORD });
    expect(waiting.status).toBe(429);
    expect(Number(waiting.headers['retry-after'])).toBeGreaterThan(0);
    const page = await admin.get(`/users/${id}`);
    expect($(page.text)('#sign-in').text()).toContain('Repeated failed sign-ins');
    const unlock = await admin.post(`/users/${id}/unlock`).type('form').send({ _csrf: admin.csrf });
    expect(unlock.status).toBe(303);
    const ok = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'forgetful', password: PASSWORD });
    expect(ok.status).toBe(303);
  });

  it('never redirects to another site after sign-in', async () => {
    await t.makeUser({ username: 'redirected' });
    const agent = await t.anonymous();
    await agent.get('//evil.example/users');
    const res = await agent.post('/login').type('form').send({ _csrf: agent.csrf, username: 'redirected', password: PASSWORD });
    expect(res.headers.location).toBe('/');
  });

  it('signs out and ends the session', async () => {
    const agent = await t.signIn('administrator');
    const res = await agent.post('/logout').type('form').send({ _csrf: agent.csrf });
    expect(res.status).toBe(303);
    const after = await agent.get('/users');
    expect(after.status).toBe(303);
    expect(after.headers.location).toBe('/login');
  });

  it('sends the security headers with a strict CSP', async () => {
    const res = await admin.get('/users');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect($(res.text)('script:not([src])').length).toBe(0);
  });
});

describe('user list', () => {
  beforeAll(async () => {
    await t.makeUser({ username: 'zara.quinn', firstName: 'Zara', lastName: 'Quinn', email: 'zq@corp.example' });
    await t.makeUser({ username: 'zack.quill', firstName: 'Zack', lastName: 'Quill', role: 'viewer' });
    await t.makeUser({ username: 'old.timer', firstName: 'Old', lastName: 'Timer', status: 'deactivated' });
  });

  it('searches username, first and last name and email by prefix, case-insensitively', async () => {
    for (const [q, expected] of [
      ['ZAR', ['zara.quinn']],
      ['za', ['zack.quill', 'zara.quinn']],
      ['quil', ['zack.quill']],
      ['zq@', ['zara.quinn']],
      ['zara quinn', ['zara.quinn']],
    ] as const) {
      const res = await admin.get('/users').query({ q });
      const names = $(res.text)('#user-results tbody td.user-cell a').map((_, a) => $(res.text)(a).text()).get();
      expect(names, q).toEqual(expected);
    }
  });

  it('shows when each user last signed in: a time element for those who did, "never" for the others', async () => {
    await t.makeUser({ username: 'seen.once' });
    await t.makeUser({ username: 'seen.never' });
    await t.signIn('seen.once');
    const page = $((await admin.get('/users').query({ q: 'seen.' })).text);
    const lastCell = (username: string) => page('#user-results tbody tr').filter((_, tr) => page(tr).find('td.user-cell a').text() === username).find('td').last();
    const signedIn = lastCell('seen.once').find('time');
    expect(signedIn.attr('datetime')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(signedIn.text()).toBe('just now');
    // Not a time element with an empty datetime (invalid HTML) and a title of "—".
    expect(lastCell('seen.never').html()).toBe('never');
  });

  it('treats LIKE wildcards and SQL fragments as plain text', async () => {
    for (const q of ['%', '_', "' OR 1=1 --", '\\', '!', '*', '[a']) {
      const res = await admin.get('/users').query({ q });
      expect(res.status).toBe(200);
      expect($(res.text)('#user-results tbody tr').length, q).toBe(0);
    }
    await t.makeUser({ username: 'under_score@x', email: 'under.score@example.com' });
    for (const q of ['under_', 'under_score@', 'UNDER_SCORE@X']) {
      const res = await admin.get('/users').query({ q });
      expect($(res.text)('#user-results tbody td.user-cell a').text(), q).toBe('under_score@x');
    }
    const res = await admin.get('/users').query({ q: 'under%' });
    expect($(res.text)('#user-results tbody tr').length).toBe(0);
  });

  it('filters by role, status, group, license and logged-in-now', async () => {
    // Within the users of this test (the search narrows to them): others may exist.
    await t.makeUser({ username: 'filt.viewer', role: 'viewer' });
    await t.makeUser({ username: 'filt.gone', status: 'deactivated' });
    await t.makeUser({ username: 'filt.night' });
    const list = (query: Record<string, unknown>) => admin.get('/users').query({ q: 'filt.', ...query });
    const names = (html: string) => $(html)('#user-results tbody td.user-cell a').map((_, a) => $(html)(a).text()).get();
    expect(names((await list({ role: await roleId('viewer') })).text)).toEqual(['filt.viewer']);
    expect(names((await list({ status: 'deactivated' })).text)).toEqual(['filt.gone']);
    await makeGroup('Night Shift', ['filt.night']);
    expect(names((await list({ group: 'night shift' })).text)).toEqual(['filt.night']);
    const unknownGroup = await admin.get('/users').query({ group: 'No Such Group' });
    expect(unknownGroup.status).toBe(200);
    expect($(unknownGroup.text)('.flash-error').text()).toContain('No Such Group');
    expect(names((await list({ license: await licenseId('process_viewer') })).text)).toEqual(['filt.viewer']);
    const online = await admin.get('/users').query({ online: '1' });
    const onlineNames = names(online.text);
    expect(onlineNames).toContain('admin');
    expect(onlineNames).not.toContain('filt.night');
  });

  it('sorts and pages', async () => {
    for (const name of ['sorted.amy', 'sorted.bea', 'sorted.cid']) await t.makeUser({ username: name });
    const desc = await admin.get('/users').query({ q: 'sorted.', sort: 'username', dir: 'desc', size: 25 });
    expect($(desc.text)('#user-results tbody td.user-cell a').map((_, a) => $(desc.text)(a).text()).get()).toEqual(['sorted.cid', 'sorted.bea', 'sorted.amy']);
    const page = await admin.get('/users').query({ size: 25, page: 2 });
    expect(page.status).toBe(200);
  });

  it('answers an htmx type-ahead with just the results fragment', async () => {
    const res = await admin.get('/users').query({ q: 'zar' }).set('HX-Request', 'true').set('HX-Target', 'section#user-results');
    expect(res.text.trim().startsWith('<section id="user-results"')).toBe(true);
    expect(res.text).not.toContain('<html');
    expect(res.headers.vary).toContain('HX-Request');
  });

  it('resets filters it does not understand instead of failing', async () => {
    const res = await admin.get('/users').query({ sort: 'password_hash', page: '-3', role: 'abc' });
    expect(res.status).toBe(200);
    expect($(res.text)('.flash-error').text()).toContain('reset');
  });
});

describe('create user', () => {
  it('creates a user with the default role and its license, in chosen groups, and writes an audit event', async () => {
    const gid = await makeGroup('Auditors');
    const res = await admin.post('/users/new').type('form').send(newUserForm({ groups_add: String(gid) }));
    expect(res.status).toBe(303);
    const row = await t.db('users').where({ username_lower: 'new.person' }).first();
    expect(row.role_id).toBe(await roleId('analyst'));
    expect(row.license_type_id).toBe(await licenseId('process_modeler'));
    expect(row.password_hash).toMatch(/^scrypt\$/);
    expect(await t.db('group_members').where({ user_id: row.id, group_id: gid }).first()).toBeTruthy();
    const event = await t.db('audit_events').where({ action: 'user.create', object_id: String(row.id) }).first();
    expect(event.actor_username).toBe('admin');
    expect(event.after_json).not.toContain('scrypt');
    const signIn = await t.signIn('new.person', 'a-good-long-password');
    expect(signIn).toBeTruthy();
  });

  it('puts every problem beside its field and writes nothing', async () => {
    const before = await t.db('users').count({ n: '*' }).first();
    const res = await admin.post('/users/new').type('form').send(newUserForm({ username: '', firstName: '', lastName: 'x'.repeat(101), email: 'not-an-email', password: '' }));
    expect(res.status).toBe(422);
    const doc = $(res.text);
    expect(doc('#e-username').text()).toContain('required');
    expect(doc('#e-firstName').text()).toContain('required');
    expect(doc('#e-lastName').text()).toContain('at most 100');
    expect(doc('#e-email').text()).toContain('valid email');
    expect(doc('#f-username').attr('aria-invalid')).toBe('true');
    const after = await t.db('users').count({ n: '*' }).first();
    expect(Number(after?.n)).toBe(Number(before?.n));
  });

  it('enforces the password policy beside the field', async () => {
    for (const [password, message] of [
      ['short', 'at least 12'],
      ['Policy.Person', 'not be the username'],
      ['policy.person@example.com', 'not be the email'],
    ]) {
      const res = await admin.post('/users/new').type('form').send(newUserForm({ username: 'policy.person', email: 'policy.person@example.com', password }));
      expect(res.status, password).toBe(422);
      expect($(res.text)('#e-password').text()).toContain(message);
    }
  });

  it('refuses duplicate usernames and emails, whatever their case', async () => {
    const dupName = await admin.post('/users/new').type('form').send(newUserForm({ username: 'ADMIN', email: 'other@example.com' }));
    expect(dupName.status).toBe(422);
    expect($(dupName.text)('#e-username').text()).toContain('taken');
    const dupMail = await admin.post('/users/new').type('form').send(newUserForm({ username: 'fresh.one', email: 'ADMIN@example.com' }));
    expect(dupMail.status).toBe(422);
    expect($(dupMail.text)('#e-email').text()).toContain('already');
  });

  it('rejects markup and control characters in usernames, and stores markup in names as inert text', async () => {
    const bad = await admin.post('/users/new').type('form').send(newUserForm({ username: '<script>x', email: 'markup@example.com' }));
    expect(bad.status).toBe(422);
    expect($(bad.text)('#e-username').text()).toContain('letters, digits');
    const res = await admin
      .post('/users/new')
      .type('form')
      .send(newUserForm({ username: 'markup.user', firstName: '<script>alert(1)</script>', lastName: "Robert'); DROP TABLE users;--", email: 'markup@example.com' }));
    expect(res.status).toBe(303);
    const list = await admin.get('/users').query({ q: 'markup' });
    expect(list.text).not.toContain('<script>alert(1)</script>');
    expect(list.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(await t.db('users').count({ n: '*' }).first()).toBeTruthy();
  });

  it('accepts unicode names and usernames', async () => {
    const res = await admin.post('/users/new').type('form').send(newUserForm({ username: 'zoë.müller', firstName: 'Zoë', lastName: 'Müller-Łukasz 山田', email: 'zoe@example.com' }));
    expect(res.status).toBe(303);
    const found = await admin.get('/users').query({ q: 'ZOË' });
    expect($(found.text)('#user-results').text()).toContain('zoë.müller');
    // Accents make different names on both databases (MySQL's default collation would fold them).
    const plain = await admin.post('/users/new').type('form').send(newUserForm({ username: 'zoe.muller', firstName: 'Zoe', lastName: 'Muller', email: 'zoe.plain@example.com' }));
    expect(plain.status).toBe(303);
    const accented = await admin.get('/users').query({ q: 'zoë' });
    const names = $(accented.text)('#user-results tbody td.user-cell a').map((_, a) => $(accented.text)(a).text()).get();
    expect(names).toEqual(['zoë.müller']);
  });

  it('refuses a license whose seats are all taken, with the reason beside the field', async () => {
    const lid = await licenseId('process_participant');
    await t.db('license_types').where({ id: lid }).update({ seat_limit: 0 });
    const res = await admin.post('/users/new').type('form').send(newUserForm({ username: 'no.seat', email: 'no.seat@example.com', licenseTypeId: String(lid) }));
    expect(res.status).toBe(409);
    expect($(res.text)('#e-licenseTypeId').text()).toContain('No Process participant seats left');
    expect(await t.db('users').where({ username_lower: 'no.seat' }).first()).toBeUndefined();
    await t.db('license_types').where({ id: lid }).update({ seat_limit: null });
  });

  it('lets only a Superuser assign the Superuser role', async () => {
    const administrator = await t.signIn('administrator');
    const res = await administrator
      .post('/users/new')
      .type('form')
      .send({ ...newUserForm({ username: 'sneaky', email: 'sneaky@example.com', roleId: String(await roleId('superuser')) }), _csrf: administrator.csrf });
    expect(res.status).toBe(403);
    expect($(res.text)('#e-roleId').text()).toContain('Only a Superuser');
    expect(await t.db('users').where({ username_lower: 'sneaky' }).first()).toBeUndefined();
    const form = await administrator.get('/users/new');
    expect($(form.text)('#f-roleId option').text()).not.toContain('Superuser');
  });

  it('moves groups between the two lists before saving (the form without JavaScript)', async () => {
    const gid = await makeGroup('Pilots');
    const base = newUserForm({ username: 'pending.groups', email: 'pending.groups@example.com' });
    const moved = await admin.post('/users/new').type('form').send({ ...base, op: 'groups:add', groups_lsel: String(gid) });
    expect(moved.status).toBe(200);
    const doc = $(moved.text);
    expect(doc('input[name=groups_add]').val()).toBe(String(gid));
    expect(doc('#dl-groups .dl-pane').last().text()).toContain('Pilots');
    expect(doc('#dl-groups .badge-pending').text()).toContain('will be added');
    expect(doc('#f-username').val()).toBe('pending.groups');
    expect(await t.db('users').where({ username_lower: 'pending.groups' }).first()).toBeUndefined();
    const saved = await admin.post('/users/new').type('form').send({ ...base, groups_add: String(gid) });
    expect(saved.status).toBe(303);
    expect(await t.db('group_members').where({ group_id: gid, user_id: await userId('pending.groups') }).first()).toBeTruthy();
  });
});

describe('edit user', () => {
  it('saves everything but the username, and audits before and after', async () => {
    const id = await t.makeUser({ username: 'editable' });
    const form = await editForm(id, { firstName: 'Edited', email: 'edited@example.com', roleId: String(await roleId('viewer')), licenseTypeId: String(await licenseId('process_viewer')) });
    const res = await admin.post(`/users/${id}`).type('form').send({ ...form, username: 'renamed' });
    expect(res.status).toBe(303);
    const row = await t.db('users').where({ id }).first();
    expect(row.username).toBe('editable');
    expect(row.first_name).toBe('Edited');
    expect(row.role_id).toBe(await roleId('viewer'));
    const event = await t.db('audit_events').where({ action: 'user.update', object_id: String(id) }).first();
    expect(JSON.parse(event.before_json).firstName).toBe('editable');
    expect(JSON.parse(event.after_json).firstName).toBe('Edited');
  });

  it('tells the second of two administrators that the user changed meanwhile, and loses nothing silently', async () => {
    const id = await t.makeUser({ username: 'contested' });
    const first = await editForm(id, { firstName: 'First' });
    const second = await editForm(id, { lastName: 'Second' });
    expect((await admin.post(`/users/${id}`).type('form').send(first)).status).toBe(303);
    const res = await admin.post(`/users/${id}`).type('form').send(second);
    expect(res.status).toBe(409);
    expect($(res.text)('.flash-error').text()).toContain('changed by someone else');
    expect((await t.db('users').where({ id }).first()).first_name).toBe('First');
    // The form kept the second administrator's input with the new version: saving again applies it knowingly.
    const doc = $(res.text);
    const again = { ...second, version: doc('input[name=version]').val() as string };
    expect((await admin.post(`/users/${id}`).type('form').send(again)).status).toBe(303);
    expect((await t.db('users').where({ id }).first()).last_name).toBe('Second');
  });

  it('changes a password, which signs the user out everywhere', async () => {
    const id = await t.makeUser({ username: 'rotating' });
    const agent = await t.signIn('rotating');
    const res = await admin.post(`/users/${id}`).type('form').send(await editForm(id, { password: 'a-brand-new-password' }));
    expect(res.status).toBe(303);
    expect((await agent.get('/account')).status).toBe(303);
    expect(await t.signIn('rotating', 'a-brand-new-password')).toBeTruthy();
  });

  it('refuses to let administrators demote themselves or remove the last active Superuser', async () => {
    const me = await userId('admin');
    const self = await admin.post(`/users/${me}`).type('form').send(await editForm(me, { roleId: String(await roleId('analyst')) }));
    expect(self.status).toBe(403);
    expect($(self.text)('.flash-error').text()).toContain('change it under My account');
    // Another superuser demoting the only other active one is fine while one remains.
    const other = await t.makeUser({ username: 'second.super', role: 'superuser' });
    const ok = await admin.post(`/users/${other}`).type('form').send(await editForm(other, { roleId: String(await roleId('analyst')) }));
    expect(ok.status).toBe(303);
  });

  it('never removes, deactivates or demotes the last active Superuser (even from the shell)', async () => {
    const { SYSTEM_ACTOR } = await import('../../src/audit/service');
    const service = await import('../../src/users/service');
    const others = await t.db('users').join('roles', 'roles.id', 'users.role_id').where('roles.builtin_key', 'superuser').whereNot('users.username_lower', 'admin').select('users.id');
    await t.db('users').whereIn('id', others.map((o: { id: number }) => o.id)).update({ status: 'deactivated' });
    const me = await userId('admin');
    try {
      await expect(service.deleteUser(t.db, SYSTEM_ACTOR, me, {})).rejects.toThrow(/last active Superuser/);
      await expect(service.setStatus(t.db, SYSTEM_ACTOR, me, 'deactivated')).rejects.toThrow(/last active Superuser/);
      const current = await t.db('users').where({ id: me }).first();
      await expect(
        service.updateUser(t.db, SYSTEM_ACTOR, me, { firstName: 'a', lastName: 'b', email: current.email, roleId: await roleId('analyst'), licenseTypeId: current.license_type_id }, 1024),
      ).rejects.toThrow();
      expect((await t.db('users').where({ id: me }).first()).role_id).toBe(await roleId('superuser'));
    } finally {
      await t.db('users').whereIn('id', others.map((o: { id: number }) => o.id)).update({ status: 'active' });
    }
  });

  it('answers 404 for users that do not exist or malformed ids', async () => {
    expect((await admin.get('/users/999999')).status).toBe(404);
    expect((await admin.get('/users/abc')).status).toBe(404);
    expect((await admin.get('/users/99999999999999')).status).toBe(404);
  });
});

describe('deactivate, reactivate, end sessions', () => {
  it('deactivates (ending sessions and sign-in) and reactivates', async () => {
    const id = await t.makeUser({ username: 'pausable' });
    const agent = await t.signIn('pausable');
    const res = await admin.post(`/users/${id}/deactivate`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect((await agent.get('/account')).status).toBe(303);
    await expect(t.signIn('pausable')).rejects.toThrow();
    await admin.post(`/users/${id}/reactivate`).type('form').send({ _csrf: admin.csrf });
    expect(await t.signIn('pausable')).toBeTruthy();
  });

  it('will not deactivate yourself', async () => {
    const res = await admin.post(`/users/${await userId('admin')}/deactivate`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    const page = await admin.get(res.headers.location);
    expect($(page.text)('.flash-error').text()).toContain('your own account');
    expect((await t.db('users').where({ username_lower: 'admin' }).first()).status).toBe('active');
  });

  it('ends all sessions of a user', async () => {
    const id = await t.makeUser({ username: 'multi.device' });
    const a = await t.signIn('multi.device');
    const b = await t.signIn('multi.device');
    const res = await admin.post(`/users/${id}/end-sessions`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect((await a.get('/account')).status).toBe(303);
    expect((await b.get('/account')).status).toBe(303);
  });
});

describe('remove user', () => {
  async function giveAssets(owner: number, count: number) {
    const { username } = await t.db('users').where({ id: owner }).first('username');
    for (let i = 0; i < count; i++) await t.make.makeAsset({ name: `Model ${owner}-${i}`, owner: username, workspace: '/Root' });
  }

  it('removes a user without assets after a confirmation', async () => {
    const id = await t.makeUser({ username: 'leaver' });
    const confirm = await admin.get(`/users/${id}/delete`);
    expect(confirm.status).toBe(200);
    expect($(confirm.text)('.confirm').text()).toContain('owns no assets');
    const dialog = await admin.get(`/users/${id}/delete`).set('HX-Request', 'true').set('HX-Target', 'div#modal-content');
    expect(dialog.text).not.toContain('<html');
    expect(dialog.text).toContain('Remove user leaver?');
    const res = await admin.post(`/users/${id}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(303);
    expect(await t.db('users').where({ id }).first()).toBeUndefined();
    expect(await t.db('audit_events').where({ action: 'user.delete', object_id: String(id) }).first()).toBeTruthy();
  });

  it('lists the assets and transfers them to the chosen user in one go', async () => {
    const id = await t.makeUser({ username: 'owner.leaving' });
    const heir = await t.makeUser({ username: 'heir' });
    await giveAssets(id, 3);
    const confirm = await admin.get(`/users/${id}/delete`);
    const doc = $(confirm.text);
    expect(doc('.asset-list li').length).toBe(3);
    expect(doc('input[name=assets][value=transfer]').length).toBe(1);
    const noChoice = await admin.post(`/users/${id}/delete`).type('form').send({ _csrf: admin.csrf, assets: 'transfer', transferTo: '' });
    expect(noChoice.status).toBe(422);
    expect($(noChoice.text)('#e-transferTo').text()).toContain('Choose the user');
    const unknown = await admin.post(`/users/${id}/delete`).type('form').send({ _csrf: admin.csrf, assets: 'transfer', transferTo: 'ghost' });
    expect(unknown.status).toBe(422);
    expect(await t.db('users').where({ id }).first()).toBeTruthy();
    expect(Number((await t.db('assets').where({ owner_id: id }).count({ n: '*' }).first())?.n)).toBe(3);
    const res = await admin.post(`/users/${id}/delete`).type('form').send({ _csrf: admin.csrf, assets: 'transfer', transferTo: 'HEIR' });
    expect(res.status).toBe(303);
    expect(Number((await t.db('assets').where({ owner_id: heir }).count({ n: '*' }).first())?.n)).toBe(3);
    expect(await t.db('users').where({ id }).first()).toBeUndefined();
  });

  it('deletes the assets when asked', async () => {
    const id = await t.makeUser({ username: 'owner.purging' });
    await giveAssets(id, 2);
    const res = await admin.post(`/users/${id}/delete`).type('form').send({ _csrf: admin.csrf, assets: 'delete' });
    expect(res.status).toBe(303);
    expect(Number((await t.db('assets').where({ owner_id: id }).count({ n: '*' }).first())?.n)).toBe(0);
  });

  it('suggests new owners as you type, excluding the user being removed', async () => {
    await t.makeUser({ username: 'successor' });
    const id = await t.makeUser({ username: 'successorless' });
    const res = await admin.get('/users/suggest').query({ transferTo: 'success', field: 'transferTo', exclude: id });
    const values = $(`<datalist>${res.text}</datalist>`)('option').map((_, o) => $(res.text)(o).attr('value')).get();
    expect(values).toContain('successor');
    expect(values).not.toContain('successorless');
  });

  it('refuses to remove yourself', async () => {
    const me = await userId('admin');
    const confirm = await admin.get(`/users/${me}/delete`);
    expect($(confirm.text)('.confirm .flash-error').text()).toContain('your own account');
    const res = await admin.post(`/users/${me}/delete`).type('form').send({ _csrf: admin.csrf });
    expect(res.status).toBe(403);
    expect(await t.db('users').where({ id: me }).first()).toBeTruthy();
  });
});

describe('audit log', () => {
  it('lists events with filters and exports them as CSV with formulas neutralised', async () => {
    await admin.post('/users/new').type('form').send(newUserForm({ username: 'audit.subject', email: 'audit.subject@example.com', firstName: '=HYPERLINK("x")' }));
    const page = await admin.get('/audit').query({ action: 'user.create', actor: 'adm' });
    expect(page.status).toBe(200);
    expect($(page.text)('#audit-results').text()).toContain('audit.subject');
    const none = await admin.get('/audit').query({ actor: 'nobody' });
    expect($(none.text)('#audit-results').text()).toContain('No events match');
    const badDate = await admin.get('/audit').query({ from: 'yesterday' });
    expect(badDate.status).toBe(200);
    const csv = await admin.get('/audit/export').query({ format: 'csv', action: 'user.create' });
    expect(csv.headers['content-type']).toContain('text/csv');
    expect(csv.text.replace(/^\uFEFF/, '').split('\r\n')[0]).toBe('id,time,actor,action,object_type,object_id,object,before,after,ip');
    expect(csv.text).toContain('audit.subject');
    expect(csv.text).not.toMatch(/,=HYPERLINK/);
  });
});

describe('users API', () => {
  let token: string;
  beforeAll(async () => {
    token = await t.token('admin');
  });
  const api = () => ({
    get: (url: string) => import('supertest').then(({ default: r }) => r(t.server).get(url).set('Authorization', `Bearer ${token}`)),
    send: (method: 'post' | 'patch' | 'delete', url: string, body?: unknown) =>
      import('supertest').then(({ default: r }) => r(t.server)[method](url).set('Authorization', `Bearer ${token}`).send(body as object)),
  });

  it('creates, reads, updates and deletes a user', async () => {
    const created = await api().send('post', '/api/v1/users', { username: 'api.person', firstName: 'Api', lastName: 'Person', email: 'api.person@example.com', password: 'an-api-password-1', role: 'Viewer' });
    expect(created.status).toBe(201);
    expect(created.body.role.name).toBe('Viewer');
    expect(created.body.license.key).toBe('process_viewer');
    const got = await api().get('/api/v1/users/API.PERSON');
    expect(got.body.email).toBe('api.person@example.com');
    const patched = await api().send('patch', '/api/v1/users/api.person', { lastName: 'Changed' });
    expect(patched.status).toBe(200);
    expect(patched.body.lastName).toBe('Changed');
    const listed = await api().get('/api/v1/users?q=api.p');
    expect(listed.body.items.map((u: { username: string }) => u.username)).toEqual(['api.person']);
    const deleted = await api().send('delete', '/api/v1/users/api.person');
    expect(deleted.status).toBe(200);
    expect((await api().get('/api/v1/users/api.person')).status).toBe(404);
  });

  it('answers bad input with a 4xx JSON error naming the field', async () => {
    const unknownField = await api().send('post', '/api/v1/users', { username: 'x1', firstName: 'a', lastName: 'b', email: 'x1@example.com', password: 'a-long-password-1', isAdmin: true });
    expect(unknownField.status).toBe(400);
    expect(unknownField.body.error.details.fields.isAdmin).toBeDefined();
    const invalid = await api().send('post', '/api/v1/users', { username: '', firstName: 'a', lastName: 'b', email: 'nope', password: 'a-long-password-1' });
    expect(invalid.status).toBe(422);
    expect(Object.keys(invalid.body.error.details.fields)).toEqual(expect.arrayContaining(['username', 'email']));
    const unknownRole = await api().send('post', '/api/v1/users', { username: 'x2', firstName: 'a', lastName: 'b', email: 'x2@example.com', password: 'a-long-password-1', role: 'Wizard' });
    expect(unknownRole.status).toBe(422);
    const malformed = await import('supertest').then(({ default: r }) =>
      r(t.server).post('/api/v1/users').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/json').send('{"username": '),
    );
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('malformed_body');
  });

  it('refuses a revoked or unknown token', async () => {
    const res = await import('supertest').then(({ default: r }) => r(t.server).get('/api/v1/users').set('Authorization', 'Bearer gh_not-a-real-token'));
    expect(res.status).toBe(401);
  });
});

describe('users API cursor pagination', () => {
  it('walks the whole directory with nextCursor, in both directions, without repeats or gaps', async () => {
    for (const name of ['cur.anna', 'cur.bert', 'cur.cleo', 'cur.dina', 'cur.emil', 'cur.fynn', 'cur.gert']) await t.makeUser({ username: name });
    const token = await t.token('admin');
    const request = (await import('supertest')).default;
    const get = (q: string) => request(t.server).get(`/api/v1/users?${q}`).set('Authorization', `Bearer ${token}`);
    const all = (await get('limit=500')).body.items.map((u: { username: string }) => u.username);
    for (const dir of ['asc', 'desc']) {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const res = await get(`limit=3&dir=${dir}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status).toBe(200);
        seen.push(...res.body.items.map((u: { username: string }) => u.username));
        cursor = res.body.nextCursor;
        pages++;
      } while (cursor && pages < 200);
      expect(seen).toEqual(dir === 'asc' ? all : [...all].reverse());
    }
    const first = await get('limit=2&sort=email');
    const next = await get(`limit=2&sort=email&cursor=${first.body.nextCursor}`);
    expect(next.body.items[0].email > first.body.items[1].email).toBe(true);
    // A cursor that does not fit the sort is a value the list refuses: 422 on `cursor`.
    for (const q of [`limit=2&sort=username&cursor=${first.body.nextCursor}`, 'limit=2&sort=name&cursor=abc', `limit=2&offset=2&cursor=${first.body.nextCursor}`, 'cursor=not_base64_json']) {
      const res = await get(q);
      expect(res.status, q).toBe(422);
      expect(Object.keys(res.body.error.details.fields), q).toContain('cursor');
    }
  });
});
